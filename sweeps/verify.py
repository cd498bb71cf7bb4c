"""``lola-arena verify OUT``: is every file of a sweep directory whole, and what is missing?

Checks, from the cheap to the thorough: ``sweep.yaml`` readable and of this schema version;
every part file readable with the declared schema (:func:`sweeps.store.check_parts`, here with
``full``: each file read whole); each matches part beside its curves part, holding each played
match's curve points; no match stored twice; the stored matches against the plan of the stored
sweep (missing, failed, not planned). What an interrupted run leaves (temporary files, curves
without their matches) and files that readers ignore are listed as notes: they are no damage.

``repair`` removes what cannot be counted as stored: damaged parts with their pair, parts that
store a match a second time, temporary files, curves without their matches file. A resume then
reruns exactly the matches they held. Nothing else is touched (a stray file is not ours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from sweeps import store
from sweeps.schema import SCHEMA_VERSION

CLEANED = "a resume or --repair removes it"


@dataclass
class VerifyReport:
    out: Path
    planned: int | None = None
    stored: int = 0
    failed: int = 0
    missing: int | None = None
    unplanned: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every file whole (missing or failed matches are for a resume to run, not faults)."""
        return not self.problems

    def lines(self) -> list[str]:
        planned = "?" if self.planned is None else f"{self.planned:,}"
        lines = [f"verify: {self.out}: {self.stored:,} of {planned} planned matches stored"]
        if self.failed:
            lines.append(f"  {self.failed:,} failed (a resume runs them again)")
        if self.missing:
            lines.append(f"  {self.missing:,} missing (a resume runs them)")
        if self.unplanned:
            lines.append(f"  {self.unplanned:,} stored matches are not in the stored sweep's plan")
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  removed: {r}" for r in self.removed]
        if self.problems:
            lines.append(f"damaged: run `lola-arena verify {self.out} --repair`, then resume")
        elif self.removed:
            lines.append("repaired: rerun the sweep's command to run the removed matches again")
        else:
            lines.append("ok: every file is whole")
        return lines


def verify(out: str | Path, repair: bool = False) -> VerifyReport:
    """Check the sweep directory ``out`` (see the module docstring); ``repair`` removes what
    cannot be counted as stored. A directory that is not a sweep's is a ``ValueError``."""
    out = Path(out)
    if not out.is_dir():
        raise ValueError(f"out: {str(out)!r} is not a directory")
    report = VerifyReport(out)
    config = _stored_config(out, report)
    if config is None and not store.has_results(out):
        raise ValueError(f"out: {str(out)!r} holds no sweep (no sweep.yaml, no part files)")
    points = None
    if config is not None:
        points = store.curve_points(config.updates, config.record_every)
    removable: list[str] = []
    for tmp in sorted([*out.glob("matches/game=*/.*.tmp"), *out.glob("curves/game=*/.*.tmp")]):
        report.notes.append(f"{tmp.relative_to(out)}: left by an interrupted write; {CLEANED}")
        removable.append(str(tmp.relative_to(out)))
    for curves in store.part_files(out, "curves"):
        if not (out / "matches" / curves.parent.name / curves.name).exists():
            rel = str(curves.relative_to(out))
            report.notes.append(f"{rel}: curves without their matches file; {CLEANED}")
            removable.append(rel)
    for problem in store.check_parts(out, points, full=True):
        report.problems.append(f"{problem.path}: {problem.problem}")
        removable += problem.remove
    bad = set(removable)
    ids = _stored_ids(out, bad, report, removable)
    report.stored = len(ids)
    report.failed = sum(1 for status in ids.values() if status == "failed")
    if config is not None:
        from sweeps.plan import plan_matches

        planned = {m.match_id for m in plan_matches(config)}
        report.planned = len(planned)
        report.missing = len(planned - set(ids))
        report.unplanned = len(set(ids) - planned)
    report.notes += [f"{s}: not a part file; readers ignore it" for s in store.stray_files(out)]
    if repair and removable:
        removed = []
        for rel in dict.fromkeys(removable):
            (out / rel).unlink(missing_ok=True)
            removed.append(rel)
        report = verify(out)  # what is left, counted again
        report.removed = removed
    return report


def _stored_config(out: Path, report: VerifyReport):
    """The stored sweep, re-validated (None, with a problem or note, when it cannot be)."""
    from sweeps.config import parse_sweep
    from tournament.match import ENGINE_VERSION

    try:
        stored = store.read_stored_sweep(out)
    except ValueError as error:
        report.problems.append(str(error))
        return None
    if stored is None:
        report.problems.append("sweep.yaml: missing; the plan is unknown")
        return None
    version = stored.get("schema", 1)
    if version != SCHEMA_VERSION:
        report.problems.append(
            f"sweep.yaml: stored schema version {version!r}, this lola-arena reads {SCHEMA_VERSION}"
        )
    engine = stored.get("engine")
    if engine != ENGINE_VERSION:
        report.notes.append(
            f"sweep.yaml: engine {engine!r}, this lola-arena's is {ENGINE_VERSION}: the plan's "
            f"match ids differ, so stored matches are not compared with it"
        )
        return None
    raw = {k: v for k, v in stored.items() if k not in ("engine", "schema")}
    try:
        return parse_sweep(raw)
    except ValueError as error:
        report.problems.append(f"sweep.yaml: not a valid sweep ({error})")
        return None


def _stored_ids(out: Path, bad: set[str], report: VerifyReport, removable: list[str]) -> dict:
    """match id -> status over the whole matches parts; a part that stores a match a second
    time is a problem (removable: its matches are stored in an earlier part)."""
    ids: dict[str, str] = {}
    for path in store.part_files(out, "matches"):
        rel = str(path.relative_to(out))
        if rel in bad:
            continue
        table = pq.read_table(path, columns=["match_id", "status"])
        rows = list(zip(*(c.to_pylist() for c in table.columns), strict=True))
        repeated = [m for m, _ in rows if m in ids]
        if repeated:
            report.problems.append(
                f"{rel}: stores {len(repeated)} match(es) stored in another part, e.g. "
                f"{repeated[0]}"
            )
            pair = out / "curves" / path.parent.name / path.name
            removable += [rel, *([str(pair.relative_to(out))] if pair.exists() else [])]
            continue
        ids.update(rows)
    return ids
