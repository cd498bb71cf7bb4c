"""Read a sweep's Parquet dataset into pandas, filtering where the data lies.

A sweep directory holds ``matches/`` (one row per match) and ``curves/`` (one row per match and
recorded update), both hive-partitioned by ``game``, and ``sweep.yaml``. The schema of those
tables, :mod:`sweeps.schema`, is the contract between ``sweeps/`` and this package; nothing
here imports the engine.

Filters are pushed down to pyarrow, so only the row groups and partitions that can match are
read. Per-side filters (:data:`SIDE_FILTERS`: ``agent``, ``kind`` and every stored option,
e.g. ``lr``, ``lookahead``) keep a match when either side matches (``sides="any"``, "every
match X took part in") or when both do (``sides="both"``, "the sub-tournament among these
agents").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from sweeps.schema import (
    CURVES_SCHEMA,
    GAME,
    MATCHES_SCHEMA,
    PARTITION_SCHEMA,
    PROVENANCE,
    STORED_OPTION_NAMES,
)
from sweeps.store import NO_CURVES, check_parts, read_plan, stored_parts
from sweeps.yamlfile import read_yaml

PARTITIONING = ds.partitioning(PARTITION_SCHEMA, flavor="hive")
# Each table is read with its declared schema: a column missing from older files reads as null.
SCHEMAS = {"matches": MATCHES_SCHEMA.append(GAME), "curves": CURVES_SCHEMA.append(GAME)}

SweepDirs = str | Path | Sequence[str | Path]
# The filters of one side's columns (``<name>_a``, ``<name>_b``) of the matches table.
SIDE_FILTERS = ("agent", "kind", *STORED_OPTION_NAMES)


# The checkout that holds this package: relative sweep paths such as the notebooks' default
# ``results/quick`` are also looked up from here.
CHECKOUT = Path(__file__).resolve().parents[1]


def find_sweep_dir(sweep_dir: str | Path) -> Path:
    """``sweep_dir`` as given when it exists, else a relative path taken from the lola-arena
    checkout (where ``make run`` writes ``results/``), so a notebook finds its default
    wherever it runs; a one-line ``ValueError`` when neither exists."""
    path = Path(sweep_dir)
    if path.is_dir() or path.is_absolute():
        return path
    if (CHECKOUT / path).is_dir():
        return CHECKOUT / path
    raise ValueError(
        f"sweep_dir: {str(path)!r} is neither in {str(Path.cwd())!r} nor in the checkout "
        f"{str(CHECKOUT)!r}; run `make run` (it writes results/quick) or give a sweep directory"
    )


def as_dirs(sweep_dirs: SweepDirs) -> list[Path]:
    if isinstance(sweep_dirs, str | Path):
        return [Path(sweep_dirs)]
    return [Path(d) for d in sweep_dirs]


def _as_list(value) -> list | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def stored_files(sweep_dir: str | Path, table: str) -> list[Path]:
    """The part files of ``table`` in its ``game=<game>/`` folders that belong to the sweep
    (:func:`sweeps.store.stored_parts`: declared columns, matches of its plan, each match once,
    with their curves); other files (hidden, temporary, stray, foreign) are not read."""
    return stored_parts(Path(sweep_dir), table)


def has_table(sweep_dir: str | Path, table: str) -> bool:
    """Whether ``sweep_dir/table`` (``matches`` or ``curves``) holds any Parquet file."""
    return bool(stored_files(sweep_dir, table))


def _dataset(sweep_dir: Path, table: str) -> ds.Dataset:
    path = sweep_dir / table
    files = stored_files(sweep_dir, table)
    if not files:
        raise ValueError(
            f"sweep_dir: no {table} dataset at {path} (expected Parquet files under "
            f"{table}/game=<game>/; run `lola-arena sweep` first)"
        )
    return ds.dataset(
        [str(f) for f in files],
        schema=SCHEMAS[table],
        format="parquet",
        partitioning=PARTITIONING,
        partition_base_dir=str(path),
    )


def _conjunction(terms: list) -> ds.Expression | None:
    expression = None
    for term in terms:
        expression = term if expression is None else expression & term
    return expression


def read_table(sweep_dir: str | Path, table: str, terms: list, columns=None) -> pa.Table:
    """One table (``matches`` or ``curves``) of one sweep directory as Arrow, filtered by the
    conjunction of the pyarrow expressions ``terms`` (pushed down to the Parquet files)."""
    dataset = _dataset(Path(sweep_dir), table)
    return dataset.to_table(columns=columns, filter=_conjunction(terms))


def iter_batches(
    sweep_dir: str | Path, table: str, terms: list, columns=None
) -> Iterator[pa.RecordBatch]:
    """:func:`read_table` one record batch at a time, one file after the other: memory stays at
    about one batch, where a whole table read in parallel holds several times its size."""
    dataset = _dataset(Path(sweep_dir), table)
    yield from dataset.to_batches(
        columns=columns,
        filter=_conjunction(terms),
        use_threads=False,
        batch_readahead=0,
        fragment_readahead=0,
    )


def _read(sweep_dirs: SweepDirs, table: str, terms: list, columns=None) -> pd.DataFrame:
    """One table of every sweep directory, filtered by the conjunction of ``terms``."""
    frames = [read_table(d, table, terms, columns).to_pandas() for d in as_dirs(sweep_dirs)]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _side_filters(filters: dict) -> dict[str, list]:
    """The given per-side filters (:data:`SIDE_FILTERS`), each as a list of values."""
    unknown = sorted(set(filters) - set(SIDE_FILTERS))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown filter; accepted: {', '.join(SIDE_FILTERS)}")
    return {k: _as_list(v) for k, v in filters.items() if v is not None}


def _match_terms(
    *, game=None, seed=None, status=None, sides: str = "any", **side_filters
) -> list[ds.Expression]:
    """The pyarrow filter terms (to be and-ed) of :func:`load_matches`'s filters."""
    if sides not in ("any", "both"):
        raise ValueError(f"sides: must be 'any' or 'both', got {sides!r}")
    terms = []
    for column, value in (("game", game), ("seed", seed), ("status", status)):
        values = _as_list(value)
        if values is not None:
            terms.append(ds.field(column).isin(values))
    for column, values in _side_filters(side_filters).items():
        side_a = ds.field(f"{column}_a").isin(values)
        side_b = ds.field(f"{column}_b").isin(values)
        terms.append((side_a | side_b) if sides == "any" else (side_a & side_b))
    return terms


