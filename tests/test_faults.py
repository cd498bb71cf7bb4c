"""The fault-injection suite (``pytest -m faults``): every fault ends in one clear line, leaves
the stored part readable and resumable, and a resume gives bit for bit what an uninterrupted
run gives.

Most sweeps here run with :class:`fault_tools.InlineRay` (the engine in this process, no Ray),
so that a fault costs milliseconds; the signal tests run the real command line on the session's
Ray or an embedded one.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from fault_tools import KILLED, InlineRay, cli_with_faults, run_killed
from hypothesis import given, settings
from hypothesis import strategies as st
from sweep_data import ROUND_ROBIN, ROUND_ROBIN_MATCHES

import cli.main as cli
from analysis.load import load_matches
from sweeps import checkpoint, reaper, runner, schema, store
from sweeps.config import load_sweep, parse_sweep
from sweeps.plan import plan_matches
from sweeps.runner import run_sweep
from sweeps.verify import verify

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parent.parent
# 42 matches, in 11 tasks of at most 4.
SWEEP = {**ROUND_ROBIN, "name": "faults", "task_size": 4}
N = ROUND_ROBIN_MATCHES
RESULTS = schema.RESULT_COLUMNS


@pytest.fixture
def inline_ray(monkeypatch):
    """Sweeps in this test play their tasks in this process."""
    fake = InlineRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    return fake


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "ray", InlineRay())
        run_sweep(parse_sweep(SWEEP), out)
    return tables(out)


def tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    matches = pd.read_parquet(out / "matches").sort_values("match_id", ignore_index=True)
    curves = pd.read_parquet(out / "curves").sort_values(["match_id", "update"], ignore_index=True)
    return matches, curves


def assert_same_results(reference, out: Path) -> None:
    """Same matches, each once, with bit-for-bit the same values; every file whole."""
    (m1, c1), (m2, c2) = reference, tables(out)
    assert list(m2["match_id"]) == list(m1["match_id"]) and m2["match_id"].is_unique
    assert not c2.duplicated(["match_id", "update"]).any() and len(c2) == len(c1)
    for column in ("agent_a", "agent_b", "seed", "status"):
        assert list(m2[column]) == list(m1[column])
    np.testing.assert_array_equal(m1[RESULTS].to_numpy(), m2[RESULTS].to_numpy())
    np.testing.assert_array_equal(c1[RESULTS].to_numpy(), c2[RESULTS].to_numpy())
    assert verify(out).ok


def one_line(err: str) -> str:
    """The last line of stderr (a progress bar may come before it), checked to be the only
    line of the error and not a traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert lines, err
    return lines[-1]


def write_sweep_file(tmp_path: Path, sweep: dict = SWEEP) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return path


# Where a SIGKILL can find the driver: before or after each kind of write.
KILL_POINTS = [
    ("call", "prepare_resume", 1),  # lock taken, nothing written yet
    ("replace", "sweep.yaml", 1, "before"),
    ("replace", "provenance.yaml", 1, "after"),
    ("write", "curves", 1),  # the first curves file half written
    ("replace", "curves", 1, "before"),  # written and flushed, not renamed
    ("replace", "curves", 1, "after"),  # curves renamed, matches not yet written
    ("write", "matches", 2),
    ("replace", "matches", 2, "before"),
    ("replace", "matches", 5, "after"),  # five tasks stored
    ("replace", "provenance.yaml", 2, "before"),  # every task stored, the run's end not recorded
]


@pytest.mark.parametrize("point", KILL_POINTS, ids=["-".join(map(str, p)) for p in KILL_POINTS])
def test_sigkill_at_any_point_then_resume_equals_the_uninterrupted_run(
    point, reference, inline_ray, tmp_path
):
    out = tmp_path / "out"
    assert run_killed(out, SWEEP, point) == KILLED
    if (out / "sweep.yaml").exists():
        assert verify(out).ok  # a kill leaves only what a resume cleans
    stored = len(store.stored_match_ids(out))
    summary = run_sweep(parse_sweep(SWEEP), out)
    assert (summary.skipped, summary.ok) == (stored, N - stored)
    assert_same_results(reference, out)


def test_sigkill_twice_and_other_task_sizes_then_resume_equals_the_uninterrupted_run(
    reference, inline_ray, tmp_path
):
    out = tmp_path / "out"
    assert run_killed(out, SWEEP, ("replace", "matches", 2, "after")) == KILLED
    assert run_killed(out, {**SWEEP, "task_size": 3}, ("write", "curves", 3)) == KILLED
    run_sweep(parse_sweep({**SWEEP, "task_size": 7}), out)
    assert_same_results(reference, out)


# Pieces of one update each, each saved: a checkpoint after every update of every task.
EVERY_UPDATE = runner.TaskFaults(piece_s=0, checkpoint_s=0)


def started_at(monkeypatch) -> dict[str, list[int]]:
    """Task id -> the update each of its pieces started from, as the runner asks for them."""
    starts: dict[str, list[int]] = {}
    play_task = runner.play_task

    def recording(task, settings, faults, state=None):
        starts.setdefault(task.task_id, []).append(0 if state is None else state.update)
        return play_task(task, settings, faults, state)

    monkeypatch.setattr(runner, "play_task", recording)
    return starts


