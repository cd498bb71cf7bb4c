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
