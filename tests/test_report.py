"""The report (analysis/report.py) and its figures (analysis/figures.py): tables, figures and the
page, bounded at 200 agents, the game's wording."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from analysis_data import (
    FIGURES,
    GONE,
    IMP,
    MAX_PIXELS,
    all_diverged_rows,
    assert_valid_figure,
    write_large_sweep,
    write_synthetic_sweep,
)
from PIL import Image

from analysis.figures import hyperparameter_maps
from analysis.game import load_game
from analysis.load import load_matches
from analysis.summary import INLINE_ROWS, summarize
from cli.main import main


def test_hyperparameter_maps_are_none_without_a_swept_option(sweep_dir):
    matches = load_matches(
        sweep_dir, agent=["nl(lr=1)", "tft", "lola(lr=1,lr_in=1,k=1)"], sides="both"
    )
    assert hyperparameter_maps(summarize(matches, load_game(sweep_dir))) is None


@pytest.mark.slow
def test_report_writes_tables_figures_and_index(sweep_dir, summary, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(sweep_dir), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {out / 'index.html'}"
    index = (out / "index.html").read_text()
    for name in FIGURES:
        assert_valid_figure([out / "figures" / f"{name}.png", out / "figures" / f"{name}.svg"])
        assert f'src="figures/{name}.png"' in index
    assert "name: synthetic" in index  # the sweep settings
    ranking = pd.read_csv(out / "tables" / "ranking.csv")
    assert list(ranking["agent"]) == summary.agents
    matrix = pd.read_csv(out / "tables" / "payoff_matrix.csv", index_col="agent")
    np.testing.assert_allclose(matrix.to_numpy(), summary.payoff_matrix.to_numpy())
    assert (out / "tables" / "outcomes.md").read_text().startswith("| agent | opponent |")
    assert (out / "report.md").is_file()


@pytest.fixture(scope="module")
def large_report(tmp_path_factory):
    """The report of a made-up 200-agent sweep, with matplotlib's layout warnings as errors."""
    base = tmp_path_factory.mktemp("large")
    write_large_sweep(base / "sweep", 200)
    out = base / "report"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*(layout|Tight|Glyph|cut off|too large).*")
        assert main(["report", str(base / "sweep"), "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.mark.slow
def test_report_of_200_agents_has_every_figure_bounded_and_short_tables(large_report):
    index = (large_report / "index.html").read_text()
    for name in FIGURES:
        paths = [large_report / "figures" / f"{name}.{ext}" for ext in ("png", "svg")]
        assert_valid_figure(paths)
        with Image.open(paths[0]) as image:
            assert max(image.size) <= MAX_PIXELS, (name, image.size)
        assert f'src="figures/{name}.png"' in index
    tables = re.findall(r"<table.*?</table>", index, re.S)
    assert tables and max(t.count("<tr") - 1 for t in tables) <= INLINE_ROWS <= 50
    assert "<nav>" in index and "position: sticky" in index and 'href="#ranking"' in index
    assert 'href="tables/ranking.csv"' in index and "first 20 of 200 rows" in index
    ranking = pd.read_csv(large_report / "tables" / "ranking.csv")
    assert len(ranking) == 200


@pytest.mark.slow
def test_zero_sum_report_speaks_of_actions_and_nash_not_cooperation(tmp_path):
    sweep = tmp_path / "imp"
    write_synthetic_sweep(sweep, IMP)
    out = tmp_path / "report"
    assert main(["report", str(sweep), "--out", str(out), "--no-progress"]) == 0
    page = (out / "index.html").read_text()
    assert "TFT" not in page and "P(C" not in page and "tft_like" not in page
    assert "distance to Nash" in page and "P(action 1 | state)" in page
    assert "nash_distance" in pd.read_csv(out / "tables" / "cooperation_by_group.csv").columns


@pytest.mark.parametrize("kinds", [1, 12, 13, 30])
def test_learner_hues_stay_distinct_for_any_number_of_kinds(kinds):
    from analysis.figures import learner_hues

    hues = np.array(learner_hues(kinds))  # [kinds, 3] RGB
    assert hues.shape == (kinds, 3)
    gaps = np.abs(hues[:, None, :] - hues[None, :, :]).max(axis=2) + np.eye(kinds)
    assert gaps.min() > 0.02  # no two kinds share a colour
    greys = np.abs(hues - hues.mean(axis=1, keepdims=True)).max(axis=1)
    assert greys.min() > 0.15  # apart from the fixed strategies' greys


@pytest.mark.slow
def test_report_of_a_sweep_with_an_all_diverged_agent_shows_it(tmp_path):
    sweep_dir = tmp_path / "diverged"
    write_synthetic_sweep(sweep_dir, rows=all_diverged_rows())
    out = tmp_path / "report"
    assert main(["report", str(sweep_dir), "--out", str(out), "--no-progress"]) == 0
    ranking = pd.read_csv(out / "tables" / "ranking.csv")
    assert ranking["agent"].iloc[-1] == GONE and ranking["seeds"].iloc[-1] == 0
    page = (out / "report.md").read_text()
    assert f"| {GONE} | lola | – | – | 0 | all diverged or failed |" in page
    status = page[page.index("## Diverged and failed") :]
    assert f"| {GONE} |" in status
    for name in FIGURES:
        assert_valid_figure([out / "figures" / f"{name}.png", out / "figures" / f"{name}.svg"])
