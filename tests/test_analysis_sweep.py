"""analysis/ on real sweeps run by ``lola-arena sweep``: summary numbers against pandas,
the report's figures, both notebooks, and the LOLA paper's picture (LOLA-LOLA cooperates,
NL-NL defects)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from analysis_data import (
    FIGURES,
    GONE,
    all_diverged_rows,
    assert_valid_figure,
    write_synthetic_sweep,
)

from analysis.game import discounted_play, load_game
from analysis.load import load_matches
from analysis.summary import summarize
from cli.main import main

pytest.importorskip("ray")
pytest.importorskip("sweeps.runner")
pytestmark = pytest.mark.slow  # real sweeps on Ray, notebooks and reports: seconds each

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "analysis" / "notebooks"

SMALL_SWEEP = {
    "name": "analysis_small",
    "game": "ipd",
    "gamma": 0.96,
    "updates": 30,
    "record_every": 10,
    "seeds": 2,
    "agents": [
        {"kind": "lola", "lr": [0.5, 1.0], "lookahead": [1, 2]},
        {"kind": "nl", "lr": 1.0},
        {"kind": "tft"},
        {"kind": "alld"},
    ],
}
# The LOLA paper's IPD sweep as shipped, with 5 of its 20 seeds.
LOLA_PAPER = ROOT / "sweeps" / "configs" / "lola_paper.yaml"


def run_sweep(tmp_path_factory, config: dict) -> Path:
    base = tmp_path_factory.mktemp(config["name"])
    sweep_file = base / "sweep_file.yaml"
    sweep_file.write_text(yaml.safe_dump(config))
    out = base / "results"
    assert main(["sweep", str(sweep_file), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory, ray_session):
    return run_sweep(tmp_path_factory, SMALL_SWEEP)


def both_sides(stored: pd.DataFrame) -> pd.DataFrame:
    """agent, opponent, seed, reward, opponent_reward: each stored row from both sides."""
    columns = ["agent", "opponent", "reward", "opponent_reward"]
    side_a = stored[["agent_a", "agent_b", "reward_a", "reward_b", "seed"]]
    side_b = stored[["agent_b", "agent_a", "reward_b", "reward_a", "seed"]]
    return pd.concat(
        [side_a.set_axis([*columns, "seed"], axis=1), side_b.set_axis([*columns, "seed"], axis=1)],
        ignore_index=True,
    )


def test_small_sweep_summary_matches_pandas_on_stored_rows(small_sweep):
    stored = pd.read_parquet(small_sweep / "matches")
    summary = summarize(load_matches(small_sweep), load_game(small_sweep))
    long = both_sides(stored)
    per_seed = long.groupby(["agent", "opponent", "seed"])["reward"].mean()
    matrix = per_seed.groupby(["agent", "opponent"]).mean().unstack("opponent")
    matrix = matrix.loc[summary.agents, summary.agents]
    np.testing.assert_allclose(summary.payoff_matrix.to_numpy(), matrix.to_numpy(), atol=1e-12)

    scores = per_seed.groupby(["agent", "seed"]).mean().groupby("agent").mean()
    assert list(summary.ranking["agent"]) == list(scores.sort_values(ascending=False).index)

    margin = long["reward"] - long["opponent_reward"]
    wins = (margin > 1e-3).groupby([long["agent"], long["opponent"]]).sum()
    losses = (margin < -1e-3).groupby([long["agent"], long["opponent"]]).sum()
    outcomes = summary.outcomes.set_index(["agent", "opponent"])
    assert outcomes["wins"].to_dict() == wins.to_dict()
    assert outcomes["losses"].to_dict() == losses.to_dict()
    # 7 variants: 21 pairs + 7 self-play, per seed
    assert len(stored) == 28 * 2 and outcomes["matches"].sum() == 2 * len(stored)


def test_cooperation_weights_recompute_every_stored_reward(small_sweep):
    """The discounted play of both final policies, weighted by the payoffs, is each side's
    stored reward: the cooperation rate uses the same weights as the engine's value."""
    stored = pd.read_parquet(small_sweep / "matches")
    game = load_game(small_sweep)
    states = ["start", "cc", "cd", "dc", "dd"]
    play = discounted_play(
        stored[[f"p_coop_a_{s}" for s in states]].to_numpy(),
        stored[[f"p_coop_b_{s}" for s in states]].to_numpy(),
        stored["gamma"].to_numpy(),
    )
    np.testing.assert_allclose(play @ np.array(game.payoffs_row), stored["reward_a"], atol=1e-9)
    np.testing.assert_allclose(play @ np.array(game.payoffs_col), stored["reward_b"], atol=1e-9)


