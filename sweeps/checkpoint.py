"""Checkpoints of long tasks: a task is played in pieces, and its progress is saved now and then,
so that an interrupt, a lost node or a preempted worker loses minutes of no one's work.

A Ray task plays one piece: about ``piece_s`` seconds of updates of its batch
(:func:`tournament.match.play_matches` with a deadline), from the state the previous piece
ended in, and returns the curves it recorded and its end state. The driver plays the next piece
from that state and, when ``checkpoint_s`` seconds have passed since the task's last save,
writes the pieces played since then to one file::

    OUT/checkpoints/<task_id>/update-<to>.pt   the task's match ids, the updates (from, to] it
                                               covers, the curves recorded in them, and the
                                               engine's state at ``to`` (torch.save, tensors)

The state at an update is all that the next update reads (parameters, optimisers' state, the
count: the seeding is counter-based), so play resumed from it gives bit for bit the results of
uninterrupted play. Each file is written whole, like a part (:func:`sweeps.store.write_atomic`:
temporary name, fsync, rename, fsync the folder). A resume reads a task's files in order,
keeps the unbroken chain from update 0, and plays the task on from its last state; the task's
folder is removed once its parts are stored (a folder whose matches are stored, or that cannot
be read, is removed by the next run). Work lost to a fault: to an interrupt or a killed driver,
at most ``checkpoint_s + piece_s`` seconds per task; to a lost worker (Ray retries the piece
from its start state), at most ``piece_s``.
"""

from __future__ import annotations

import io
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sweeps import store
from sweeps.plan import PlannedMatch, Task
from tournament.recorder import CURVES, BatchState, MatchResults, join_results

FOLDER = store.CHECKPOINTS


@dataclass
class TaskProgress:
    """A task on its way: the pieces played so far (read back or new); ``saved`` of them are
    in checkpoint files, the last at ``saved_at`` (``time.monotonic()``)."""

    task: Task
    pieces: list[MatchResults] = field(default_factory=list)
    saved: int = 0
    saved_at: float = field(default_factory=time.monotonic)

    @property
    def update(self) -> int:
        """Updates played."""
        return self.pieces[-1].state.update if self.pieces else 0

    @property
    def state(self) -> BatchState | None:
        return self.pieces[-1].state if self.pieces else None


def save(out: Path, progress: TaskProgress) -> None:
    """Write the pieces played since the last save as one checkpoint file."""
    new = progress.pieces[progress.saved :]
    if not new:
        return
    start = progress.pieces[progress.saved - 1].state.update if progress.saved else 0
    piece = join_results(new)
    content = {
        "match_ids": [m.match_id for m in progress.task.matches],
        "from": start,
        "to": piece.state.update,
        "updates": torch.from_numpy(piece.updates),
        "diverged_at": piece.state.diverged_at,
        "state": piece.state.tensors,
        "elapsed_s": piece.elapsed_s,
        "curves": {n: _tensor(getattr(piece, n)) for n in CURVES},
    }
    buffer = io.BytesIO()
    torch.save(content, buffer)
    path = _folder(out, progress.task.task_id) / f"update-{piece.state.update:09d}.pt"
    store.write_atomic(lambda tmp: tmp.write_bytes(buffer.getvalue()), path)
    progress.saved, progress.saved_at = len(progress.pieces), time.monotonic()


def load(out: Path, todo: list[PlannedMatch]) -> list[TaskProgress]:
    """The checkpointed tasks whose matches are all in ``todo`` (not stored), each with its
    pieces read back; other checkpoint folders (stored, unreadable, of another plan) are
    removed."""
    folders = sorted((Path(out) / FOLDER).glob("*"))
    if not folders:
        return []
    by_id = {m.match_id: m for m in todo}
    progress = []
    for folder in folders:
        read = _read(folder, by_id)
        if read is None:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            progress.append(read)
    return progress


def remove(out: Path, task: Task) -> None:
    """A task's checkpoints, once its parts are stored (or it failed: it reruns whole)."""
    shutil.rmtree(_folder(out, task.task_id), ignore_errors=True)


def _read(folder: Path, todo: dict[str, PlannedMatch]) -> TaskProgress | None:
    pieces, ids = [], None
    for path in sorted(folder.glob("update-*.pt")):
        try:
            content = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - any damage: the task reruns from its start
            return None
        expected = pieces[-1].state.update if pieces else 0
        if content["from"] != expected or (ids is not None and content["match_ids"] != ids):
            break  # the chain is broken here: what follows cannot be continued
        ids = content["match_ids"]
        pieces.append(_piece(content))
    if not pieces or not all(m in todo for m in ids):
        return None
    task = Task(tuple(todo[m] for m in ids))
    if task.task_id != folder.name:
        return None
    return TaskProgress(task, pieces, saved=len(pieces))


def _piece(content: dict) -> MatchResults:
    curves = {n: None if t is None else t.numpy() for n, t in content["curves"].items()}
    state = BatchState(content["to"], content["state"], content["diverged_at"])
    return MatchResults(
        updates=content["updates"].numpy(),
        diverged_at=content["diverged_at"].numpy(),
        elapsed_s=content["elapsed_s"],
        state=state,
        **curves,
    )


def _tensor(array: np.ndarray | None) -> torch.Tensor | None:
    return None if array is None else torch.from_numpy(np.ascontiguousarray(array))


def _folder(out: Path, task_id: str) -> Path:
    return Path(out) / FOLDER / task_id
