"""The sweep directory: two hive-partitioned Parquet datasets, the resolved sweep, a lock.

Layout (the tables' schema, the contract with ``analysis/``, is :mod:`sweeps.schema`)::

    OUT/sweep.yaml                              the sweep as resolved, with ``engine`` and
                                                ``schema`` (:data:`sweeps.schema.SCHEMA_VERSION`)
    OUT/matches/game=<game>/part-<task>.parquet one row per match  (schema.MATCHES_SCHEMA)
    OUT/curves/game=<game>/part-<task>.parquet  learning curves    (schema.CURVES_SCHEMA)
    OUT/plan.parquet                            the match ids of sweep.yaml's plan
    OUT/provenance.yaml                         the game's payoffs and one entry per run
    OUT/checkpoints/<task>/update-<u>.pt        long tasks under way (sweeps.checkpoint)
    OUT/.lock                                   flock-ed by the run writing OUT, while it runs

Each task's files are written whole: to ``.<name>.tmp`` in the same folder (readers skip names
starting with ``.``), flushed to disk (``fsync``), renamed, and the folder flushed, so a crash
or power loss leaves either no file or the whole file. Curves are written before matches, so a
match row implies its curve. Before a run, :func:`prepare_resume` removes what an interrupted or
failed run left: temporary files, curves files without their matches file, and matches files of
failed tasks (those matches are run again); :func:`check_parts` then reads every part's footer
(the cheap part of ``lola-arena verify``): a damaged or foreign part stops the run with the
repair to run, so it is never counted as stored.

Readers (:func:`read_matches`, ``analysis.load``, ``analysis.query``) read only the parts
that belong to the sweep (:func:`stored_parts`), with the declared schema: a stray file, a
part of other columns (another tool's), of matches outside ``plan.parquet`` (another sweep's)
or of matches an earlier part holds (surplus) is not read; a part written before a column was
added reads that column as null. ``plan.parquet`` is written with ``sweep.yaml``, so readers
without the engine know the plan.

The lock is the kernel's (``flock`` through ``filelock``): held while the run's process lives,
released by the kernel when it dies, so a ``.lock`` left by a killed run never blocks and two
runs started together never both hold it.

Errors are one line: :class:`SweepDirLocked` and other ``ValueError``\\ s for what the user
chose (exit 2), :class:`StoreError` for a fault while writing (exit 1), both naming the way out.
"""

from __future__ import annotations

import errno
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from sweeps.schema import (
    CURVES_SCHEMA,
    GAME,
    MATCHES_SCHEMA,
    PARTITION_SCHEMA,
    PROVENANCE,
    SCHEMA_VERSION,
)
from sweeps.yamlfile import dump_yaml, read_yaml

LOCK_NAME = ".lock"
SWEEP_FILE = "sweep.yaml"
PLAN_FILE = "plan.parquet"
NO_CURVES = "has no curves file"  # the problem of a matches part without its curves part
CHECKPOINTS = "checkpoints"  # long tasks under way (sweeps.checkpoint)
TABLES = {"matches": MATCHES_SCHEMA, "curves": CURVES_SCHEMA}
PART = re.compile(r"part-[0-9A-Za-z_-]+\.parquet")
RESUME_HINT = "rerun the same command to resume"


class SweepDirLocked(ValueError):
    """Another live run is writing the directory."""


class StoreError(RuntimeError):
    """Writing or reading the sweep directory failed; the message is one line with the way
    out."""


def check_out(out: Path) -> None:
    """Refuse an output path that cannot be a sweep directory, before anything is written: a
    file, a path below a file, a name too long for the file system."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {str(out)!r} is a file, not a directory; choose another --out")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(
                    f"out: {str(out)!r} is below {str(parent)!r}, which is a file; choose "
                    f"another --out"
                )
            break
    longest = max((len(os.fsencode(part)) for part in out.parts), default=0)
    if longest + len(".part-0123456789abcdef.parquet.tmp") > 255:
        raise ValueError(
            f"out: a folder name of {longest} bytes is too long for the file system; choose a "
            f"shorter --out"
        )


def write_task(out: Path, game: str, task_id: str, matches: pa.Table, curves: pa.Table) -> None:
    """Write one task's curves, then its matches, each atomically and durably."""
    name = f"part-{task_id}.parquet"
    write_atomic(lambda tmp: pq.write_table(curves, tmp), out / "curves" / f"game={game}" / name)
    write_atomic(lambda tmp: pq.write_table(matches, tmp), out / "matches" / f"game={game}" / name)


