"""Tools of the fault-injection suite (tests/test_faults.py): an in-process stand-in for Ray that
really plays each task, and sweeps killed at chosen points of the store as SIGKILL would.

A killed run is a process forked from a fork server that imported the engine once (so a kill
costs milliseconds, not an interpreter start), running the sweep with :class:`InlineRay`; at
its kill point it calls ``os._exit(137)``: no ``finally``, no cleanup, no lock release but the
kernel's, exactly as after SIGKILL.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import types
from pathlib import Path

import pyarrow.parquet as pq

KILLED = 137


def cli_with_faults(delay_s: float) -> list[str]:
    """The start of a command line that runs ``lola-arena`` in a new process whose sweeps'
    tasks each sleep ``delay_s`` seconds first."""
    code = (
        "import functools, sys\n"
        "from cli.main import main\n"
        "from sweeps import runner\n"
        "faults = runner.TaskFaults(delay_s=float(sys.argv[1]))\n"
        "runner.run_sweep = functools.partial(runner.run_sweep, faults=faults)\n"
        "sys.exit(main(sys.argv[2:]))"
    )
    return [sys.executable, "-c", code, str(delay_s)]


class InlineRay(types.ModuleType):
    """Enough of Ray for ``sweeps.runner``: each task is played when its result is asked for,
    in this process (``play_task`` itself, so results are the engine's)."""

    class exceptions:  # noqa: N801 - mirrors ray.exceptions
        class RayError(Exception):
            def __init__(self, cause):
                super().__init__(str(cause))
                self.cause = cause

    def __init__(self, workers: int = 2):
        super().__init__("ray")
        self.workers, self.pending, self.played = workers, {}, 0

    def is_initialized(self):
        return True

    def cluster_resources(self):
        return {"CPU": float(self.workers)}

    def remote(self, **_options):
        fake = self

        class Remote:
            def __init__(self, function):
                self.function = function

            def options(self, **_):
                return self

            def remote(self, *args):
                handle = object()
                fake.pending[handle] = (self.function, args)
                return handle

        return Remote

    def wait(self, handles, num_returns, timeout=None):
        return handles[:num_returns], handles[num_returns:]

    def get(self, handle):
        function, args = self.pending.pop(handle)
        self.played += 1
        try:
            return function(*args)
        except Exception as error:
            raise self.exceptions.RayError(error) from error

    def cancel(self, handle):
        self.pending.pop(handle, None)


def _exit_killed():
    sys.stdout.flush()
    os._exit(KILLED)


def _install_kill_point(out: Path, point: tuple) -> None:
    """Patch this (child) process so that it dies at ``point``:

    - ``("call", name, k)``: on the k-th call of ``sweeps.store.<name>``, before it runs;
    - ``("replace", table, k, "before" | "after")``: around the k-th rename into ``table``
      (``matches``, ``curves``, ``checkpoints``, ``sweep.yaml``, ``provenance.yaml``);
    - ``("write", table, k)``: in the k-th Parquet write into ``table``: the temporary file
      half written.
    """
    from sweeps import store

    counts: dict[str, int] = {}

    def into(table: str, path) -> bool:
        """Whether ``path`` lies in ``table`` (a folder or file name of the sweep directory)."""
        try:
            return Path(path).relative_to(out).parts[0] == table
        except ValueError:
            return False

    def hit(key: str, k: int) -> bool:
        counts[key] = counts.get(key, 0) + 1
        return counts[key] == k

    if point[0] == "call":
        _, name, k = point
        original = getattr(store, name)

        def call(*args, **kwargs):
            if hit(name, k):
                _exit_killed()
            return original(*args, **kwargs)

        setattr(store, name, call)
    elif point[0] == "replace":
        _, table, k, when = point
        replace = os.replace

        def killing_replace(src, dst):
            if not into(table, dst) or not hit(table, k):
                return replace(src, dst)
            if when == "before":
                _exit_killed()
            replace(src, dst)
            _exit_killed()

        os.replace = killing_replace
    elif point[0] == "write":
        _, table, k = point
        write_table = pq.write_table

        def half_write(data, where, *args, **kwargs):
            write_table(data, where, *args, **kwargs)
            if into(table, where) and hit(table, k):
                size = Path(where).stat().st_size
                os.truncate(where, size // 2)
                _exit_killed()

        pq.write_table = half_write
    else:
        raise ValueError(point)


def killed_run(out: str, sweep: dict, point: tuple, faults) -> None:
    """The child: run ``sweep`` into ``out`` with :class:`InlineRay` and ``faults``
    (:class:`sweeps.runner.TaskFaults`), dying at ``point``."""
    from sweeps.config import parse_sweep
    from sweeps.runner import run_sweep

    sys.modules["ray"] = InlineRay()
    _install_kill_point(Path(out), point)
    run_sweep(parse_sweep(sweep), Path(out), faults=faults)
    os._exit(0)


_CONTEXT = None


def fork_server():
    """A multiprocessing context whose children fork from a server that imported the engine."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["fault_tools", "sweeps.runner", "sweeps.store"])
    return _CONTEXT


def run_killed(out: Path, sweep: dict, point: tuple, timeout: float = 60, faults=None) -> int:
    """Run :func:`killed_run` in a child; its exit code (137: killed at ``point``)."""
    from sweeps.runner import NO_FAULTS

    args = (str(out), sweep, point, faults or NO_FAULTS)
    child = fork_server().Process(target=killed_run, args=args)
    child.start()
    child.join(timeout)
    if child.exitcode is None:
        child.kill()
        child.join()
    return child.exitcode


def hold_lock(out: str, start_at: float, hold_s: float, log: str) -> None:
    """Child of the lock race: at ``start_at`` try the lock; on success log the times held."""
    import time

    from sweeps import store

    time.sleep(max(0.0, start_at - time.time()))
    try:
        with store.DirLock(Path(out)):
            entered = time.monotonic()
            time.sleep(hold_s)
            left = time.monotonic()
    except store.SweepDirLocked:
        return
    with open(log, "a") as f:
        f.write(f"{os.getpid()} {entered} {left}\n")
