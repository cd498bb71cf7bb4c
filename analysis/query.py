"""SQL over one or several sweep directories with DuckDB (the ``query`` extra).

:func:`connect` opens an in-memory DuckDB with three views over the Parquet files, read where
they lie (DuckDB pushes filters and column choices down to the files):

- ``matches``: one row per match (:data:`sweeps.schema.MATCHES_SCHEMA`, with ``game``);
- ``curves``: one row per match and recorded update (:data:`sweeps.schema.CURVES_SCHEMA`);
- ``sides``: the long view, one row per agent per match (:func:`analysis.summary.side_columns`:
  ``match_id, side, agent, kind, opponent, opponent_kind, seed, reward, opponent_reward,
  p_coop_*`` and the agent's options), so "all of nl's matches" is ``WHERE kind = 'nl'``
  whichever side nl played. A self-play match gives two rows, one per side.

:func:`query` runs one statement and returns a DataFrame or writes CSV or Parquet.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.load import SweepDirs, as_dirs, has_table, stored_files
from analysis.summary import side_columns

TABLES = ("matches", "curves", "sides")
FORMATS = ("csv", "parquet")


def _files(dirs: list[Path], table: str) -> str:
    """A DuckDB list literal of the part files of ``table`` that belong to each sweep
    (:func:`analysis.load.stored_files`)."""
    paths = [str(f).replace("'", "''") for d in dirs for f in stored_files(d, table)]
    return "[" + ", ".join(f"'{p}'" for p in paths) + "]"


def sides_sql(matches: str = "matches") -> str:
    """The ``sides`` view's SELECT over the relation ``matches``: each side's row, side a's then
    side b's (column names and order as :func:`analysis.summary.side_columns`)."""
    selects = []
    for me, other in (("a", "b"), ("b", "a")):
        columns = []
        for name, source in side_columns(me, other).items():
            value = f"'{me}'" if name == "side" else source
            columns.append(f"{value} AS {name}")
        selects.append(f"SELECT {', '.join(columns)} FROM {matches}")
    return "\nUNION ALL\n".join(selects)


def connect(sweep_dirs: SweepDirs):
    """An in-memory DuckDB connection with the views ``matches``, ``curves`` (when every
    directory has curves) and ``sides`` over the sweep directories."""
    try:
        import duckdb
    except ImportError:
        raise ValueError(
            "query: needs DuckDB; install it with pip install 'lola-arena[query]'"
        ) from None
    dirs = as_dirs(sweep_dirs)
    for d in dirs:
        if not has_table(d, "matches"):
            raise ValueError(
                f"sweep_dir: no matches dataset at {d / 'matches'} (expected Parquet files "
                f"under matches/game=<game>/; run `lola-arena sweep` first)"
            )
    con = duckdb.connect()
    options = "hive_partitioning = true, union_by_name = true"
    con.execute(
        f"CREATE VIEW matches AS SELECT * FROM read_parquet({_files(dirs, 'matches')}, {options})"
    )
    if all(has_table(d, "curves") for d in dirs):
        con.execute(
            f"CREATE VIEW curves AS SELECT * FROM read_parquet({_files(dirs, 'curves')}, {options})"
        )
    con.execute(f"CREATE VIEW sides AS {sides_sql()}")
    return con


def query(
    sweep_dirs: SweepDirs, sql: str, out: str | Path | None = None, format: str | None = None
) -> pd.DataFrame | Path:
    """Run ``sql`` over :func:`connect`'s views; return the result, or write it to ``out`` as
    ``format`` (``csv`` or ``parquet``) and return the path. SQL errors are ValueErrors."""
    import duckdb

    if (out is None) != (format is None):
        raise ValueError("out: give both an output file and its format, or neither")
    if format is not None and format not in FORMATS:
        raise ValueError(f"format: unknown {format!r}; accepted: {', '.join(FORMATS)}")
    con = connect(sweep_dirs)
    try:
        relation = con.sql(sql)
        if relation is None:
            raise ValueError("sql: the statement returns no rows (use a SELECT)")
        if out is None:
            return relation.df()
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if format == "csv":
            relation.write_csv(str(out))
        else:
            relation.write_parquet(str(out))
        return out
    except duckdb.Error as error:
        first = str(error).strip().splitlines()[0]
        raise ValueError(f"sql: {first} (tables: {', '.join(TABLES)})") from None
    finally:
        con.close()
