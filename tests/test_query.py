"""The long view ``sides`` and ``lola-arena query``: every match of an agent whichever side it
played, DuckDB's view equal to pandas', and the README's query examples run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from analysis_data import AGENTS, write_synthetic_sweep

from analysis.load import load_sides
from analysis.summary import SIDE_COLUMNS, sides
from cli.main import main

duckdb = pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("query") / "results" / "quick"
    write_synthetic_sweep(path)
    return path


@pytest.fixture(scope="module")
def stored(sweep_dir):
    return pd.read_parquet(sweep_dir / "matches")


def readme_examples() -> tuple[list[str], list[str]]:
    """The README's query examples: the ``lola-arena query`` lines and the Python blocks."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"<!-- query examples -->(.*?)<!-- /query examples -->", text, re.S)
    assert section, "README: no query examples section"
    bash = re.findall(r"```bash\n(.*?)```", section.group(1), re.S)
    python = re.findall(r"```python\n(.*?)```", section.group(1), re.S)
    commands = [line for block in bash for line in block.splitlines() if line.strip()]
    return commands, python


def test_readme_query_commands_run_as_written(sweep_dir, monkeypatch, capsys):
    monkeypatch.chdir(sweep_dir.parents[1])
    commands, _ = readme_examples()
    assert len(commands) >= 2
    for command in commands:
        words = shlex.split(command)
        assert words[:2] == ["lola-arena", "query"], command
        assert main(words[1:]) == 0, command
        for flag in ("--csv", "--parquet"):
            if flag in words:
                path = Path(words[words.index(flag) + 1])
                table = pd.read_csv(path) if flag == "--csv" else pd.read_parquet(path)
                assert len(table) > 0, command
    out = capsys.readouterr().out
    assert "lola" in out and "reward" in out


def test_readme_python_examples_run_as_written(sweep_dir, monkeypatch):
    pytest.importorskip("polars")
    monkeypatch.chdir(sweep_dir.parents[1])
    _, blocks = readme_examples()
    assert blocks
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    nl_matches = {m for m, *_ in namespace["nl"][["match_id"]].itertuples(index=False)}
    assert len(nl_matches) == 7 * 3  # nl(lr=1) meets 7 agents (itself included) in 3 seeds
    assert len(namespace["table"]) == 6 * 3 + 2 * 3  # tft's opponents' sides, self-play twice


@pytest.mark.parametrize("agent", list(AGENTS))
def test_long_view_returns_every_match_of_an_agent(sweep_dir, stored, agent):
    expected = set(
        stored.loc[(stored["agent_a"] == agent) | (stored["agent_b"] == agent), "match_id"]
    )
    rows = load_sides(sweep_dir, agent=agent)
    assert set(rows["match_id"]) == expected and set(rows["agent"]) == {agent}
    from analysis.query import connect

    sql = connect(sweep_dir).sql(f"SELECT match_id FROM sides WHERE agent = '{agent}'").df()
    assert set(sql["match_id"]) == expected
    # self-play gives one row per side, every other match one row
    self_play = stored[(stored["agent_a"] == agent) & (stored["agent_b"] == agent)]
    assert len(sql) == len(expected) + len(self_play)


def test_long_view_of_a_kind_holds_the_matches_on_either_side(sweep_dir, stored):
    on_b = stored[(stored["kind_b"] == "lola") & (stored["kind_a"] != "lola")]
    assert len(on_b) > 0  # the made-up sweep puts lola on side b in some matches
    rows = load_sides(sweep_dir, kind="lola")
    assert set(on_b["match_id"]) <= set(rows["match_id"])
    assert (rows.loc[rows["match_id"].isin(on_b["match_id"]), "side"] == "b").all()


def test_duckdb_sides_view_equals_the_pandas_long_view(sweep_dir, stored):
    from analysis.query import query

    sql = query(sweep_dir, "SELECT * FROM sides ORDER BY match_id, side")
    assert list(sql.columns) == list(SIDE_COLUMNS)
    expected = sides(stored.assign(game=stored["game"].astype(str)), measures=False)
    expected = expected[list(SIDE_COLUMNS)].sort_values(["match_id", "side"], ignore_index=True)
    # An option no agent of the sweep reads (baseline here) is null in every row on both sides;
    # DuckDB returns such a column as None objects, pandas as NaN strings.
    null = [c for c in sql.columns if sql[c].isna().all() and expected[c].isna().all()]
    assert "baseline" in null
    pd.testing.assert_frame_equal(
        sql.drop(columns=null), expected.drop(columns=null), check_dtype=False
    )