def write_atomic(write, path: Path) -> None:
    """``write(tmp)``, fsync, rename to ``path``, fsync the folder; no ``tmp`` left on error."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise StoreError(_os_error_line(error, path)) from None
    except BaseException:  # an interrupt: leave no temporary file
        tmp.unlink(missing_ok=True)
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _os_error_line(error: OSError, path: Path) -> str:
    """An OS error while writing ``path`` as one line with the way out."""
    cause = error.strerror or type(error).__name__
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"out: no space left writing {str(path)!r} ({cause}); free space, then {RESUME_HINT}"
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"out: cannot write {str(path)!r} ({cause}); choose another --out"
    if error.errno == errno.ENAMETOOLONG:
        return f"out: cannot write {str(path)!r} ({cause}); choose a shorter --out"
    return f"out: cannot write {str(path)!r} ({cause}); fix it, then {RESUME_HINT}"


def part_files(out: Path, table: str) -> list[Path]:
    """The part files of ``table`` (``matches`` or ``curves``), sorted; other files are not
    read."""
    folder = Path(out) / table
    return sorted(p for p in folder.glob("game=*/*.parquet") if PART.fullmatch(p.name))


def read_matches(out: Path, columns: list[str] | None = None) -> pa.Table | None:
    """The stored matches (with ``game``), read with the declared schema, or None when there
    are none."""
    files = stored_parts(out, "matches")
    if not files:
        return None
    import pyarrow.dataset as ds  # here, not on top: it imports pandas, which a sweep need not

    dataset = ds.dataset(
        [str(f) for f in files],
        schema=MATCHES_SCHEMA.append(GAME),
        format="parquet",
        partitioning=ds.partitioning(PARTITION_SCHEMA, flavor="hive"),
        partition_base_dir=str(Path(out) / "matches"),
    )
    return dataset.to_table(columns=columns)


def stored_match_ids(out: Path) -> set[str]:
    table = read_matches(out, ["match_id"])
    return set() if table is None else set(table.column("match_id").to_pylist())


def prepare_resume(out: Path) -> None:
    """Remove leftovers so that the stored matches are exactly the completed, non-failed ones."""
    out = Path(out)
    for tmp in [*out.glob("matches/game=*/.*.tmp"), *out.glob("curves/game=*/.*.tmp")]:
        tmp.unlink()
    for path in part_files(out, "matches"):
        try:
            status = pq.read_table(path, columns=["status"]).column("status").to_pylist()
        except (pa.ArrowException, OSError):
            continue  # damaged: check_parts reports it
        if status and all(s == "failed" for s in status):
            path.unlink()
    for path in part_files(out, "curves"):
        if not (out / "matches" / path.parent.name / path.name).exists():
            path.unlink()


@dataclass
class PartProblem:
    """A part file that cannot be counted as stored: ``path`` relative to the directory."""

    path: str
    problem: str
    # the files to remove so that a resume reruns exactly its matches
    remove: list[str] = field(default_factory=list)


def curve_points(updates: int, record_every: int) -> int:
    """Recorded points per match: update 0, every ``record_every``-th and the last."""
    return 1 + updates // record_every + (1 if updates % record_every else 0)


def check_parts(
    out: Path,
    points: int | None,
    full: bool = False,
    plan: set[str] | None = None,
    strict: bool = True,
) -> list[PartProblem]:
    """The part files that cannot be counted as stored, each with the files to remove:

    - unreadable, or written with another schema: ``strict``, other than the declared one;
      else (readers) a column the declared schema lacks or types it differently, or no
      ``match_id`` (a part written before a column was added reads it as null);
    - foreign: a matches part holding a match not in ``plan`` (the sweep's match ids, None:
      not checked), e.g. a part of another sweep or a file another tool wrote;
    - surplus: a matches part holding a match that an earlier part (by name) holds;
    - a matches part without its curves part, or whose curves part is rejected;
    - with ``points``: a curves part without ``points`` rows per non-failed match.

    Cheap: footers and the matches' ``match_id`` and ``status`` columns; ``full`` reads every
    file whole and checks that the curves hold each such match's points."""
    out = Path(out)
    problems = []
    for table, schema in TABLES.items():
        for path in part_files(out, table):
            problem = _check_file(path, schema, full, strict)
            if problem:
                pair = out / _other(table) / path.parent.name / path.name
                remove = [_rel(out, path), *([_rel(out, pair)] if pair.exists() else [])]
                problems.append(PartProblem(_rel(out, path), problem, remove))
    bad = {p.path for p in problems}
    seen: set[str] = set()
    for path in part_files(out, "matches"):
        curves = out / "curves" / path.parent.name / path.name
        if _rel(out, path) in bad or _rel(out, curves) in bad:
            continue
        if not curves.exists():
            problems.append(PartProblem(_rel(out, path), NO_CURVES, [_rel(out, path)]))
            continue
        table = pq.read_table(path, columns=["match_id", "status"])
        ids, status = (c.to_pylist() for c in table.columns)
        problem = _foreign_or_surplus(ids, plan, seen) or _check_pair(
            ids, status, curves, points, full
        )
        if problem:
            problems.append(
                PartProblem(_rel(out, path), problem, [_rel(out, path), _rel(out, curves)])
            )
        else:
            seen.update(ids)
    return problems