def test_sigkill_mid_task_then_resume_continues_from_its_checkpoint_bit_for_bit(
    reference, inline_ray, tmp_path, monkeypatch
):
    """A driver killed after the 9th checkpoint file, before any task finished: the resumed
    run plays each checkpointed task on from its saved update (not from 0), and stores bit
    for bit what the uninterrupted run stores."""
    out = tmp_path / "out"
    point = ("replace", "checkpoints", 9, "after")
    assert run_killed(out, SWEEP, point, faults=EVERY_UPDATE) == KILLED
    assert not store.stored_match_ids(out)  # no task had finished
    saved = {
        folder.name: int(max(folder.glob("update-*.pt")).stem.split("-")[1])
        for folder in (out / checkpoint.FOLDER).iterdir()
    }
    assert saved and all(update > 0 for update in saved.values())
    starts = started_at(monkeypatch)
    summary = run_sweep(parse_sweep(SWEEP), out, faults=EVERY_UPDATE)
    assert summary.resumed == 4 * len(saved) and summary.ok == N
    for task_id, update in saved.items():
        assert starts[task_id] == list(range(update, SWEEP["updates"]))
    assert not (out / checkpoint.FOLDER).exists() or not any((out / checkpoint.FOLDER).iterdir())
    assert_same_results(reference, out)


def test_an_interrupt_keeps_the_pieces_played_and_the_resume_continues_them(
    reference, inline_ray, tmp_path, monkeypatch
):
    """SIGINT (here: the interrupt it raises) while four tasks are in flight, long before
    their first periodic checkpoint: each keeps the updates it played."""
    play_task, calls = runner.play_task, []

    def interrupted(task, settings, faults, state=None):
        calls.append(task.task_id)
        if len(calls) == 10:
            raise KeyboardInterrupt
        return play_task(task, settings, faults, state)

    monkeypatch.setattr(runner, "play_task", interrupted)
    out = tmp_path / "out"
    with pytest.raises(runner.SweepInterrupted, match="interrupted: 0 of 42 matches stored"):
        run_sweep(parse_sweep(SWEEP), out, faults=runner.TaskFaults(piece_s=0))
    monkeypatch.setattr(runner, "play_task", play_task)
    starts = started_at(monkeypatch)
    summary = run_sweep(parse_sweep(SWEEP), out)
    assert summary.resumed == 16  # four tasks of four matches
    assert sorted(s[0] for s in starts.values() if s[0]) == [2, 2, 2, 3]
    assert_same_results(reference, out)


def test_a_damaged_checkpoint_reruns_its_task_from_the_start(
    reference, inline_ray, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    point = ("replace", "checkpoints", 6, "after")
    assert run_killed(out, SWEEP, point, faults=EVERY_UPDATE) == KILLED
    damaged = sorted((out / checkpoint.FOLDER).glob("*/update-*.pt"))[0]
    os.truncate(damaged, damaged.stat().st_size // 2)
    starts = started_at(monkeypatch)
    run_sweep(parse_sweep(SWEEP), out)
    assert starts[damaged.parent.name] == [0]
    assert_same_results(reference, out)


def test_the_progress_bar_moves_with_every_piece_of_a_task(inline_ray, tmp_path, monkeypatch):
    """One task of all 42 matches, in pieces of one update: the bar counts match-updates
    and moves 20 times before the task is stored, not once when it is."""
    moves = []
    tqdm = pytest.importorskip("tqdm")
    update = tqdm.tqdm.update
    monkeypatch.setattr(tqdm.tqdm, "update", lambda bar, n=1: moves.append(n) or update(bar, n))
    faults = runner.TaskFaults(piece_s=0)
    run_sweep(parse_sweep({**SWEEP, "task_size": N}), tmp_path / "out", faults=faults)
    assert moves == [N] * SWEEP["updates"]


@pytest.mark.slow
def test_an_online_round_robin_stores_the_same_rows_in_one_task_as_in_tasks_of_seven(
    inline_ray, tmp_path
):
    """The online engine batches every online kind and opponent in one task (sweeps/plan.py);
    a match's stored rows do not depend on which others share its task."""
    online = [{"kind": k, "steps": 5} for k in ("q", "jal-q", "phc", "wolf-phc")]
    tournament = {
        "name": "online",
        "game": "imp",
        "updates": 3,
        "seeds": 2,
        "agents": [*online, {"kind": "nl"}, {"kind": "lola-taylor"}, {"kind": "tft"}],
    }
    one_task = tmp_path / "one"
    run_sweep(parse_sweep({**tournament, "task_size": 10_000}), one_task)
    summary = run_sweep(parse_sweep({**tournament, "task_size": 7}), tmp_path / "pieces")
    assert summary.ok == 2 * 7 * 7  # both orders and self-play in IMP, 2 seeds
    assert_same_results(tables(one_task), tmp_path / "pieces")


@pytest.mark.slow
def test_long_runs_are_bitwise_equal_over_task_sizes_and_resume_points(inline_ray, tmp_path):
    """200 updates, where batched rounding once grew into differences of up to 1: one run with
    the default task size against one resumed twice with tasks of 3 and 5."""
    long = {**SWEEP, "updates": 200, "record_every": 50, "task_size": "auto"}
    whole = tmp_path / "whole"
    run_sweep(parse_sweep(long), whole)
    pieces = tmp_path / "pieces"
    assert run_killed(pieces, {**long, "task_size": 3}, ("replace", "matches", 3, "after")) == 137
    assert run_killed(pieces, {**long, "task_size": 5}, ("replace", "matches", 2, "after")) == 137
    summary = run_sweep(parse_sweep({**long, "task_size": 2}), pieces)
    assert summary.skipped == 3 * 3 + 2 * 5
    assert_same_results(tables(whole), pieces)


@pytest.mark.slow
def test_a_killed_ray_worker_is_retried_and_the_results_are_unchanged(
    ray_session, reference, tmp_path, monkeypatch
):
    """A worker SIGKILLed while it plays a task: Ray retries the task; nothing is lost."""
    killed = []

    def kill_a_worker():
        deadline = time.monotonic() + 30
        while not killed and time.monotonic() < deadline:
            for pid in reaper.descendants(os.getpid()):
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if title.startswith(b"ray::play_task"):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=kill_a_worker)
    thread.start()
    faults = runner.TaskFaults(delay_s=1.0)
    summary = run_sweep(parse_sweep(SWEEP), tmp_path / "out", faults=faults)
    thread.join()
    assert killed and summary.failed == 0 and summary.ok == N
    assert_same_results(reference, tmp_path / "out")


# --- signals: the real command line ---------------------------------------------------------


def start_driver(sweep_file: Path, out: Path, env: dict, delay_s: float) -> subprocess.Popen:
    """``lola-arena sweep`` in a new process, each task sleeping ``delay_s`` seconds first."""
    cli = cli_with_faults(delay_s) if delay_s else [sys.executable, "-m", "cli"]
    command = [*cli, "sweep", str(sweep_file), "--out", str(out)]
    return subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)


