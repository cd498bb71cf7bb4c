"""What a Ray worker runs: one piece of a planned task's batched play (:func:`play_task`).

Kept apart from :mod:`sweeps.runner` so that a worker imports only what a task uses: the
engine (``tournament``, torch) and the plan's types, not the driver's Ray start, Parquet
store (pyarrow, pandas), progress bar or checkpoint files. Ray pickles :func:`play_task` by
reference to this module, so this module's imports are a worker's.

Faults for tests: :class:`TaskFaults` travel to every task as data (a task holding a match of
``fail`` raises; each task first sleeps ``delay_s`` seconds; ``piece_s`` and ``checkpoint_s``
replace the runner's ``PIECE_S`` and ``CHECKPOINT_S``, 0: pieces of one update, each saved).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sweeps.plan import Task
    from tournament.recorder import BatchState, MatchResults


@dataclass(frozen=True)
class TaskFaults:
    """Faults a test injects into the tasks: the ids of matches whose task raises, the
    seconds each task sleeps before it plays; and its pacing: ``piece_s`` and
    ``checkpoint_s`` in place of ``PIECE_S`` and ``CHECKPOINT_S`` (None: those)."""

    fail: frozenset[str] = frozenset()
    delay_s: float = 0.0
    piece_s: float | None = None
    checkpoint_s: float | None = None


NO_FAULTS = TaskFaults()


def play_task(
    task: Task, settings: dict, faults: TaskFaults = NO_FAULTS, state: BatchState | None = None
) -> MatchResults:
    """One Ray task: one piece of the task's batched play, from ``state`` (None: the start)
    for about ``settings["piece_s"]`` seconds; its curves and end state (on the CPU)."""
    from tournament.games import get_game
    from tournament.match import play_matches
    from tournament.recorder import BatchState

    if faults.delay_s and state is None:
        time.sleep(faults.delay_s)
    for m in task.matches:
        if m.match_id in faults.fail:
            raise RuntimeError(f"forced failure of match {m.match_id} (TaskFaults)")
    piece = play_matches(
        get_game(settings["game"], settings["payoffs"], settings.get("grid_size")),
        [m.a.spec for m in task.matches],
        [m.b.spec for m in task.matches],
        [m.seed for m in task.matches],
        settings["updates"],
        gamma=settings["gamma"],
        record_every=settings["record_every"],
        dtype=settings["dtype"],
        device=settings["device"],
        state=state,
        deadline=time.monotonic() + settings["piece_s"],
    )
    end = piece.state
    piece.state = BatchState(
        end.update, {k: t.cpu() for k, t in end.tensors.items()}, end.diverged_at.cpu()
    )
    return piece
