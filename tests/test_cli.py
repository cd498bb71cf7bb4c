"""The ``lola-arena`` command line as a user meets it: help, version, one-line errors."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main

ROOT = Path(__file__).resolve().parent.parent


def run(argv, capsys):
    """Exit code, stdout and stderr of ``lola-arena argv`` (argparse exits are caught)."""
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


def test_no_arguments_prints_the_usage_and_every_command(capsys):
    code, out, _ = run([], capsys)
    assert code == 2 and out.startswith("usage: lola-arena")
    for command in ("match", "sweep", "summary", "report"):
        assert f"    {command} " in out
    assert "Iterated matrix games" in out and "examples:" in out


def test_version_prints_the_installed_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"lola-arena {importlib.metadata.version('lola-arena')}"


@pytest.mark.parametrize(
    "command, shown",
    [
        ("match", ["--gamma GAMMA", "(default: 0.96)", "(default: 200)", "(default: tabular)"]),
        ("sweep", ["(default: results/NAME)", "(default: True)"]),
        ("report", ["(default: SWEEP_DIR/report"]),
    ],
)
def test_help_shows_the_defaults(command, shown, capsys):
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0
    for text in shown:
        assert text in " ".join(out.split()), text
    assert "default: None" not in out and "default: False" not in out


def test_unknown_command_is_a_one_line_error(capsys):
    code, _, err = run(["play"], capsys)
    assert code == 2 and "invalid choice: 'play'" in err and err.count("\n") == 1


def test_a_report_of_several_sweeps_needs_an_output_directory(tmp_path, capsys):
    code, _, err = run(["report", str(tmp_path / "a"), str(tmp_path / "b")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "out: a report of 2 sweeps needs an output directory" in err


def test_python_m_cli_runs_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--version"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("lola-arena ")


def test_match_into_a_closed_pipe_ends_quietly_like_a_unix_tool():
    """``lola-arena match ... | head -1``: the reader goes away after one line; the rest of
    the output (well over a pipe's buffer) meets a closed pipe. Nothing on stderr."""
    command = [sys.executable, "-m", "cli", "match", "nl", "tft", "--seeds", "4000"]
    command += ["--updates", "2"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().startswith(b"nl(lr=1) vs tft")
    process.stdout.close()
    code = process.wait(timeout=120)
    err = process.stderr.read().decode()
    assert code == 141 and err == "", err


def _expected_names() -> tuple[list[str], list[str]]:
    """Every agent kind and every game, from their registries."""
    from agents.kinds import KINDS
    from tournament.differentiable import DIFFERENTIABLE_GAMES
    from tournament.games import GAMES

    return list(KINDS), [*GAMES, *DIFFERENTIABLE_GAMES]


def _listed(text: str) -> set[str]:
    """The names a help text or an error lists (words, without the ``:P`` of a form)."""
    words = text.replace(",", " ").replace("(", " ").replace(")", " ").split()
    return {word.split(":")[0].split("[")[0] for word in words}


def test_match_help_lists_every_kind_and_game(capsys):
    code, out, _ = run(["match", "--help"], capsys)
    kinds, games = _expected_names()
    assert code == 0
    help_text = " ".join(out.split())
    missing = [name for name in (*kinds, *games) if name not in _listed(help_text)]
    assert not missing, missing


def _error_of(call) -> str:
    """The message of the ValueError that ``call`` raises (a command line: its stderr)."""
    try:
        call()
    except ValueError as error:
        return str(error)
    raise AssertionError("no error")


def _cli_error(argv):
    def call():
        done = subprocess.run(
            [sys.executable, "-m", "cli", *argv], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 2, done.stderr
        raise ValueError(done.stderr)

    return call


def _sweep(**entry):
    from sweeps.config import parse_sweep

    raw = {"name": "t", "agents": [{"kind": "nl"}, {"kind": "tft"}], **entry}
    return lambda: parse_sweep(raw)


def _accepted_value_errors():
    from agents.spec import AgentSpec
    from tournament.games import get_game

    kinds, games = _expected_names()
    return [
        ("match agent", _cli_error(["match", "lolaa", "tft"]), kinds),
        ("match game", _cli_error(["match", "nl", "tft", "--game", "ipdd"]), games),
        ("spec kind", lambda: AgentSpec("lolaa"), kinds),
        ("game name", lambda: get_game("ipdd"), games),
        ("sweep kind", _sweep(agents=[{"kind": "lolaa"}]), kinds),
        ("sweep game", _sweep(game="ipdd"), games),
    ]


@pytest.mark.parametrize("case", range(len(_accepted_value_errors())))
def test_every_accepted_values_error_lists_every_kind_or_game(case):
    where, call, expected = _accepted_value_errors()[case]
    message = _error_of(call)
    accepted = message.partition("accepted: ")[2] or message.partition("one of ")[2]
    assert accepted, (where, message)
    missing = [name for name in expected if name not in _listed(accepted)]
    assert not missing, (where, message, missing)