def _foreign_or_surplus(ids: list[str], plan: set[str] | None, seen: set[str]) -> str | None:
    foreign = [m for m in ids if plan is not None and m not in plan]
    if foreign:
        return f"stores {len(foreign)} match(es) not in the sweep's plan, e.g. {foreign[0]}"
    repeated = [m for m in ids if m in seen]
    if repeated:
        return f"stores {len(repeated)} match(es) stored in another part, e.g. {repeated[0]}"
    return None


def _check_file(path: Path, schema: pa.Schema, full: bool, strict: bool) -> str | None:
    try:
        stored = pq.read_schema(path)
        if full:
            pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        return f"unreadable ({_first_line(error)})"
    if stored.equals(schema):
        return None
    declared = {f.name: f.type for f in schema}
    missing = [n for n in schema.names if n not in stored.names]
    extra = [f.name for f in stored if f.name not in declared]
    retyped = [f.name for f in stored if f.name in declared and f.type != declared[f.name]]
    if not strict and not extra and not retyped and "match_id" not in missing:
        return None  # an older part: its missing columns read as null
    what = (
        f"has {', '.join(extra[:3])}"
        if extra
        else f"types {', '.join(retyped[:3])} otherwise"
        if retyped
        else f"lacks {', '.join(missing[:3])}"
    )
    return f"written with another schema ({what})"


def _check_pair(
    ids: list[str], status: list[str], curves: Path, points: int | None, full: bool
) -> str | None:
    played = [m for m, s in zip(ids, status, strict=True) if s != "failed"]
    rows = pq.read_metadata(curves).num_rows
    if points is not None and rows != len(played) * points:
        return f"holds {rows} curve rows, expected {len(played) * points} ({len(played)} matches)"
    if full:
        counts = pq.read_table(curves, columns=["match_id"]).column("match_id")
        counts = counts.value_counts().to_pylist()
        per_match = {c["values"]: c["counts"] for c in counts}
        if set(per_match) != set(played):
            return "holds curves of other matches than its matches file"
        if points is not None and set(per_match.values()) - {points}:
            return f"holds other than {points} curve rows for some match"
    return None


def stored_parts(out: Path, table: str) -> list[Path]:
    """The part files of ``table`` that readers read: those :func:`check_parts` accepts
    (declared columns, matches of the stored plan ``plan.parquet`` when there is one, each
    match once, each matches part beside its curves part). Other files are not read. The
    check runs again only when a part or the plan changed (size or time)."""
    out = Path(out)
    seen = []
    for f in [*part_files(out, "matches"), *part_files(out, "curves"), out / PLAN_FILE]:
        try:
            stat = f.stat()
        except FileNotFoundError:
            continue
        seen.append((str(f), stat.st_mtime_ns, stat.st_size))
    matches, curves = _accepted_parts(out, tuple(seen))
    return list(matches if table == "matches" else curves)


@functools.lru_cache(maxsize=16)
def _accepted_parts(out: Path, _files: tuple) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """The accepted matches and curves parts of ``out`` whose files were ``_files``."""
    rejected = set()
    for problem in check_parts(out, None, plan=read_plan(out), strict=False):
        rejected.update(problem.remove)
        rejected.add(problem.path)
    matches = tuple(p for p in part_files(out, "matches") if _rel(out, p) not in rejected)
    names = {(p.parent.name, p.name) for p in matches}  # no curves without their matches
    curves = tuple(p for p in part_files(out, "curves") if (p.parent.name, p.name) in names)
    return matches, curves


def write_plan(out: Path, match_ids) -> None:
    """``OUT/plan.parquet``: the match ids of the sweep in ``sweep.yaml`` (sorted), written
    with it, so that readers without the engine know which rows belong to the sweep."""
    ids = pa.table({"match_id": pa.array(sorted(match_ids), pa.string())})
    write_atomic(lambda tmp: pq.write_table(ids, tmp), Path(out) / PLAN_FILE)


