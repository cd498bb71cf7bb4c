"""The match loop: fixed strategies, divergence, options and its command line."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.spec import AgentSpec
from cli.main import main
from tournament.games import GAMES
from tournament.match import play_matches
from tournament.values import reward_per_step

IPD = GAMES["ipd"]


def test_fixed_strategies_keep_their_exact_values():
    results = play_matches(IPD, [AgentSpec("tft")], [AgentSpec("alld")], [0], updates=5)
    assert np.allclose(results.reward_a, -(3 * 0.04 + 2 * 0.96), atol=1e-12)
    assert np.allclose(results.p_coop_b, 0.0, atol=0)


def test_learner_recorded_rewards_equal_exact_values_of_recorded_policies():
    results = play_matches(IPD, [AgentSpec("lola")], [AgentSpec("nl")], [3], 10, record_every=5)
    assert results.updates.tolist() == [0, 5, 10]
    p_a = torch.from_numpy(results.p_coop_a[0])
    p_b = torch.from_numpy(results.p_coop_b[0])
    r_a, r_b = reward_per_step(IPD, p_a, p_b, 0.96)
    assert np.allclose(r_a.numpy(), results.reward_a[0], atol=1e-12)
    assert np.allclose(r_b.numpy(), results.reward_b[0], atol=1e-12)


def test_naive_learner_against_allc_learns_to_defect():
    results = play_matches(IPD, [AgentSpec("nl")], [AgentSpec("allc")], [0], updates=100)
    assert results.reward_a[0, -1] > -0.05  # exploits AllC: close to the temptation payoff 0


def test_non_finite_updates_are_marked_diverged_and_others_continue():
    specs = [AgentSpec("sos", lr=1e300), AgentSpec("sos", lr=1.0)]
    results = play_matches(IPD, specs, specs, [0, 1], updates=10)
    assert results.status == ["diverged", "ok"] and results.diverged_at.tolist() == [1, -1]
    assert np.isnan(results.reward_a[0, -1]) and np.isfinite(results.reward_a[1, -1])
    alone = play_matches(IPD, specs[1:], specs[1:], [1], updates=10)
    assert np.allclose(alone.reward_a[0], results.reward_a[1], atol=1e-12)


def test_float32_is_close_to_float64():
    spec = AgentSpec("lola-taylor")
    r32 = play_matches(IPD, [spec], [spec], [0], 10, dtype="float32")
    r64 = play_matches(IPD, [spec], [spec], [0], 10, dtype="float64")
    assert r32.reward_a.dtype == np.float32
    assert np.allclose(r32.reward_a, r64.reward_a, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu():
    spec = AgentSpec("lola", lookahead=2)
    cpu = play_matches(IPD, [spec] * 4, [spec] * 4, range(4), 20)
    gpu = play_matches(IPD, [spec] * 4, [spec] * 4, range(4), 20, device="cuda")
    assert np.allclose(cpu.reward_a, gpu.reward_a, atol=1e-10)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: AgentSpec("lola", lr=-0.1), "lr: must be finite and > 0, got -0.1"),
        (lambda: AgentSpec("lola", lr_in=0.0), "lr_in: must be finite and > 0, got 0.0"),
        (
            lambda: AgentSpec("lola", lookahead=0),
            r"lookahead: must be an integer in \[1, 20\], got 0",
        ),
        (lambda: AgentSpec("lola", eta=-1.0), "eta: must be finite and >= 0"),
        (lambda: AgentSpec("lola", policy="cnn"), "policy: unknown 'cnn'; accepted: tabular"),
        (lambda: AgentSpec("nl", optimizer="rmsprop"), "optimizer: unknown 'rmsprop'; accepted"),
        (lambda: AgentSpec("lolaa"), "agent: unknown 'lolaa'; accepted: nl, la, lola"),
        (lambda: AgentSpec("memory1", p=(1, 1)), r"p: memory1 needs 5 probabilities in \[0, 1\]"),
        (lambda: AgentSpec("random", p=(1.5,)), r"p: random needs 1 probability in \[0, 1\]"),
        (
            lambda: play_matches(IPD, [AgentSpec("nl")], [AgentSpec("nl")], [0], 1, gamma=1.0),
            "gamma: must be in",
        ),
        (lambda: play_matches(IPD, [AgentSpec("nl")], [AgentSpec("nl")], [0], -1), "updates"),
    ],
)
def test_bad_agent_input_is_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


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
