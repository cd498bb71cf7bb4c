"""Run a sweep: planned tasks -> Ray tasks -> Parquet, with resume, a lock and a progress bar.

Ray (:mod:`sweeps.local_ray`): embedded local Ray by default (``ray.init`` with the machine's
CPUs, stopped at the end without waiting for its processes to exit); ``address`` (or
``RAY_ADDRESS``) connects to an existing cluster, whose nodes must have ``lola-arena``
installed (first checked to answer, within :data:`sweeps.address.TIMEOUT_S`); a Ray already
initialised in this process (e.g. by a test fixture) is reused. Each Ray task
plays one piece (about ``PIECE_S`` seconds) of a :class:`sweeps.plan.Task` (one batched engine
call, resumed from the state the previous piece ended in) and returns its curves and end
state, so workers need no shared disk; the driver checkpoints long tasks
(:mod:`sweeps.checkpoint`) and writes each finished task's two Arrow tables (built by
:mod:`sweeps.schema`).

GPUs: each task of a ``device: cuda`` sweep asks Ray for ``GPU_SHARE`` of a GPU (and a CPU),
so that several tasks share one GPU and Ray places them on a cluster's GPU nodes.

Failures: a task that raises is retried (``TASK_RETRIES`` times), then its matches are stored
with status ``failed`` and the error; the sweep goes on and the summary counts them. Failed
matches are run again by the next run on the same directory. A cluster that can no longer run
tasks (its head stopped answering, or no node with a CPU, or GPU, for ``NO_WORKER_S``; checked
every ``HEALTH_EVERY_S`` while the driver waits) ends the run in :class:`ClusterLost`, one line
that says what happened, how many matches are stored and that a rerun resumes.

Resume (default): matches already stored are skipped, and an interrupted run's leftovers are
cleaned (see :func:`sweeps.store.prepare_resume`); a damaged part stops the run with the repair
to run (:func:`sweeps.store.check_parts`), so it is never counted as stored. ``resume=False``
refuses a directory that already holds results, rather than deleting them. A directory holds
one sweep: a rerun whose resolved sweep differs (other than in ``RUN_SETTINGS`` and
``GROWING``) is refused. A rerun with other seeds appends their matches; ``sweep.yaml`` then
lists every seed stored.

Interrupts: SIGINT, or SIGTERM raised as an interrupt (:mod:`sweeps.signals`), shuts down the
Ray this run started (a cluster ends the tasks of a driver that is gone; ``ray.cancel`` on
tasks about to finish crashes Ray 2.60's driver), releases the lock and ends in
:class:`SweepInterrupted` ("interrupted: N of M matches stored; rerun the same command to
resume"); every file written is whole, so the rerun resumes, continuing the tasks in flight
from the pieces they had played (saved on the way out).

A local Ray's processes do not outlive the driver, even one killed with SIGKILL: a watchdog
(:mod:`sweeps.reaper`) ends them when the driver is gone, or done with them.

Provenance: each run records itself in ``provenance.yaml`` (:data:`sweeps.schema.PROVENANCE`)
when it starts and when it ends: versions, git commit, times, machine, and the game's payoffs.

Faults for tests: ``run_sweep(..., faults=TaskFaults(...))`` passes them to every task as data
(:mod:`sweeps.task`, where the task's code lives, so that a worker imports only that).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import itertools
import os
import platform
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from sweeps import checkpoint, local_ray, schema, signals, store
from sweeps.address import check_address
from sweeps.config import SweepConfig, machine_memory, side_bytes
from sweeps.plan import auto_task_size, plan_matches, plan_tasks
from sweeps.schema import failed_matches_table, match_tables
from sweeps.task import NO_FAULTS, TaskFaults, play_task
from tournament.differentiable import DifferentiableGame
from tournament.games import CoinGame
from tournament.match import ENGINE_VERSION
from tournament.recorder import join_results

TASK_RETRIES = 2
# The share of a GPU each task of a ``device: cuda`` sweep asks Ray for: 4 tasks share a GPU
# (one engine call rarely fills one), and a cluster of GPU nodes runs 4 a GPU.
GPU_SHARE = 0.25
WINDOW_PER_WORKER = 2  # tasks in flight per worker: one running, one queued
WAIT_S = 0.5  # the longest the driver waits for Ray without handling signals
WATCH_EVERY_S = 2.0  # how often the reaper's watchdog learns of new Ray processes
HEALTH_EVERY_S = 5.0  # how often a waiting driver checks that the cluster can run its tasks
HEAD_TIMEOUT_S = 5.0  # a cluster's head that does not answer within this is lost
NO_WORKER_S = 30.0  # a cluster without a node that can run a task for this long is lost
# Keys of the sweep file that change how, not what, is run: a rerun may change them.
RUN_SETTINGS = ("device", "task_size")
# Keys that may grow between runs on one directory: more seeds add their matches.
GROWING = ("seeds",)
# A task plays in pieces of about PIECE_S seconds; its progress is saved when CHECKPOINT_S
# have passed since its last save (sweeps.checkpoint): a fault loses at most their sum.
PIECE_S, CHECKPOINT_S = 10.0, 20.0


@dataclass
class SweepSummary:
    out: Path
    planned: int
    skipped: int
    ok: int = 0
    diverged: int = 0
    failed: int = 0
    wall_s: float = 0.0
    resumed: int = 0  # matches continued from a checkpoint

    def __str__(self) -> str:
        resumed = f", {self.resumed} continued from checkpoints" if self.resumed else ""
        return (
            f"sweep: {self.planned} matches ({self.skipped} already stored{resumed}), "
            f"ok {self.ok}, diverged {self.diverged}, failed {self.failed}; {self.wall_s:.1f} s; "
            f"results in {self.out}"
        )


class SweepInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped the sweep: Ray is shut down, what was stored is readable and
    resumable; ``signum`` is the signal, the message one line."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


class ClusterLost(RuntimeError):
    """The Ray cluster can no longer run the sweep: its head stopped answering, or no node
    that can run a task (with a CPU, or a GPU for ``device: cuda``) is left. One line; what was
    stored is resumed by a rerun."""


@dataclass
class _ClusterHealth:
    """Checked while the driver waits for tasks, every ``HEALTH_EVERY_S``: the head answers
    within ``HEAD_TIMEOUT_S`` (a cluster's address; Ray itself would wait 60 s, then end the
    driver with its own message), and a node with ``resource`` has been in the cluster within
    the last ``NO_WORKER_S`` (Ray itself waits for one without end)."""

    address: str | None
    resource: str
    checked: float = 0.0
    without_since: float | None = None

    def check(self, ray) -> None:
        now = time.monotonic()
        if now - self.checked < HEALTH_EVERY_S:
            return
        self.checked = now
        if self.address:
            try:
                check_address(self.address, timeout_s=HEAD_TIMEOUT_S)
            except ValueError:
                raise ClusterLost(
                    f"the Ray head at {self.address!r} stopped answering (killed, or its "
                    f"machine or network is down); restart the cluster, then"
                ) from None
        if ray.cluster_resources().get(self.resource, 0) > 0:
            self.without_since = None
        elif self.without_since is None:
            self.without_since = now
        elif now - self.without_since > NO_WORKER_S:
            start = f"`ray start --address {self.address}`" if self.address else "Ray"
            raise ClusterLost(
                f"no Ray node with a {self.resource} has been in the cluster for "
                f"{NO_WORKER_S:g} s (the last one left or died); start one ({start}), then"
            )


def run_sweep(
    config: SweepConfig,
    out: Path,
    address: str | None = None,
    resume: bool = True,
    faults: TaskFaults = NO_FAULTS,
    ray_start: local_ray.EarlyStart | None = None,
) -> SweepSummary:
    """Run every planned match not yet stored in ``out``; validation errors are ValueErrors
    raised before anything is written or Ray is started (unless the caller started it early:
    ``ray_start``, a local Ray used instead of starting one, stopped by this run once used;
    the caller stops it should this run stop before). SIGINT and SIGTERM, raised as
    interrupts (:func:`sweeps.signals.interrupts`, as the command line does), end it with
    :class:`SweepInterrupted`."""
    started = time.perf_counter()
    out = Path(out)
    store.check_out(out)
    matches = plan_matches(config)
    if config.device == "cuda" and not (address or os.environ.get("RAY_ADDRESS")):
        import torch

        if not torch.cuda.is_available():
            raise ValueError("device: cuda requested but this machine has no CUDA device")
    cluster = address or os.environ.get("RAY_ADDRESS")
    if cluster:
        check_address(cluster)  # in bounded time, before anything is written
    resolved = {**config.resolved(), "engine": ENGINE_VERSION}
    if resume:
        store.check_same_sweep(out, resolved, ignore=RUN_SETTINGS + GROWING)
    if not resume and store.has_results(out):
        raise ValueError(
            f"out: {str(out)!r} already holds results; rerun with --resume or choose another --out"
        )
    summary = SweepSummary(out, planned=len(matches), skipped=0)
    try:
        with store.DirLock(out):
            store.prepare_resume(out)
            _check_stored(out, config)
            done = store.stored_match_ids(out) if resume else set()
            todo = [m for m in matches if m.match_id not in done]
            summary.skipped = len(matches) - len(todo)
            planned = {m.match_id for m in matches}
            if resume and done:  # seeds stored before, then the new ones
                before = store.stored_seeds(out) or []
                resolved["seeds"] = [*before, *(s for s in config.seeds if s not in before)]
                if resolved["seeds"] != config.seeds:
                    stored_sweep = dataclasses.replace(config, seeds=resolved["seeds"])
                    planned = {m.match_id for m in plan_matches(stored_sweep)}
            store.write_plan(out, planned)
            store.write_resolved_sweep(out, resolved)
            run = provenance(config, address, len(todo))
            store.record_run(out, game_payoffs(config), run)
            if todo:
                _run_tasks(config, out, todo, address, summary, faults, ray_start)
            summary.wall_s = time.perf_counter() - started
            run.update(finished=_now(), wall_s=round(summary.wall_s, 3))
            store.record_run(out, game_payoffs(config), run, update=True)
    except ClusterLost as error:
        stored = _count_stored(out, summary)
        raise ClusterLost(
            f"cluster: {error} {store.RESUME_HINT}; {stored} of {summary.planned} matches stored"
        ) from None
    except KeyboardInterrupt as error:
        signum = signals.signal_of(error)
        stored = _count_stored(out, summary)
        raise SweepInterrupted(
            f"interrupted: {stored} of {summary.planned} matches stored; {store.RESUME_HINT}",
            signum,
        ) from None
    return summary


def _count_stored(out: Path, summary: SweepSummary) -> int:
    """The matches stored in ``out``, read back (an interrupt may fall between a task's write
    and its count), or counted when they cannot be read."""
    try:
        return len(store.stored_match_ids(out))
    except (OSError, ValueError, pa.ArrowException):
        return summary.skipped + summary.ok + summary.diverged + summary.failed


def _check_stored(out: Path, config: SweepConfig) -> None:
    """The cheap part of ``lola-arena verify``: a damaged part is not counted as stored."""
    points = store.curve_points(config.updates, config.record_every)
    problems = store.check_parts(out, points, plan=store.read_plan(out))
    if problems:
        first = problems[0]
        raise store.StoreError(
            f"out: {len(problems)} damaged or foreign part file(s) ({first.path} "
            f"{first.problem}); run "
            f"`lola-arena verify {out} --repair` to remove them, then {store.RESUME_HINT}"
        )


def game_payoffs(config: SweepConfig) -> dict:
    """The game as analysis reads it: name and both players' payoffs (CC, CD, DC, DD); a
    differentiable game has no payoff table, only its description."""
    game = config.game_obj()
    if isinstance(game, DifferentiableGame):
        return {"name": config.game, "differentiable": game.description}
    if isinstance(game, CoinGame):
        return {"name": config.game, "grid_size": game.grid_size}
    return {
        "name": config.game,
        "payoffs_row": list(game.payoffs_row),
        "payoffs_col": list(game.payoffs_col),
    }


def provenance(config: SweepConfig, address: str | None, matches: int) -> dict:
    """What a run records of itself: times, what it ran, versions, git commit and machine."""
    import numpy
    import pyarrow
    import torch

    try:
        ray_version = importlib.metadata.version("ray")
    except importlib.metadata.PackageNotFoundError:
        ray_version = None
    return {
        "started": _now(),
        "finished": None,
        "wall_s": None,
        "matches": matches,
        "seeds": list(config.seeds),
        "lola_arena": importlib.metadata.version("lola-arena"),
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "ray": ray_version,
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
        "git_commit": _git_commit(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "device": config.device,
        "cluster": address or os.environ.get("RAY_ADDRESS") or "local",
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _git_commit() -> str | None:
    """The commit of the lola-arena checkout that runs (``-dirty`` with local changes), or None
    outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _run_tasks(
    config,
    out: Path,
    todo: list,
    address,
    summary: SweepSummary,
    faults: TaskFaults = NO_FAULTS,
    ray_start: local_ray.EarlyStart | None = None,
) -> None:
    """Play ``todo`` as Ray tasks, at most ``WINDOW_PER_WORKER`` per worker in flight, each in
    pieces checkpointed now and then (:mod:`sweeps.checkpoint`), storing each task's tables
    as it finishes: driver memory is bounded whatever the sweep's size. The progress bar
    counts match-updates, so it moves with every piece."""
    with signals.deferred():  # an interrupt inside Ray's import is swallowed
        import ray
        from tqdm import tqdm

    driver = ray_start.result() if ray_start else local_ray.connect(address)
    watchdog = driver.watchdog
    pending = {}
    watched = 0.0
    resource = "GPU" if config.device == "cuda" else "CPU"
    health = _ClusterHealth(address or os.environ.get("RAY_ADDRESS"), resource)
    try:
        if config.device == "cuda" and not ray.cluster_resources().get("GPU"):
            raise ValueError("device: cuda requested but the Ray cluster has no GPU")
        options = {"num_gpus": GPU_SHARE} if config.device == "cuda" else {}
        # tasks that run at once: a CPU each, or GPU_SHARE of a GPU each
        workers = max(1, int(ray.cluster_resources().get(resource, 1) / options.get("num_gpus", 1)))
        resumed = checkpoint.load(out, todo)
        summary.resumed = sum(len(p.task.matches) for p in resumed)
        continued = {m.match_id for p in resumed for m in p.task.matches}
        fresh = [m for m in todo if m.match_id not in continued] if continued else todo
        task_size = config.task_size
        if task_size == "auto":
            task_size = auto_task_size(len(fresh), workers)
            # every worker's task in memory at once: capped by this machine's memory
            largest = 2 * max(side_bytes(v.spec) for v in config.variants)
            if largest:
                task_size = max(1, min(task_size, machine_memory() // (workers * largest)))
        remote = ray.remote(max_retries=TASK_RETRIES, retry_exceptions=True)(play_task)
        piece_s = PIECE_S if faults.piece_s is None else faults.piece_s
        checkpoint_s = CHECKPOINT_S if faults.checkpoint_s is None else faults.checkpoint_s
        settings = {**_task_settings(config), "piece_s": piece_s}
        planned = plan_tasks(fresh, task_size, config.game_obj()) if fresh else []
        tasks = itertools.chain(resumed, (checkpoint.TaskProgress(t) for t in planned))

        def play(progress: checkpoint.TaskProgress) -> None:
            args = (progress.task, settings, faults, progress.state)
            pending[remote.options(**options).remote(*args)] = progress

        def submit(count: int) -> None:
            for progress in itertools.islice(tasks, count):
                play(progress)

        submit(WINDOW_PER_WORKER * workers)
        # pyarrow imports pandas (half a second) at the first table it builds: import it
        # here instead, while the first tasks start
        with signals.deferred():
            import pandas  # noqa: F401
        updates = config.updates
        done = summary.skipped * updates + sum(p.update * len(p.task.matches) for p in resumed)
        with tqdm(
            total=summary.planned * updates,
            initial=done,
            unit="update",
            unit_scale=summary.planned * updates >= 10_000,  # 1.2M, not 1234567
            desc=config.name,
        ) as bar:
            while pending:
                if watchdog and time.monotonic() - watched > WATCH_EVERY_S:
                    watchdog.update()  # Ray starts workers and agents as it goes
                    watched = time.monotonic()
                # a timeout, so that a signal is handled while tasks run
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_S)
                if not ready:
                    health.check(ray)
                    continue
                progress = pending[ready[0]]  # in pending until its piece is in hand
                task, before = progress.task, progress.update
                try:
                    piece = ray.get(ready[0])
                except ray.exceptions.RayError as error:
                    del pending[ready[0]]
                    matches = failed_matches_table(task, settings, _one_line(error))
                    _store_task(out, config.game, task, matches, None, summary)
                    checkpoint.remove(out, task)
                    bar.update((updates - before) * len(task.matches))
                    submit(1)
                    continue
                del pending[ready[0]]
                progress.pieces.append(piece)
                bar.update((progress.update - before) * len(task.matches))
                if progress.update < updates:
                    if time.monotonic() - progress.saved_at >= checkpoint_s:
                        checkpoint.save(out, progress)
                    play(progress)
                    continue
                matches, curves = match_tables(task, settings, join_results(progress.pieces))
                _store_task(out, config.game, task, matches, curves, summary)
                checkpoint.remove(out, task)
                submit(1)
    except KeyboardInterrupt:  # keep what the tasks in flight have played so far
        for progress in pending.values():
            checkpoint.save(out, progress)
        raise
    finally:
        driver.stop()


def _store_task(out, game, task, matches: pa.Table, curves, summary: SweepSummary) -> None:
    if curves is None:
        curves = schema.CURVES_SCHEMA.empty_table()
    store.write_task(out, game, task.task_id, matches, curves)
    for status in matches.column("status").to_pylist():
        setattr(summary, status, getattr(summary, status) + 1)


def _one_line(error: Exception) -> str:
    cause = getattr(error, "cause", None) or error
    text = f"{type(cause).__name__}: {cause}".strip()
    return text.splitlines()[0] if text else type(cause).__name__


def _task_settings(config: SweepConfig) -> dict:
    return {
        "sweep": config.name,
        "game": config.game,
        "payoffs": config.payoffs,
        "grid_size": config.grid_size,
        "gamma": config.gamma,
        "updates": config.updates,
        "record_every": config.record_every,
        "dtype": config.dtype,
        "device": config.device,
    }