def read_plan(out: Path) -> set[str] | None:
    """The stored plan's match ids (None without ``plan.parquet``: a directory written before
    it existed, whose parts are then not checked against a plan)."""
    path = Path(out) / PLAN_FILE
    if not path.is_file():
        return None
    try:
        return set(pq.read_table(path, columns=["match_id"]).column("match_id").to_pylist())
    except (pa.ArrowException, OSError, KeyError) as error:
        raise ValueError(
            f"out: {str(path)!r} is damaged ({_first_line(error)}); run `lola-arena verify "
            f"{out} --repair` to write it again from sweep.yaml"
        ) from None


def _other(table: str) -> str:
    return "curves" if table == "matches" else "matches"


def _rel(out: Path, path: Path) -> str:
    return str(path.relative_to(out))


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def stray_files(out: Path) -> list[str]:
    """Files in the dataset folders that readers ignore (not part files, not hidden)."""
    out = Path(out)
    found = []
    for table in TABLES:
        parts = set(part_files(out, table))
        for path in sorted((out / table).rglob("*")):
            hidden = any(p.startswith(".") for p in path.relative_to(out).parts)
            if path.is_file() and path not in parts and not hidden:
                found.append(_rel(out, path))
    return found


def has_results(out: Path) -> bool:
    return bool(part_files(out, "matches") or part_files(out, "curves"))


def read_stored_sweep(out: Path) -> dict | None:
    """``OUT/sweep.yaml`` (None when there is none); a damaged one is a one-line error."""
    path = Path(out) / SWEEP_FILE
    if not path.exists():
        return None
    try:
        stored = read_yaml(path, "out")
    except ValueError as error:
        raise ValueError(
            f"{error}; sweep.yaml is damaged: restore it, or move it away and {RESUME_HINT} "
            f"(stored matches are known by their ids)"
        ) from None
    if not isinstance(stored, dict):
        raise ValueError(
            f"out: {str(path)!r} is not a resolved sweep (a mapping); restore it, or move it "
            f"away and {RESUME_HINT}"
        )
    return stored


def check_same_sweep(out: Path, resolved: dict, ignore: tuple[str, ...]) -> None:
    """Refuse to add a different sweep's matches to a directory (``ignore``: run settings and
    what may grow, such as the seeds), or to write into one of another stored schema."""
    stored = read_stored_sweep(out)
    if stored is None:
        return
    version = stored.get("schema", 1)  # directories written before the version was stored
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"out: {str(out)!r} was written with stored schema version {version!r}; this "
            f"lola-arena writes version {SCHEMA_VERSION}: choose another --out"
        )
    for key in resolved:
        if key not in ignore and stored.get(key) != resolved[key]:
            raise ValueError(
                f"out: {str(out)!r} holds another sweep ({key} differs: {stored.get(key)!r} "
                f"stored, {resolved[key]!r} now); choose another --out"
            )


def write_resolved_sweep(out: Path, resolved: dict) -> None:
    _write_yaml(Path(out) / SWEEP_FILE, {**resolved, "schema": SCHEMA_VERSION})


def stored_seeds(out: Path) -> list[int] | None:
    """The seeds of the sweep stored in ``out`` (None when it holds none)."""
    stored = read_stored_sweep(out)
    return None if stored is None else stored.get("seeds")


def record_run(out: Path, game: dict, run: dict, update: bool = False) -> None:
    """Set the game of ``OUT/provenance.yaml`` and add ``run`` to its runs (``update``: replace
    the last run instead; a run records itself when it starts and again when it ends)."""
    path = Path(out) / PROVENANCE
    try:
        record = (read_yaml(path, "out") or {}) if path.exists() else {}
    except ValueError as error:
        raise ValueError(
            f"{error}; provenance.yaml is damaged: restore it, or move it away and {RESUME_HINT}"
        ) from None
    runs = (record.get("runs") if isinstance(record, dict) else None) or []
    if update and runs:
        runs[-1] = run
    else:
        runs.append(run)
    _write_yaml(path, {"game": game, "runs": runs})


def _write_yaml(path: Path, content: dict) -> None:
    text = dump_yaml(content)
    write_atomic(lambda tmp: tmp.write_text(text), path)


class DirLock:
    """``OUT/.lock``, locked with the kernel's ``flock`` while the run lives: refuses a second
    live run on the same directory; the kernel releases it when the holder exits or dies."""

    def __init__(self, out: Path):
        self.path = Path(out) / LOCK_NAME
        self._lock = FileLock(self.path, timeout=0)

    def __enter__(self):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except Timeout:
            raise SweepDirLocked(
                f"out: {str(self.path.parent)!r} is being written by another run (it holds "
                f"{str(self.path)!r}); wait for it to end or use another --out"
            ) from None
        except OSError as error:
            chosen = error.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG)
            raise (ValueError if chosen else StoreError)(_os_error_line(error, self.path)) from None
        return self

    def __exit__(self, *exc):
        self._lock.release()