def wait_for_a_part(driver: subprocess.Popen, out: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not list(out.glob("matches/game=ipd/part-*.parquet")):
        assert driver.poll() is None, driver.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def session_env(ray_session) -> dict:
    return {
        **os.environ,
        "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address,
        "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token"),
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)
def test_a_signal_stops_the_sweep_in_one_line_and_it_resumes(
    signum, ray_session, reference, inline_ray, tmp_path
):
    out = tmp_path / "out"
    driver = start_driver(write_sweep_file(tmp_path), out, session_env(ray_session), 0.5)
    wait_for_a_part(driver, out)
    driver.send_signal(signum)
    _, err = driver.communicate(timeout=60)
    assert driver.returncode == 128 + signum, err[-3000:]
    stored = len(store.stored_match_ids(out))
    assert one_line(err) == (
        f"lola-arena: interrupted: {stored} of {N} matches stored; rerun the same command to resume"
    )
    assert 0 < stored < N and verify(out).ok
    with store.DirLock(out):  # released
        pass
    summary = run_sweep(parse_sweep(SWEEP), out)
    assert summary.skipped == stored
    assert_same_results(reference, out)


# Seconds after the start at which a signal comes: importing the packages (torch, numpy, Ray),
# reading the sweep file, starting Ray, the first tasks (an unloaded 2-core machine starts in
# about 3 s; a loaded one later, where the same delays fall earlier in start-up).
START_UP_POINTS_S = (0.3, 0.7, 1.2, 2.0, 3.0, 4.5)


@pytest.mark.slow
def test_a_signal_at_any_point_of_start_up_is_one_line_and_its_exit_code(tmp_path):
    """SIGINT, SIGTERM and SIGHUP in turn at points of start-up of an embedded Ray's sweep:
    each ends in one line and 128 + its number; none is lost (the run went on), crashes (139)
    or hangs, and what is stored verifies."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    sweep_file = write_sweep_file(tmp_path)
    signums = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for i, delay in enumerate(START_UP_POINTS_S):
        signum, out = signums[i % len(signums)], tmp_path / f"out{i}"
        driver = start_driver(sweep_file, out, env, 0.0)
        time.sleep(delay)
        driver.send_signal(signum)
        _, err = driver.communicate(timeout=120)
        where = f"{signal.Signals(signum).name} at {delay} s: {err[-2000:]}"
        assert driver.returncode == 128 + signum, where
        assert one_line(err).startswith("lola-arena: interrupted"), where
        assert "Fatal Python error" not in err, where
        if (out / "sweep.yaml").exists():
            assert verify(out).ok, where


def gone(processes: dict[int, str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(reaper.start_time(pid) != started for pid, started in processes.items()):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_no_ray_process_outlives_a_driver_stopped_by_a_signal(signum, tmp_path):
    """An embedded Ray: shut down on SIGINT; its processes reaped by the watchdog after
    SIGKILL (Ray's agents otherwise live on for a minute or more)."""
    out = tmp_path / "out"
    env = {**os.environ}
    env.pop("RAY_ADDRESS", None)
    driver = start_driver(write_sweep_file(tmp_path), out, env, 0.5)
    wait_for_a_part(driver, out)
    started_ray = reaper.descendants(driver.pid)
    assert len(started_ray) >= 4  # GCS, raylet, agents, workers, the watchdog
    driver.send_signal(signum)
    driver.communicate(timeout=60)
    assert gone(started_ray, timeout=10), {
        pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:60]
        for pid, started in started_ray.items()
        if reaper.start_time(pid) == started
    }


