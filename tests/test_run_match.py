"""The ``match`` command (tournament/run_match.py behind cli/main.py): its JSON equals the
engine, its table, one-line errors."""

import importlib
import json
from pathlib import Path

import pytest
import torch

from agents.spec import AgentSpec
from cli.main import main
from tournament.games import GAMES
from tournament.match import play_matches

IPD = GAMES["ipd"]


def test_match_command_prints_json_equal_to_the_engine(capsys):
    code = main(["match", "lola", "tft", "--seeds", "3", "--updates", "30", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    direct = play_matches(IPD, [AgentSpec("lola")] * 3, [AgentSpec("tft")] * 3, [0, 1, 2], 30)
    assert out["a"]["rewards"] == pytest.approx(direct.reward_a[:, -1].tolist(), abs=1e-12)
    assert out["a"]["reward"] == pytest.approx(direct.reward_a[:, -1].mean(), abs=1e-12)
    assert out["b"]["p_coop"] == [1.0, 1.0, 0.0, 1.0, 0.0]
    assert out["elapsed_s"] > 0 and out["a"]["agent"] == "lola(lr=1,lr_in=1,k=1)"


def test_match_command_human_output(capsys):
    assert main(["match", "nl", "alld", "--seeds", "2", "--updates", "5"]) == 0
    out = capsys.readouterr().out
    assert "nl(lr=1) vs alld on ipd" in out and "mean" in out


def run_cli(argv):
    try:
        return main(argv)
    except SystemExit as exit_info:  # argparse's own errors
        return exit_info.code


@pytest.mark.parametrize(
    "argv, message",
    [
        (["match", "lol", "tft"], "agent: unknown 'lol'; accepted: nl, la, lola"),
        (["match", "nl", "tft", "--lr", "-1"], "lr: must be finite and > 0"),
        (["match", "nl", "tft", "--gamma", "1.5"], "gamma: must be a number in (0, 1), got 1.5"),
        (["match", "nl", "tft", "--game", "go"], "game: unknown 'go'; accepted: ipd, imp"),
        (["match", "nl", "tft", "--payoffs", "1,2,3"], "payoffs: needs 4 values"),
        (["match", "nl", "tft", "--payoffs", "a,b,c,d"], "payoffs: need comma-separated numbers"),
        (["match", "nl", "tft", "--seeds", "0"], "--seeds: must be an integer >= 1, got 0"),
        (["match", "nl", "tft", "--device", "tpu"], "device: unknown 'tpu'; accepted: cpu, cuda"),
        (["match", "nl", "tft", "--dtype", "float16"], "dtype: unknown 'float16'; accepted"),
        (["match", "nl", "tft", "--lookahead", "x"], "invalid int value: 'x'"),
    ],
)
def test_match_command_rejects_bad_input_in_one_line(argv, message, capsys):
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
@pytest.mark.parametrize("command", [["match", "lola", "tft"], ["sweep", "QUICK"]])
def test_cuda_without_a_cuda_device_is_a_one_line_error(command, capsys, tmp_path):
    quick = str(Path(__file__).resolve().parents[1] / "sweeps/configs/quick.yaml")
    argv = [quick if a == "QUICK" else a for a in command]
    out = tmp_path / "out"
    extra = ["--out", str(out)] if command[0] == "sweep" else []
    assert run_cli([*argv, "--device", "cuda", *extra]) == 2
    err = capsys.readouterr().err
    assert "device: cuda requested but this machine has no CUDA device" in err
    assert err.count("\n") == 1 and not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
@pytest.mark.parametrize("module", ["bench", "bench.coin"])
def test_bench_on_cuda_without_a_cuda_device_is_a_one_line_error(module, capsys, tmp_path):
    """Before any row is timed: one line, exit code 2, nothing written."""
    bench_main = importlib.import_module("bench.__main__" if module == "bench" else module).main
    out = tmp_path / "bench"
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["--device", "cuda", *(["--out", str(out)] if module == "bench" else [])])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"python -m {module}: error: --device: cuda requested but this machine has no CUDA "
        "device; accepted: cpu\n"
    )
    assert not out.exists()