def test_query_errors_are_one_line(sweep_dir, capsys):
    assert main(["query", str(sweep_dir), "SELECT nope FROM sides"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lola-arena: error: sql:") and err.count("\n") == 1
    assert main(["query", str(sweep_dir / "missing"), "SELECT 1"]) == 2
    assert "no matches dataset" in capsys.readouterr().err


def test_duckdb_reads_the_dataset_with_hive_partitions(sweep_dir, stored):
    duckdb = pytest.importorskip("duckdb")
    pattern = str(sweep_dir / "matches" / "**" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT agent_a, count(*) AS n, avg(reward_a) AS reward FROM "
        f"read_parquet('{pattern}', hive_partitioning = true) "
        f"WHERE game = 'ipd' AND status = 'ok' GROUP BY agent_a ORDER BY agent_a"
    ).df()
    expected = (
        stored[stored["status"] == "ok"].groupby("agent_a")["reward_a"].agg(["count", "mean"])
    )
    assert list(rows["agent_a"]) == list(expected.index)
    np.testing.assert_allclose(rows["n"], expected["count"])
    np.testing.assert_allclose(rows["reward"], expected["mean"])


def test_polars_scans_the_dataset_with_hive_partitions(sweep_dir, stored):
    pl = pytest.importorskip("polars")
    lazy = pl.scan_parquet(sweep_dir / "matches" / "**" / "*.parquet", hive_partitioning=True)
    counts = (
        lazy.filter((pl.col("game") == "ipd") & (pl.col("kind_a") == "lola"))
        .group_by("seed")
        .agg(pl.len().alias("n"))
        .sort("seed")
        .collect()
    )
    expected = stored[stored["kind_a"] == "lola"].groupby("seed").size()
    assert counts["seed"].to_list() == list(expected.index)
    assert counts["n"].to_list() == list(expected)


def test_sides_reads_each_match_from_both_sides(stored):
    rows = sides(stored)
    assert len(rows) == 2 * len(stored)
    first = stored.iloc[0]
    b_view = rows[(rows["match_id"] == first["match_id"]) & (rows["side"] == "b")].iloc[0]
    assert b_view["agent"] == first["agent_b"] and b_view["opponent"] == first["agent_a"]
    assert b_view["p_coop_cd"] == first["p_coop_b_cd"]


# --- what a query can touch ---------------------------------------------------------------


def run_query(argv, capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main(["query", *argv])
    except SystemExit as exit_info:
        code = exit_info.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "sql, message",
    [
        ("SELECT * FROM read_csv('/etc/passwd')", 'Cannot access file "/etc/passwd"'),
        ("SELECT * FROM read_text('/etc/hostname')", 'Cannot access file "/etc/hostname"'),
        ("COPY (SELECT 1) TO '{tmp}/x.csv'", "COPY statements are refused"),
        ("COPY matches TO '{sweep}/matches/part-x.parquet'", "COPY statements are refused"),
        ("ATTACH '{tmp}/x.db'", "ATTACH statements are refused"),
        ("CREATE TABLE t AS SELECT 1", "CREATE statements are refused"),
        ("DROP VIEW sides", "DROP statements are refused"),
        ("INSTALL httpfs", "LOAD statements are refused"),  # DuckDB: INSTALL is a LOAD
        ("LOAD httpfs", "LOAD statements are refused"),
        ("SET enable_external_access = true", "SET statements are refused"),
        ("SELECT 1; SELECT 2", "give one statement, got 2"),
        ("SELECT 1; DROP VIEW sides", "give one statement, got 2"),
        ("SELECT * FROM read_parquet('{tmp}/*.parquet')", "Cannot access file"),
        ("SELECT * FROM glob('/etc/*')", "Cannot access"),
        ("FROM nowhere", "Table with name nowhere does not exist"),
    ],
)
def test_query_only_reads_the_sweeps_tables(sql, message, sweep_dir, tmp_path, capsys):
    """Each refusal is one line, exit 2; nothing is written anywhere."""
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "other.parquet")
    before = sorted(p for p in sweep_dir.rglob("*"))
    sql = sql.format(tmp=tmp_path, sweep=sweep_dir)
    code, err = run_query([str(sweep_dir), sql], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("lola-arena: error: sql: "), err
    assert message in err, err
    assert sorted(p for p in sweep_dir.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.parquet"]
    assert main(["query", str(sweep_dir), "SELECT count(*) AS n FROM sides"]) == 0


def test_the_query_connection_is_read_only_and_locked(sweep_dir):
    from analysis.query import connect

    con = connect(sweep_dir)
    settings = dict(
        con.sql(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
            "'lock_configuration', 'autoinstall_known_extensions', 'autoload_known_extensions')"
        ).fetchall()
    )
    assert settings == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
    }
    for statement in ("CREATE VIEW x AS SELECT 1", "DROP VIEW sides"):
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute(statement)
    assert con.sql("SELECT count(*) FROM matches").fetchall()[0][0] > 0
    con.close()


@pytest.mark.parametrize("flag", ["--csv", "--parquet"])
def test_query_writes_only_the_named_file_into_an_existing_folder(
    flag, sweep_dir, tmp_path, capsys
):
    sql = "SELECT agent, reward FROM sides"
    missing = tmp_path / "no" / "such" / "x.out"
    code, err = run_query([str(sweep_dir), sql, flag, str(missing)], capsys)
    assert code == 2 and err.count("\n") == 1 and "does not exist; create it first" in err, err
    assert not (tmp_path / "no").exists()
    code, err = run_query([str(sweep_dir), sql, flag, str(tmp_path)], capsys)
    assert code == 2 and "is a folder; name a file" in err, err
    inside = sweep_dir / "matches" / "part-x.parquet"
    code, err = run_query([str(sweep_dir), sql, flag, str(inside)], capsys)
    assert code == 2 and "lies in the sweep's matches dataset" in err, err
    assert not inside.exists()
    out = tmp_path / "result.out"
    code, _ = run_query([str(sweep_dir), sql, flag, str(out)], capsys)
    assert code == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["result.out"]
    table = pd.read_csv(out) if flag == "--csv" else pd.read_parquet(out)
    assert len(table) == 2 * len(pd.read_parquet(sweep_dir / "matches"))
    assert list(table.columns) == ["agent", "reward"]
