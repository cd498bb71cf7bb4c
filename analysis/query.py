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

What a query can touch: only the sweeps' own Parquet files, read-only. The views are made in a
throwaway database file, which is then opened read-only; before the user's SQL runs, file
access is limited to the sweeps' ``matches/`` and ``curves/`` folders
(``allowed_directories``), every other file and network access is switched off
(``enable_external_access = false``), extensions are neither installed nor loaded, and the
configuration is locked (``lock_configuration``). The SQL must be one ``SELECT`` (``WITH``,
``FROM``, ``DESCRIBE`` and ``SUMMARIZE`` included): ``COPY``, ``ATTACH``, ``CREATE``, ``DROP``,
``INSTALL``, ``LOAD``, ``SET``, ``PRAGMA`` and several statements at once are refused, as is
reading any other file (``read_csv('/etc/passwd')``). ``out`` is written by this module, not
by DuckDB: the one file named, in a folder that exists, outside the sweeps' datasets.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa

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


def _duckdb():
    try:
        import duckdb
    except ImportError:
        raise ValueError(
            "query: needs DuckDB; install it with pip install 'lola-arena[query]'"
        ) from None
    return duckdb


def connect(sweep_dirs: SweepDirs):
    """A read-only DuckDB connection with the views ``matches``, ``curves`` (when every
    directory has curves) and ``sides`` over the sweep directories, that can read nothing but
    their datasets (see the module docstring). The views live in a throwaway database file,
    removed once opened (the open connection keeps it)."""
    duckdb = _duckdb()
    dirs = [d.resolve() for d in as_dirs(sweep_dirs)]
    for d in dirs:
        if not has_table(d, "matches"):
            raise ValueError(
                f"sweep_dir: no matches dataset at {d / 'matches'} (expected Parquet files "
                f"under matches/game=<game>/; run `lola-arena sweep` first)"
            )
    tables = ["matches", *(["curves"] if all(has_table(d, "curves") for d in dirs) else [])]
    options = "hive_partitioning = true, union_by_name = true"
    with tempfile.TemporaryDirectory(prefix="lola-arena-query-") as workdir:
        database = str(Path(workdir) / "views.duckdb")
        with duckdb.connect(database) as con:
            for table in tables:
                con.execute(
                    f"CREATE VIEW {table} AS SELECT * FROM read_parquet({_files(dirs, table)}, "
                    f"{options})"
                )
            con.execute(f"CREATE VIEW sides AS {sides_sql()}")
        con = duckdb.connect(database, read_only=True)
    allowed = [_literal(str(d / table) + "/") for d in dirs for table in tables]
    for setting in (
        f"allowed_directories = [{', '.join(allowed)}]",
        "enable_external_access = false",
        "autoinstall_known_extensions = false",
        "autoload_known_extensions = false",
        "lock_configuration = true",
    ):
        con.execute(f"SET {setting}")
    return con


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def check_sql(sql: str) -> None:
    """One ``SELECT`` statement, else a ValueError naming what was given."""
    duckdb = _duckdb()
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise ValueError(f"sql: {_first_line(error)} (tables: {', '.join(TABLES)})") from None
    if len(statements) != 1:
        raise ValueError(f"sql: give one statement, got {len(statements)}")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise ValueError(
            f"sql: query only reads (one SELECT over {', '.join(TABLES)}); "
            f"{kind.name} statements are refused"
        )


def check_out(out: Path, sweep_dirs: SweepDirs) -> Path:
    """The file ``query`` may write: in a folder that exists, not a folder itself, not inside a
    sweep's datasets."""
    out = Path(out)
    folder = out.parent.resolve()
    if not folder.is_dir():
        raise ValueError(f"out: folder {str(out.parent)!r} does not exist; create it first")
    if out.is_dir():
        raise ValueError(f"out: {str(out)!r} is a folder; name a file")
    target = folder / out.name
    for d in as_dirs(sweep_dirs):
        for table in ("matches", "curves"):
            if target.is_relative_to((d / table).resolve()):
                raise ValueError(
                    f"out: {str(out)!r} lies in the sweep's {table} dataset; write elsewhere"
                )
    return out


def query(
    sweep_dirs: SweepDirs, sql: str, out: str | Path | None = None, format: str | None = None
) -> pd.DataFrame | Path:
    """Run ``sql`` (one SELECT) over :func:`connect`'s views; return the result, or write it to
    ``out`` as ``format`` (``csv`` or ``parquet``) and return the path. SQL errors and refusals
    are ValueErrors."""
    duckdb = _duckdb()
    if (out is None) != (format is None):
        raise ValueError("out: give both an output file and its format, or neither")
    if format is not None and format not in FORMATS:
        raise ValueError(f"format: unknown {format!r}; accepted: {', '.join(FORMATS)}")
    check_sql(sql)
    if out is not None:
        out = check_out(out, sweep_dirs)
    con = connect(sweep_dirs)
    try:
        relation = con.sql(sql)
        if out is None:
            return relation.df()
        _write(relation.arrow(), out, format)
        return out
    except duckdb.Error as error:
        raise ValueError(f"sql: {_first_line(error)} (tables: {', '.join(TABLES)})") from None
    finally:
        con.close()


def _write(result, out: Path, format: str) -> None:
    """Stream a query's Arrow result (a table or a batch reader) into ``out``."""
    import pyarrow.csv
    import pyarrow.parquet

    reader = result if isinstance(result, pa.RecordBatchReader) else result.to_reader()
    if format == "csv":
        writer = pyarrow.csv.CSVWriter(str(out), reader.schema)
    else:
        writer = pyarrow.parquet.ParquetWriter(str(out), reader.schema)
    with writer:
        for batch in reader:
            writer.write_batch(batch)


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