@pytest.mark.slow
def test_no_ray_process_outlives_a_finished_sweep_by_more_than_seconds(tmp_path):
    """The command returns without waiting for its Ray's processes to exit: the watchdog ends
    them (every process seen while the sweep ran)."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    driver = start_driver(write_sweep_file(tmp_path), out, env, 0.0)
    seen: dict[int, str] = {}
    while driver.poll() is None:
        seen.update(reaper.descendants(driver.pid))
        time.sleep(0.05)
    assert driver.returncode == 0, driver.stderr.read()[-3000:]
    assert len(seen) >= 4  # GCS, raylet, agents, workers, the watchdog
    assert gone(seen, timeout=10)


@pytest.mark.slow
def test_a_bad_sweep_file_stops_the_ray_started_early_after_its_one_line(tmp_path):
    """``lola-arena`` starts Ray while it reads the sweep file: a bad file is still one line,
    exit 2, nothing written, and no Ray process is left."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    bad = write_sweep_file(tmp_path, {**SWEEP, "gamma": 1.5})
    driver = start_driver(bad, out, env, 0.0)
    seen: dict[int, str] = {}
    commands: set[bytes] = set()
    while driver.poll() is None:
        for pid, started in reaper.descendants(driver.pid).items():
            seen[pid] = started
            with contextlib.suppress(OSError):
                commands.add(Path(f"/proc/{pid}/cmdline").read_bytes())
        time.sleep(0.05)
    err = driver.stderr.read()
    assert driver.returncode == 2, err[-3000:]
    assert err.startswith("lola-arena: error: gamma:") and err.count("\n") == 1, err[-3000:]
    assert not out.exists()
    assert any(b"raylet" in command for command in commands)  # Ray was started early
    assert gone(seen, timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_ray_starts_is_one_line_and_leaves_no_ray_process(signum, tmp_path):
    """The watchdog starts just before ``ray.init`` (the command line's, on a thread, while
    the engine is imported): a signal then falls into Ray's start."""
    out = tmp_path / "out"
    env = {**os.environ}
    env.pop("RAY_ADDRESS", None)
    driver = start_driver(write_sweep_file(tmp_path), out, env, 0.0)
    deadline = time.monotonic() + 60
    while not any(
        b"sweeps.reaper" in Path(f"/proc/{pid}/cmdline").read_bytes()
        for pid in reaper.descendants(driver.pid)
    ):
        assert driver.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.5)  # inside ray.init
    started_ray = reaper.descendants(driver.pid)
    driver.send_signal(signum)
    _, err = driver.communicate(timeout=60)
    assert driver.returncode == 128 + signum, err[-3000:]
    assert one_line(err).startswith("lola-arena: interrupted"), err[-3000:]
    assert not list(out.glob("matches/*/*.parquet"))
    assert gone({**started_ray, **reaper.descendants(driver.pid)}, timeout=10)


