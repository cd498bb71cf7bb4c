"""Reading the dataset (analysis/load.py): filters equal pandas', several sweep folders, one-line
errors."""

from __future__ import annotations

import pytest
from analysis_data import (
    SEEDS,
    write_synthetic_sweep,
)

from analysis.load import load_curves, load_matches
from cli.main import main


def test_load_filters_match_pandas_filters(sweep_dir, stored):
    lola = stored[(stored["kind_a"] == "lola") | (stored["kind_b"] == "lola")]
    assert len(load_matches(sweep_dir, kind="lola")) == len(lola)
    both = load_matches(sweep_dir, agent=["tft", "alld"], sides="both")
    assert set(both["agent_a"]) | set(both["agent_b"]) == {"tft", "alld"}
    assert len(both) == 3 * len(SEEDS)
    grid = load_matches(sweep_dir, lr=0.5, lookahead=2, seed=[0, 1], status="ok")
    expected = stored[
        ((stored["lr_a"] == 0.5) | (stored["lr_b"] == 0.5))
        & ((stored["lookahead_a"] == 2) | (stored["lookahead_b"] == 2))
        & stored["seed"].isin([0, 1])
    ]
    assert sorted(grid["match_id"]) == sorted(expected["match_id"])
    assert load_matches(sweep_dir, game="chicken").empty
    assert list(load_matches(sweep_dir, columns=["match_id", "seed"]).columns) == [
        "match_id",
        "seed",
    ]


def test_several_sweep_dirs_are_concatenated_and_curves_read_by_match_id(tmp_path, sweep_dir):
    other = tmp_path / "again"
    write_synthetic_sweep(other)
    both = load_matches([sweep_dir, other])
    assert len(both) == 2 * len(load_matches(sweep_dir))
    ids = list(both["match_id"][:4].unique())
    curves = load_curves(sweep_dir, ids)
    assert set(curves["match_id"]) == set(ids)
    assert list(curves.groupby("match_id")["update"].max().unique()) == [20]


def test_missing_sweep_dir_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(ValueError, match="no matches dataset"):
        load_matches(tmp_path / "nowhere")
    assert main(["summary", str(tmp_path / "nowhere")]) == 2
    message = capsys.readouterr().err
    assert message.startswith("lola-arena: error: sweep_dir:") and message.count("\n") == 1