def test_small_sweep_report_has_every_figure(small_sweep, tmp_path):
    out = tmp_path / "report"
    assert main(["report", str(small_sweep), "--out", str(out)]) == 0
    index = (out / "index.html").read_text()
    for name in FIGURES:
        assert_valid_figure([out / "figures" / f"{name}.png", out / "figures" / f"{name}.svg"])
        assert f'src="figures/{name}.png"' in index
    assert "name: analysis_small" in index
    assert "lola_arena" in index and "git_commit" in index  # provenance


@pytest.mark.parametrize("notebook", ["tournament_overview", "hyperparameter_sensitivity"])
def test_notebook_executes_top_to_bottom(small_sweep, tmp_path, notebook):
    papermill = pytest.importorskip("papermill")
    executed = papermill.execute_notebook(
        str(NOTEBOOKS / f"{notebook}.ipynb"),
        str(tmp_path / f"{notebook}.ipynb"),
        parameters={"sweep_dir": str(small_sweep)},
        kernel_name="python3",
        cwd=str(ROOT),
        progress_bar=False,
    )
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)


@pytest.mark.parametrize("notebook", ["tournament_overview", "hyperparameter_sensitivity"])
def test_notebook_runs_from_its_own_folder_on_a_sweep_with_an_all_diverged_agent(
    tmp_path, notebook
):
    """Run where it lies (analysis/notebooks/) with a sweep path relative to the checkout, as
    its default ``results/quick`` is: the path is found, and the all-diverged agent is shown."""
    papermill = pytest.importorskip("papermill")
    sweep_dir = tmp_path / "diverged"
    write_synthetic_sweep(sweep_dir, rows=all_diverged_rows())
    relative = os.path.relpath(sweep_dir, ROOT)
    assert not (NOTEBOOKS / relative).is_dir()  # relative to the checkout, not to the notebook
    executed = papermill.execute_notebook(
        str(NOTEBOOKS / f"{notebook}.ipynb"),
        str(tmp_path / f"{notebook}.ipynb"),
        parameters={"sweep_dir": relative},
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert GONE in shown


def test_stored_notebooks_have_no_outputs():
    nbformat = pytest.importorskip("nbformat")
    for path in NOTEBOOKS.glob("*.ipynb"):
        book = nbformat.read(path, as_version=4)
        code = [c for c in book.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path.name
        assert any("parameters" in c.metadata.get("tags", []) for c in code), path.name


def test_lola_paper_lola_cooperates_and_naive_learners_defect(tmp_path_factory, ray_session):
    config = yaml.safe_load(LOLA_PAPER.read_text())
    assert (config["gamma"], config["updates"]) == (0.96, 200)
    sweep_dir = run_sweep(tmp_path_factory, {**config, "seeds": 5})
    matches = load_matches(sweep_dir)
    summary = summarize(matches, load_game(sweep_dir))
    payoffs = summary.payoffs.set_index(["agent", "opponent"])["mean"]
    lola, nl = "lola-taylor(lr=1,eta=1)", "nl(lr=1)"
    assert payoffs[lola, lola] > -1.15  # near mutual cooperation, -1
    assert payoffs[nl, nl] < -1.9  # near mutual defection, -2
    self_play = matches[(matches["agent_a"] == lola) & (matches["agent_b"] == lola)]
    assert self_play[["p_coop_a_cc", "p_coop_b_cc"]].to_numpy().mean() > 0.9  # C after CC
    final = summary.cooperation_by_group.set_index(["agent", "group"])
    assert final.loc[(nl, "all opponents"), "p_coop_dd"] < 0.1  # naive learners stay in DD
    assert final.loc[(lola, "self-play"), "coop_rate"] > 0.9
