"""The sweep directory: two hive-partitioned Parquet datasets, the resolved sweep, a lock.

Layout (the tables' schema, the contract with ``analysis/``, is :mod:`sweeps.schema`)::

    OUT/sweep.yaml                              the sweep as resolved
    OUT/matches/game=<game>/part-<task>.parquet one row per match  (schema.MATCHES_SCHEMA)
    OUT/curves/game=<game>/part-<task>.parquet  learning curves    (schema.CURVES_SCHEMA)
    OUT/provenance.yaml                         the game's payoffs and one entry per run
    OUT/.lock                                   pid of the run writing OUT, while it runs

Each task's files are written whole: to ``.<name>.tmp`` in the same folder (readers skip names
starting with ``.``), then renamed. Curves are written before matches, so a match row implies
its curve. Before a run, :func:`prepare_resume` removes what an interrupted or failed run left:
temporary files, curves files without their matches file, and matches files of failed tasks
(those matches are run again).
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import yaml

from sweeps.schema import PROVENANCE

LOCK_NAME = ".lock"


class SweepDirLocked(ValueError):
    """Another live run is writing the directory."""


def write_task(out: Path, game: str, task_id: str, matches: pa.Table, curves: pa.Table) -> None:
    """Write one task's curves, then its matches, each atomically."""
    name = f"part-{task_id}.parquet"
    _write_atomic(curves, out / "curves" / f"game={game}" / name)
    _write_atomic(matches, out / "matches" / f"game={game}" / name)


def _write_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_matches(out: Path, columns: list[str] | None = None) -> pa.Table | None:
    """The stored matches (with ``game``), or None when there are none."""
    folder = Path(out) / "matches"
    if not any(folder.glob("game=*/*.parquet")):
        return None
    return ds.dataset(folder, format="parquet", partitioning="hive").to_table(columns=columns)


def stored_match_ids(out: Path) -> set[str]:
    table = read_matches(out, ["match_id"])
    return set() if table is None else set(table.column("match_id").to_pylist())


def prepare_resume(out: Path) -> None:
    """Remove leftovers so that the stored matches are exactly the completed, non-failed ones."""
    out = Path(out)
    for tmp in [*out.glob("matches/game=*/.*.tmp"), *out.glob("curves/game=*/.*.tmp")]:
        tmp.unlink()
    for path in out.glob("matches/game=*/*.parquet"):
        status = pq.read_table(path, columns=["status"]).column("status").to_pylist()
        if status and all(s == "failed" for s in status):
            path.unlink()
    for path in out.glob("curves/game=*/*.parquet"):
        if not (out / "matches" / path.parent.name / path.name).exists():
            path.unlink()


def has_results(out: Path) -> bool:
    out = Path(out)
    return any(out.glob("matches/game=*/*.parquet")) or any(out.glob("curves/game=*/*.parquet"))


def check_same_sweep(out: Path, resolved: dict, ignore: tuple[str, ...]) -> None:
    """Refuse to add a different sweep's matches to a directory (``ignore``: run settings and
    what may grow, such as the seeds)."""
    path = Path(out) / "sweep.yaml"
    if not path.exists():
        return
    stored = yaml.safe_load(path.read_text()) or {}
    for key in resolved:
        if key not in ignore and stored.get(key) != resolved[key]:
            raise ValueError(
                f"out: {str(out)!r} holds another sweep ({key} differs: {stored.get(key)!r} "
                f"stored, {resolved[key]!r} now); choose another --out"
            )


def write_resolved_sweep(out: Path, resolved: dict) -> None:
    _write_yaml(Path(out) / "sweep.yaml", resolved)


def stored_seeds(out: Path) -> list[int] | None:
    """The seeds of the sweep stored in ``out`` (None when it holds none)."""
    path = Path(out) / "sweep.yaml"
    if not path.exists():
        return None
    return (yaml.safe_load(path.read_text()) or {}).get("seeds")


def record_run(out: Path, game: dict, run: dict, update: bool = False) -> None:
    """Set the game of ``OUT/provenance.yaml`` and add ``run`` to its runs (``update``: replace
    the last run instead; a run records itself when it starts and again when it ends)."""
    path = Path(out) / PROVENANCE
    record = (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
    runs = record.get("runs") or []
    if update and runs:
        runs[-1] = run
    else:
        runs.append(run)
    _write_yaml(path, {"game": game, "runs": runs})


def _write_yaml(path: Path, content: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(content, sort_keys=False, default_flow_style=None))
    os.replace(tmp, path)


class DirLock:
    """``OUT/.lock`` created with O_CREAT | O_EXCL, holding the pid; a dead pid's lock is taken
    over. Refuses a second live run on the same directory."""

    def __init__(self, out: Path):
        self.path = Path(out) / LOCK_NAME

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = _read_pid(self.path)
                if _alive(pid) if pid is not None else _age_s(self.path) < 5:
                    raise SweepDirLocked(
                        f"out: {str(self.path.parent)!r} is being written by another run "
                        f"(pid {pid}); wait for it or use another --out"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise SweepDirLocked(f"out: cannot take the lock {str(self.path)!r}")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _age_s(path: Path) -> float:
    """Seconds since the lock was written (a lock without a pid yet is being written)."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as error:
        return error.errno == errno.EPERM
    return True
