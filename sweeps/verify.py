"""``lola-arena verify OUT``: is every file of a sweep directory whole, and what is missing?

Checks, from the cheap to the thorough: ``sweep.yaml`` readable and of this schema version, and
``plan.parquet`` (what readers check parts against) the plan of ``sweep.yaml``; every part file
readable with the declared schema (:func:`sweeps.store.check_parts`, here with ``full``: each
file read whole); each matches part beside its curves part, holding each played match's curve
points; no part holding a match not in the plan (foreign: another sweep's part, a file another
tool wrote) or a match that another part holds (surplus); the stored matches against the plan
(missing, failed). What an interrupted run leaves (temporary files, curves without their
matches, checkpoints of tasks under way) and files that readers ignore are listed as notes:
they are no damage.

``repair`` removes what cannot be counted as stored: damaged, foreign and surplus parts with
their pair, temporary files, curves without their matches file, and writes ``plan.parquet``
again from ``sweep.yaml``. A resume then reruns exactly the matches they held. Nothing else is
touched (a stray file is not ours). A missing or damaged ``sweep.yaml`` is not for ``repair``:
its line says what restores it.
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
    problems: list[str] = field(default_factory=list)
    # problems that --repair cannot fix, each naming what restores it
    unrepairable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every file whole (missing or failed matches are for a resume to run, not faults)."""
        return not self.problems and not self.unrepairable

    def lines(self) -> list[str]:
        planned = "?" if self.planned is None else f"{self.planned:,}"
        lines = [f"verify: {self.out}: {self.stored:,} of {planned} planned matches stored"]
        if self.failed:
            lines.append(f"  {self.failed:,} failed (a resume runs them again)")
        if self.missing:
            lines.append(f"  {self.missing:,} missing (a resume runs them)")
        lines += [f"  problem: {p}" for p in [*self.unrepairable, *self.problems]]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  removed: {r}" for r in self.removed]
        if self.unrepairable:
            lines.append(f"damaged: {self.unrepairable[0]}")
        elif self.problems:
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
    if config is None and not store.has_results(out) and not report.unrepairable:
        raise ValueError(f"out: {str(out)!r} holds no sweep (no sweep.yaml, no part files)")
    points, planned, rewrite_plan = None, None, False
    if config is not None:
        from sweeps.plan import plan_matches

        points = store.curve_points(config.updates, config.record_every)
        planned = {m.match_id for m in plan_matches(config)}
        report.planned = len(planned)
        rewrite_plan = _check_plan_file(out, planned, report)
    removable: list[str] = []
    for tmp in sorted([*out.glob("matches/game=*/.*.tmp"), *out.glob("curves/game=*/.*.tmp")]):
        report.notes.append(f"{tmp.relative_to(out)}: left by an interrupted write; {CLEANED}")
        removable.append(str(tmp.relative_to(out)))
    for curves in store.part_files(out, "curves"):
        if not (out / "matches" / curves.parent.name / curves.name).exists():
            rel = str(curves.relative_to(out))
            report.notes.append(f"{rel}: curves without their matches file; {CLEANED}")
            removable.append(rel)
    for problem in store.check_parts(out, points, full=True, plan=planned):
        report.problems.append(f"{problem.path}: {problem.problem}")
        removable += problem.remove
    ids = _stored_ids(out, set(removable))
    report.stored = len(ids)
    report.failed = sum(1 for status in ids.values() if status == "failed")
    if planned is not None:
        report.missing = len(planned - set(ids))
    report.notes += [f"{s}: not a part file; readers ignore it" for s in store.stray_files(out)]
    for folder in sorted((out / store.CHECKPOINTS).glob("*")):
        saved = sorted(folder.glob("update-*.pt"))
        if saved:
            update = int(saved[-1].stem.split("-")[1])
            report.notes.append(
                f"{folder.relative_to(out)}: a task under way, saved at update {update:,}; "
                f"a resume continues it"
            )
    if repair and (removable or rewrite_plan):
        removed = []
        for rel in dict.fromkeys(removable):
            (out / rel).unlink(missing_ok=True)
            removed.append(rel)
        if rewrite_plan:
            store.write_plan(out, planned)
            removed.append(f"{store.PLAN_FILE} (written again from sweep.yaml)")
        report = verify(out)  # what is left, counted again
        report.removed = removed
    return report


def _check_plan_file(out: Path, planned: set[str], report: VerifyReport) -> bool:
    """Whether ``plan.parquet`` (what readers check parts against) must be written again: it
    is damaged or not the plan of ``sweep.yaml`` (problems), or missing (a note: a directory
    written before it existed)."""
    try:
        stored = store.read_plan(out)
    except ValueError:
        stored = False
    if stored is None:
        report.notes.append(
            f"{store.PLAN_FILE}: missing, so readers do not check parts against the plan; "
            f"--repair writes it from sweep.yaml"
        )
    elif stored != planned:
        what = "damaged" if stored is False else "not the plan of sweep.yaml"
        report.problems.append(f"{store.PLAN_FILE}: {what}; --repair writes it from sweep.yaml")
    return stored != planned


def _stored_config(out: Path, report: VerifyReport):
    """The stored sweep, re-validated (None, with a problem or note, when it cannot be)."""
    from sweeps.config import parse_sweep
    from tournament.match import ENGINE_VERSION

    try:
        stored = store.read_stored_sweep(out)
    except ValueError as error:
        report.unrepairable.append(str(error))
        return None
    if stored is None:
        report.unrepairable.append(
            f"{store.SWEEP_FILE} is missing, so the plan is unknown; restore it, or rerun the "
            f"sweep's command with --out {out}: it writes {store.SWEEP_FILE} again and resumes"
        )
        return None
    version = stored.get("schema", 1)
    if version != SCHEMA_VERSION:
        report.unrepairable.append(
            f"sweep.yaml: stored schema version {version!r}, this lola-arena reads "
            f"{SCHEMA_VERSION}; read it with the lola-arena that wrote it"
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
        report.unrepairable.append(
            f"sweep.yaml: not a valid sweep ({error}); restore it, or move it away and rerun "
            f"the sweep's command with --out {out}"
        )
        return None


def _stored_ids(out: Path, bad: set[str]) -> dict:
    """match id -> status over the matches parts that count as stored."""
    ids: dict[str, str] = {}
    for path in store.part_files(out, "matches"):
        if str(path.relative_to(out)) not in bad:
            table = pq.read_table(path, columns=["match_id", "status"])
            ids.update(zip(*(c.to_pylist() for c in table.columns), strict=True))
    return ids