def test_the_watchdog_ends_the_descendants_of_a_killed_driver(tmp_path):
    """In seconds, without Ray: a driver with a long-lived child is SIGKILLed."""
    code = (
        "import subprocess, sys, time\n"
        "from sweeps import reaper\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "watchdog = reaper.start()\n"
        "watchdog.update()\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    driver = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE)
    child = int(driver.stdout.readline())
    started = reaper.start_time(child)
    assert started is not None
    driver.kill()
    driver.wait()
    assert gone({child: started}, timeout=5)


# --- a cluster address where no Ray head answers -------------------------------------------


@contextlib.contextmanager
def listener(answer: bytes | None):
    """A local TCP server that accepts connections and sends ``answer`` (None: stays silent);
    yields its address and a list of the connections it accepted."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve():
        with contextlib.suppress(OSError):
            while True:
                connection, _ = server.accept()
                accepted.append(connection)
                if answer is not None:
                    connection.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}", accepted
    finally:
        server.close()
        for connection in accepted:
            connection.close()


@pytest.mark.parametrize(
    "address, expected",
    [
        ("127.0.0.1:1", "cannot reach '127.0.0.1:1' (Connection refused); check that `ray start"),
        ("not-a-host:99999", "'not-a-host:99999' is not HOST:PORT with a port in 1..65535"),
        ("not-a-host.invalid:6379", "cannot resolve the host of 'not-a-host.invalid:6379'"),
        ("6379", "'6379' is not HOST:PORT"),
        ("http", "something other than a Ray head answers at '127.0.0.1:"),
        ("silent", "no Ray head answered at '127.0.0.1:"),
    ],
)
def test_an_address_where_no_ray_head_answers_is_one_line_in_bounded_time(
    address, expected, tmp_path, capsys, monkeypatch
):
    """ray.init waited over 400 s on each of these; the check answers within TIMEOUT_S (1 s
    here), names the address and what to check, and writes nothing."""
    from sweeps import address as address_module

    monkeypatch.setattr(address_module, "TIMEOUT_S", 1.0)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    answers = {"http": b"HTTP/1.0 400 Bad Request\r\n\r\n", "silent": None}
    with contextlib.ExitStack() as stack:
        if address in answers:
            address, _ = stack.enter_context(listener(answers[address]))
        argv = ["sweep", str(write_sweep_file(tmp_path)), "--out", str(tmp_path / "out")]
        code, err = sweep_cli([*argv, "--address", address], capsys)
    assert code == cli.EXIT_BAD_INPUT, err
    assert err.count("\n") == 1 and err.startswith("lola-arena: error: address: "), err
    assert expected in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_sigterm_while_waiting_for_a_silent_address_is_one_line_exit_143(tmp_path):
    with listener(None) as (address, accepted):
        command = [sys.executable, "-m", "cli", "sweep", str(write_sweep_file(tmp_path)),
                   "--out", str(tmp_path / "out"), "--address", address]  # fmt: skip
        driver = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not accepted:  # the driver is inside the check, waiting for an answer
            assert driver.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        driver.send_signal(signal.SIGTERM)
        _, err = driver.communicate(timeout=60)
    assert driver.returncode == 128 + signal.SIGTERM, err
    assert one_line(err) == "lola-arena: interrupted", err
    assert not (tmp_path / "out").exists()


# --- the output directory -------------------------------------------------------------------


def sweep_cli(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()  # what came before
    try:
        code = cli.main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "make_out, expected",
    [
        (lambda d: (d / "f").write_text("x") and d / "f", "is a file, not a directory"),
        (
            lambda d: (d / "f").write_text("x") and d / "f" / "below",
            "which is a file; choose another --out",
        ),
        (lambda d: d / ("n" * 250), "too long for the file system; choose a shorter --out"),
    ],
    ids=["a file", "below a file", "a long name"],
)
def test_an_out_that_cannot_be_a_directory_is_one_line_and_nothing_is_written(
    make_out, expected, tmp_path, capsys
):
    sweep_file = write_sweep_file(tmp_path)
    out = make_out(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    code, err = sweep_cli(["sweep", str(sweep_file), "--out", str(out)], capsys)
    assert code == 2 and expected in one_line(err) and err.count("\n") == 1
    assert sorted(tmp_path.rglob("*")) == before


def can_mount() -> bool:
    probe = Path(f"/tmp/lola-arena-mount-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True
        )
        if done.returncode != 0:
            return False
        subprocess.run(["umount", str(probe)], check=True)
        return True
    except OSError:
        return False
    finally:
        probe.rmdir()


MOUNT = can_mount()


@pytest.fixture
def small_disk(tmp_path):
    """A 160 kB tmpfs where mounting is allowed (else None): room for a few parts only."""
    if not MOUNT:
        yield None
        return
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_full_disk_is_one_line_leaves_whole_files_and_resumes(
    small_disk, reference, inline_ray, tmp_path, monkeypatch, capsys
):
    sweep_file = write_sweep_file(tmp_path)
    out = (small_disk or tmp_path) / "out"
    if small_disk is None:  # no mount here: the fifth part's write meets ENOSPC
        writes = []
        write_table = pq.write_table

        def full(table, where, *args, **kwargs):
            writes.append(where)
            if len(writes) >= 5:
                Path(where).write_bytes(b"PAR1 partial")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))
            write_table(table, where, *args, **kwargs)

        monkeypatch.setattr(pq, "write_table", full)
    code, err = sweep_cli(["sweep", str(sweep_file), "--out", str(out)], capsys)
    line = one_line(err)
    assert code == 1 and "no space left writing" in line, err
    assert line.endswith("free space, then rerun the same command to resume")
    assert not list(out.glob("*/game=*/.*.tmp")) and verify(out).ok
    stored = len(store.stored_match_ids(out))
    assert stored < N
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "ray", InlineRay())
    resumed = shutil.copytree(out, tmp_path / "resumed")
    assert run_sweep(parse_sweep(SWEEP), resumed).skipped == stored
    assert_same_results(reference, resumed)


@pytest.mark.parametrize("when", ["new", "resume"])
def test_a_read_only_directory_is_one_line_exit_2(when, inline_ray, tmp_path, capsys, monkeypatch):
    sweep_file = write_sweep_file(tmp_path)
    disk = tmp_path / "ro"
    disk.mkdir()
    out = disk / "out"
    if when == "resume":
        run_sweep(parse_sweep({**SWEEP, "seeds": 1}), out)
    if MOUNT:
        source = tmp_path / "source"
        shutil.move(disk, source)
        disk.mkdir()
        subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(disk)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(disk)], check=True)
    else:  # no mount here: the file system refuses as a read-only one would
        import filelock

        def read_only(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(out))

        monkeypatch.setattr(Path, "mkdir", read_only)
        monkeypatch.setattr(filelock.FileLock, "acquire", read_only)
    try:
        before = {p: p.stat().st_mtime_ns for p in disk.rglob("*")}
        code, err = sweep_cli(["sweep", str(sweep_file), "--out", str(out)], capsys)
        line = one_line(err)
        assert code == 2 and "Read-only file system" in line, err
        assert line.endswith("choose another --out") and err.count("\n") == 1
        assert {p: p.stat().st_mtime_ns for p in disk.rglob("*")} == before
    finally:
        if MOUNT:
            subprocess.run(["umount", str(disk)], check=True)


@pytest.fixture
def stored(inline_ray, tmp_path) -> Path:
    out = tmp_path / "stored"
    run_sweep(parse_sweep(SWEEP), out)
    return out


@pytest.mark.parametrize("command", ["summary", "report", "sweep", "verify"])
def test_a_damaged_sweep_yaml_is_one_line(command, stored, tmp_path, capsys):
    (stored / "sweep.yaml").write_text("name: faults\nagents: [unclosed\n")
    argv = [command, str(stored)]
    if command == "report":
        argv.append("--no-progress")
    if command == "sweep":
        argv = ["sweep", str(write_sweep_file(tmp_path)), "--out", str(stored)]
    code, err = sweep_cli(argv, capsys) if command != "verify" else (None, None)
    if command == "verify":
        report = verify(stored)
        assert not report.ok and "invalid YAML at line 3" in report.unrepairable[0]
        return
    line = one_line(err)
    assert code == 2 and "invalid YAML at line 3" in line and err.count("\n") == 1, err
    if command == "sweep":
        assert "move it away and rerun the same command to resume" in line


def test_a_damaged_provenance_is_one_line(stored, tmp_path, capsys):
    (stored / schema.PROVENANCE).write_text("game: {name: ipd\n")
    for argv in (
        ["summary", str(stored)],
        ["sweep", str(write_sweep_file(tmp_path)), "--out", str(stored)],
    ):
        code, err = sweep_cli(argv, capsys)
        line = one_line(err)
        assert code == 2 and err.count("\n") == 1
        assert "invalid YAML at line 2" in line and "provenance.yaml" in line


def test_stray_files_are_ignored_by_readers_and_named_by_verify(stored, tmp_path, capsys):
    (stored / "matches" / "other").mkdir()
    (stored / "matches" / "other" / "notes.txt").write_text("mine")
    (stored / "matches" / "game=ipd" / "README").write_text("mine")
    pq.write_table(pa.table({"x": [1]}), stored / "curves" / "other.parquet")
    assert len(load_matches(stored)) == N
    assert sweep_cli(["summary", str(stored)], capsys)[0] == 0
    report = verify(stored)
    assert report.ok and len(report.notes) == 3
    assert run_sweep(parse_sweep(SWEEP), stored).skipped == N
    assert (stored / "matches" / "other" / "notes.txt").exists()  # not ours to remove


@pytest.mark.parametrize("table", ["curves", "matches"])
def test_a_truncated_part_is_not_counted_verify_finds_it_repair_reruns_exactly_it(
    table, stored, reference, capsys, tmp_path
):
    part = sorted((stored / table / "game=ipd").glob("part-*.parquet"))[3]
    in_part = pq.read_table(stored / "matches" / "game=ipd" / part.name).num_rows
    os.truncate(part, part.stat().st_size // 2)
    sweep_file = write_sweep_file(tmp_path)
    code, err = sweep_cli(["sweep", str(sweep_file), "--out", str(stored)], capsys)
    line = one_line(err)
    assert code == 1 and f"{table}/game=ipd/{part.name} unreadable" in line, err
    assert f"run `lola-arena verify {stored} --repair`" in line
    code, err = sweep_cli(["verify", str(stored)], capsys)
    assert code == 1
    code, _ = sweep_cli(["verify", str(stored), "--repair"], capsys)
    out = capsys.readouterr().out
    assert code == 0 and not (stored / "matches" / "game=ipd" / part.name).exists()
    summary = run_sweep(parse_sweep(SWEEP), stored)
    assert (summary.skipped, summary.ok) == (N - in_part, in_part), out
    assert_same_results(reference, stored)


def test_a_part_storing_matches_twice_is_found_and_repaired(stored, reference, inline_ray):
    folder = stored / "matches" / "game=ipd"
    first = sorted(folder.glob("part-*.parquet"))[0]
    shutil.copy(first, folder / "part-copy.parquet")
    shutil.copy(
        stored / "curves" / "game=ipd" / first.name, stored / "curves/game=ipd/part-copy.parquet"
    )
    assert len(load_matches(stored)) == N  # readers take each match once
    report = verify(stored)
    assert not report.ok and "stored in another part" in " ".join(report.problems)
    repaired = verify(stored, repair=True)
    assert repaired.ok and len(repaired.removed) == 2
    assert run_sweep(parse_sweep(SWEEP), stored).skipped == N
    assert_same_results(reference, stored)


def copy_part(source: Path, target: Path, name: str) -> None:
    """A matches part of ``source`` and its curves part into ``target``, as ``name``."""
    for table in ("matches", "curves"):
        part = sorted((source / table / "game=ipd").glob("part-*.parquet"))[0]
        shutil.copy(part, target / table / "game=ipd" / name)


def test_a_part_another_tool_wrote_is_not_read_and_repair_removes_it(stored, capsys):
    """``COPY ... TO`` a part-*.parquet inside matches/: readers skip it (its columns are not
    the declared ones), verify names it, --repair removes it."""
    duckdb = pytest.importorskip("duckdb")
    written = stored / "matches" / "game=ipd" / "part-0.parquet"
    duckdb.sql(
        f"COPY (SELECT * FROM read_parquet('{stored}/matches/*/*.parquet', hive_partitioning = "
        f"true) LIMIT 5) TO '{written}' (FORMAT parquet)"
    )
    assert len(load_matches(stored)) == N
    capsys.readouterr()
    assert cli.main(["summary", str(stored)]) == 0
    assert f"6 agents, {N} matches" in capsys.readouterr().out
    report = verify(stored)
    assert not report.ok and "part-0.parquet: written with another schema (has game)" in " ".join(
        report.problems
    )
    assert verify(stored, repair=True).ok and not written.exists()


def test_a_part_of_another_sweep_is_foreign_readers_skip_it_repair_removes_it(
    stored, reference, inline_ray, tmp_path
):
    other = tmp_path / "other"
    run_sweep(parse_sweep({**SWEEP, "seeds": [7]}), other)
    copy_part(other, stored, "part-from-other.parquet")
    assert len(load_matches(stored)) == N
    report = verify(stored)
    assert not report.ok and report.stored == N
    assert "part-from-other.parquet: stores" in report.problems[0]
    assert "not in the sweep's plan" in report.problems[0]
    repaired = verify(stored, repair=True)
    assert repaired.ok and len(repaired.removed) == 2
    assert run_sweep(parse_sweep(SWEEP), stored).skipped == N
    assert_same_results(reference, stored)


def test_a_part_of_another_sweep_stops_a_resume_with_the_repair_to_run(stored, tmp_path, capsys):
    other = tmp_path / "other"
    run_sweep(parse_sweep({**SWEEP, "seeds": [7]}), other)
    copy_part(other, stored, "part-from-other.parquet")
    code, err = sweep_cli(["sweep", str(write_sweep_file(tmp_path)), "--out", str(stored)], capsys)
    line = one_line(err)
    assert code == 1 and "part-from-other.parquet stores" in line, err
    assert f"run `lola-arena verify {stored} --repair`" in line


@pytest.mark.parametrize("command", ["report", "summary"])
def test_deleted_curves_are_one_line_naming_them_and_the_way_back(command, stored, capsys):
    shutil.rmtree(stored / "curves")
    argv = [command, str(stored), *(["--no-progress"] if command == "report" else [])]
    code, err = sweep_cli(argv, capsys)
    line = one_line(err)
    assert code == 2 and err.count("\n") == 1
    assert f"{stored / 'curves'}' is missing" in line
    assert f"lola-arena verify {stored} --repair" in line and "the sweep's command" in line
    assert not (stored / "report").exists()


def test_deleted_sweep_yaml_is_one_line_that_repair_does_not_repeat(
    stored, reference, tmp_path, capsys
):
    (stored / "sweep.yaml").unlink()
    for _ in range(2):  # a second --repair says the same: it is not the way out
        capsys.readouterr()
        code = cli.main(["verify", str(stored), "--repair"])
        last = capsys.readouterr().out.strip().splitlines()[-1]
        assert code == 1 and last.startswith("damaged: sweep.yaml is missing"), last
        assert "--repair" not in last and f"rerun the sweep's command with --out {stored}" in last
    code, _ = sweep_cli(["sweep", str(write_sweep_file(tmp_path)), "--out", str(stored)], capsys)
    assert code == 0 and verify(stored).ok
    assert_same_results(reference, stored)


def test_curves_that_miss_matches_are_found_by_verify(stored):
    path = sorted((stored / "curves" / "game=ipd").glob("part-*.parquet"))[0]
    curves = pq.read_table(path)
    pq.write_table(curves.slice(0, curves.num_rows - 5), path)
    report = verify(stored)
    assert not report.ok and "curve rows, expected" in report.problems[0]


def test_each_file_is_fsynced_with_its_folder_around_the_rename(tmp_path, monkeypatch):
    """Durability: the data reaches the disk before the rename makes it visible, and the rename
    reaches it before the next file is written."""
    events = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(
        os,
        "fsync",
        lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))) or fsync(fd),
    )
    monkeypatch.setattr(
        os, "replace", lambda a, b: events.append(("rename", str(b))) or replace(a, b)
    )
    empty = schema.CURVES_SCHEMA.empty_table()
    matches = pa.Table.from_pylist([], schema=schema.MATCHES_SCHEMA)
    store.write_task(tmp_path, "ipd", "t", matches, empty)
    store.write_resolved_sweep(tmp_path, {"name": "x"})
    expected = []
    for path in (
        tmp_path / "curves" / "game=ipd" / "part-t.parquet",
        tmp_path / "matches" / "game=ipd" / "part-t.parquet",
        tmp_path / "sweep.yaml",
    ):
        tmp = path.with_name(f".{path.name}.tmp")
        expected += [("fsync", str(tmp)), ("rename", str(path)), ("fsync", str(path.parent))]
    assert events == expected


# --- schema ---------------------------------------------------------------------------------


def test_a_directory_of_another_schema_version_is_refused_in_one_line(stored, tmp_path, capsys):
    stored_sweep = yaml.safe_load((stored / "sweep.yaml").read_text())
    assert stored_sweep["schema"] == schema.SCHEMA_VERSION
    (stored / "sweep.yaml").write_text(yaml.safe_dump({**stored_sweep, "schema": 99}))
    code, err = sweep_cli(["sweep", str(write_sweep_file(tmp_path)), "--out", str(stored)], capsys)
    assert code == 2 and "stored schema version 99" in one_line(err)


def test_a_part_of_another_schema_is_refused_by_a_resume(stored, tmp_path, capsys):
    path = sorted((stored / "matches" / "game=ipd").glob("part-*.parquet"))[0]
    table = pq.read_table(path)
    pq.write_table(table.append_column("new_column", pa.array([1.0] * table.num_rows)), path)
    code, err = sweep_cli(["sweep", str(write_sweep_file(tmp_path)), "--out", str(stored)], capsys)
    assert code == 1 and "written with another schema (has new_column)" in one_line(err)


def test_readers_read_with_the_declared_schema_so_older_parts_read_new_columns_as_null(stored):
    """A part written before a column existed (here: without ``error``) does not hide the column
    of the others; its rows read it as null."""
    path = sorted((stored / "matches" / "game=ipd").glob("part-*.parquet"))[0]
    old = pq.read_table(path)
    pq.write_table(old.drop_columns(["error", "version"]), path)
    matches = load_matches(stored)
    assert len(matches) == N and {"error", "version"} <= set(matches.columns)
    assert matches["version"].isna().sum() == old.num_rows


# --- allocation and other faults ------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        MemoryError(),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: "
            "not enough memory: you tried to allocate 400000000000 bytes."
        ),
    ],
    ids=["MemoryError", "torch allocator"],
)
def test_running_out_of_memory_is_one_line_exit_1(error, monkeypatch, capsys):
    import tournament.run_match

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(tournament.run_match, "run_match", fail)
    code, err = sweep_cli(["match", "nl", "nl", "--seeds", "2"], capsys)
    assert code == 1 and err.count("\n") == 1
    assert "out of memory" in err and "fewer seeds" in err


def test_an_unexpected_error_is_one_line_naming_how_to_see_the_traceback(monkeypatch, capsys):
    import tournament.run_match

    def fail(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(tournament.run_match, "run_match", fail)
    code, err = sweep_cli(["match", "nl", "nl"], capsys)
    assert code == 1 and err.count("\n") == 1
    assert "ZeroDivisionError: division by zero (LOLA_ARENA_TRACEBACK=1 shows where)" in err


# --- generated sweep files ------------------------------------------------------------------

LEARNERS = ("nl", "la", "lola", "lola-taylor", "sos", "hola")
FIXED = ("tft", "alld", "allc", "grim", "wsls")
positive = st.floats(0.01, 10, allow_nan=False).map(lambda x: round(x, 3))


def swept(values: st.SearchStrategy) -> st.SearchStrategy:
    """One value, or a list of distinct values (swept)."""
    return values | st.lists(values, min_size=1, max_size=3, unique=True)


@st.composite
def agent_entries(draw, kind: str, name: str) -> dict:
    entry = {"kind": kind, "name": name}
    if kind in LEARNERS:
        if draw(st.booleans()):
            entry["lr"] = draw(swept(positive))
        if kind in ("la", "lola") and draw(st.booleans()):
            entry["lookahead"] = draw(swept(st.integers(1, 3)))
        if kind == "lola-taylor" and draw(st.booleans()):
            entry["eta"] = draw(swept(positive))
        if kind == "hola":
            entry["order"] = draw(st.integers(1, 2))
    elif kind == "memory1":
        entry["p"] = draw(st.lists(st.sampled_from([0, 0.5, 1]), min_size=5, max_size=5))
    elif kind == "random":
        entry["p"] = draw(st.sampled_from([0.1, 0.5, 0.9]))
    return entry


@st.composite
def valid_sweeps(draw) -> dict:
    kinds = draw(
        st.lists(
            st.sampled_from(LEARNERS + FIXED + ("memory1", "random")),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    agents = [draw(agent_entries(kind, f"e{i}")) for i, kind in enumerate(kinds)]
    sweep = {
        "name": draw(st.text("abcxyz_-0123456789", min_size=1, max_size=20)),
        "game": draw(st.sampled_from(["ipd", "imp", "stag_hunt", "chicken"])),
        "gamma": draw(st.floats(0.01, 0.99)),
        "updates": draw(st.integers(1, 50)),
        "record_every": draw(st.integers(1, 60)),
        "seeds": draw(
            st.integers(1, 4)
            | st.lists(st.integers(0, 2**62 - 1), min_size=1, max_size=3, unique=True)
        ),
        "agents": agents,
    }
    if draw(st.booleans()):
        names = [a["name"] for a in agents]
        pair = st.lists(st.sampled_from(names), min_size=2, max_size=2)
        sweep.update(pairing="vs", vs=draw(st.lists(pair, min_size=1, max_size=3)))
    else:
        sweep["self_play"] = len(agents) == 1 or draw(st.booleans())  # else no match
    return sweep


@settings(max_examples=60, deadline=None, derandomize=True)
@given(valid_sweeps())
def test_generated_valid_sweep_files_plan_their_counted_matches_with_unique_ids(sweep):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep.yaml"
        path.write_text(yaml.safe_dump(sweep))
        config = load_sweep(path)
    matches = plan_matches(config)
    assert len(matches) == config.matches > 0
    assert len({m.match_id for m in matches}) == len(matches)


# (where, a bad value, the field the one-line error must name)
BAD_VALUES = [
    *[(("gamma",), v, "gamma:") for v in (True, 0, 1, 1.5, "x", None, [], float("nan"))],
    *[(("updates",), v, "updates:") for v in (0, -1, True, 1.5, "10", 10**7, None)],
    *[(("record_every",), v, "record_every:") for v in (0, True, "x", 2.5)],
    *[
        (("seeds",), v, "seeds:")
        for v in (0, True, [], [1, 1], [-1], [2**62], "x", 10**6, [1.5], [True])
    ],
    *[(("game",), v, "game:") for v in ("poker", 1, None, ["ipd"])],
    *[(("pairing",), v, "pairing:") for v in ("swiss", 1, None)],
    *[(("self_play",), v, "self_play:") for v in ("yes", 1, None)],
    *[(("dtype",), v, "dtype:") for v in ("float16", 32)],
    *[(("device",), v, "device:") for v in ("tpu", 0)],
    *[(("task_size",), v, "task_size:") for v in (0, True, 10**6, "big", 1.5)],
    *[(("name",), v, "name:") for v in ("", "a/b", ".x", "n" * 101, 5, None, "a\nb")],
    *[
        (("payoffs",), v, "payoffs:")
        for v in ([1, 2, 3], [True, 0, 0, 0], ["a"] * 4, [float("inf")] * 4, "x", [0] * 9)
    ],
    *[(("agents",), v, "agents") for v in ([], "x", None, [1], [[{"kind": "nl"}]])],
    *[(("agents", 0, "lr"), v, "agents[0].lr") for v in (-1, 0, True, "x", float("inf"), [])],
    *[(("agents", 0, "kind"), v, "agents[0].kind") for v in ("lolaa", 1, None, ["nl"])],
    *[(("agents", 0, "policy"), v, "agents[0].policy") for v in ("cnn", "mlp:0", "mlp:5000", 3)],
    *[(("agents", 0, "unknown_option"), 1, "agents[0].unknown_option")],
    *[(("lerning_rate",), 1, "lerning_rate: unknown key")],
]
BAD_LEARNER = [
    *[(("agents", 0, "lookahead"), v, "agents[0].lookahead") for v in (0, 21, 1.5, True)],
]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(valid_sweeps(), st.sampled_from(BAD_VALUES + BAD_LEARNER), st.booleans())
def test_generated_invalid_sweep_files_are_one_line_naming_the_field_and_write_nothing(
    sweep, bad, as_duplicate_key
):
    where, value, field_name = bad
    if where[-1] == "lookahead":
        sweep["agents"][0] = {"kind": "lola", "name": "e0"}
        field_name = "agents[0].lookahead"
    target = sweep
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    text = yaml.safe_dump(sweep)
    if as_duplicate_key:  # the same file with its first key given twice
        first = text.splitlines()[0]
        text = f"{text}{first}\n"
        field_name = f"duplicate key {first.split(':')[0]!r}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep.yaml"
        path.write_text(text)
        out = Path(tmp) / "out"
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            code = cli.main(["sweep", str(path), "--out", str(out)])
        err = stderr.getvalue()
        assert code == 2, err
        assert err.count("\n") == 1 and err.startswith("lola-arena: error: "), err
        assert field_name in err, (field_name, err)
        assert len(err) < 600
        assert not out.exists()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000  # kB