def load_matches(
    sweep_dirs: SweepDirs,
    *,
    game=None,
    seed=None,
    status=None,
    sides: str = "any",
    columns: Sequence[str] | None = None,
    **side_filters,
) -> pd.DataFrame:
    """The matches of one or several sweep directories, concatenated, one row per match.

    Each filter (``game``, ``seed``, ``status`` and the per-side :data:`SIDE_FILTERS`, e.g.
    ``kind="lola"``, ``lookahead=[1, 2]``) takes a value or a list of values. Rows of several
    sweeps keep their ``sweep`` column, so the same agent label in two sweeps is two samples of
    the same agent.
    """
    terms = _match_terms(game=game, seed=seed, status=status, sides=sides, **side_filters)
    matches = _read(sweep_dirs, "matches", terms, columns)
    order = [c for c in ("game", "agent_a", "agent_b", "seed") if c in matches.columns]
    return matches.sort_values(order, ignore_index=True)


def load_sides(
    sweep_dirs: SweepDirs,
    *,
    game=None,
    seed=None,
    status=None,
    **side_filters,
) -> pd.DataFrame:
    """The long view: one row per agent per match (:func:`analysis.summary.sides`), keeping the
    rows whose agent passes the per-side filters (:data:`SIDE_FILTERS`), whichever side it
    played: ``load_sides(d, kind="nl")`` is every match of every nl agent. The filters are
    pushed down to Parquet first (matches where either side passes)."""
    from analysis.summary import sides

    matches = load_matches(sweep_dirs, game=game, seed=seed, status=status, **side_filters)
    rows = sides(matches, measures=False)
    for column, values in _side_filters(side_filters).items():
        rows = rows[rows[column].isin(values)]
    return rows.reset_index(drop=True)


def load_curves(
    sweep_dirs: SweepDirs,
    match_ids: Iterable[str] | None = None,
    *,
    game=None,
) -> pd.DataFrame:
    """The learning curves (one row per match and recorded update) of the given matches."""
    terms = []
    if match_ids is not None:
        terms.append(ds.field("match_id").isin(list(match_ids)))
    if game is not None:
        terms.append(ds.field("game").isin(_as_list(game)))
    curves = _read(sweep_dirs, "curves", terms)
    return curves.sort_values(["match_id", "update"], ignore_index=True)


def check_sweep_dirs(sweep_dirs: SweepDirs) -> None:
    """Read each directory's YAML files (``sweep.yaml``, ``provenance.yaml``) first, and look
    for its ``curves/``, so that a damaged or missing one is a one-line ``ValueError`` before
    any work."""
    for sweep_dir in as_dirs(sweep_dirs):
        load_sweep_config(sweep_dir)
        _check_curves(Path(sweep_dir))
        provenance = Path(sweep_dir) / PROVENANCE
        if provenance.is_file():
            read_yaml(provenance, "sweep_dir")


def _check_curves(sweep_dir: Path) -> None:
    """Each matches part has its curves part (a match is stored with its curves): a deleted
    ``curves/`` or curves part is a one-line ``ValueError`` naming it and the way back."""
    curves = sweep_dir / "curves"
    problems = check_parts(sweep_dir, None, plan=read_plan(sweep_dir), strict=False)
    missing = [
        curves / Path(p.path).relative_to("matches") for p in problems if p.problem == NO_CURVES
    ]
    if not missing:
        return
    what = f"{str(curves)!r} is missing" if not curves.exists() else f"{str(missing[0])!r} and "
    if curves.exists():
        what += f"{len(missing) - 1} other curves part(s) are missing"
    raise ValueError(
        f"sweep_dir: {what} (the learning curves), so their matches do not count as stored; "
        f"run `lola-arena verify {sweep_dir} --repair`, then the sweep's command with --out "
        f"{sweep_dir} to play them again"
    )


def load_sweep_config(sweep_dir: str | Path) -> dict:
    """The resolved sweep file stored with the results (empty if the sweep has none)."""
    path = Path(sweep_dir) / "sweep.yaml"
    if not path.is_file():
        return {}
    config = read_yaml(path, "sweep_dir")
    if not isinstance(config, dict):
        raise ValueError(f"sweep_dir: {str(path)!r} is not a resolved sweep (a mapping)")
    return config
