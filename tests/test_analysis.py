"""analysis/ on a made-up sweep (tests/analysis_data.py): every number against a direct
computation from the stored rows, figures as valid images, the CLI, DuckDB and Polars."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from analysis_data import (
    AGENTS,
    DIVERGED,
    FIGURES,
    SEEDS,
    assert_valid_figure,
    write_synthetic_sweep,
)

from analysis.ecology import replicator
from analysis.figures import hyperparameter_heatmaps, learning_curves
from analysis.load import load_curves, load_matches
from analysis.summary import sides, summarize, t_975
from cli.main import main


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("synthetic")
    write_synthetic_sweep(path)
    return path


@pytest.fixture(scope="module")
def stored(sweep_dir):
    """The stored match rows, read with plain pandas (not through analysis.load)."""
    return pd.read_parquet(sweep_dir / "matches")


@pytest.fixture(scope="module")
def summary(sweep_dir):
    return summarize(load_matches(sweep_dir))


def per_seed_rewards(stored: pd.DataFrame) -> dict:
    """(agent, opponent) -> {seed: [rewards]}, built row by row from both sides."""
    rewards = defaultdict(lambda: defaultdict(list))
    for row in stored.itertuples():
        for me, other, reward in (
            (row.agent_a, row.agent_b, row.reward_a),
            (row.agent_b, row.agent_a, row.reward_b),
        ):
            if not math.isnan(reward):
                rewards[me, other][row.seed].append(reward)
    return rewards


def test_payoff_matrix_is_mean_over_seeds_of_both_sides(stored, summary):
    rewards = per_seed_rewards(stored)
    assert set(rewards) == {(x, y) for x in AGENTS for y in AGENTS}
    for (agent, opponent), by_seed in rewards.items():
        expected = statistics.mean(statistics.mean(r) for r in by_seed.values())
        assert summary.payoff_matrix.at[agent, opponent] == pytest.approx(expected, abs=1e-12)
    # Self-play gives the diagonal both sides of each match; the diverged pairing lost a seed.
    assert all(len(r) == 2 for r in rewards["tft", "tft"].values())
    n = summary.payoffs.set_index(["agent", "opponent"])["n"]
    assert n["nl(lr=1)", "alld"] == len(SEEDS) - 1 and n["tft", "alld"] == len(SEEDS)


def test_payoff_ci_is_students_t_over_seeds(stored, summary):
    by_seed = per_seed_rewards(stored)["tft", "alld"]
    means = [statistics.mean(r) for r in by_seed.values()]
    t_2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)  # t_{0.975} for 2 dof in closed form, 4.3027
    half = t_2 * statistics.stdev(means) / math.sqrt(len(means))
    row = summary.payoffs.set_index(["agent", "opponent"]).loc[("tft", "alld")]
    assert row["ci95"] == pytest.approx(half, rel=1e-9)


# Student's t 0.975 quantiles as printed in standard tables (3 decimals), by dof.
T_975_TABLE = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
    10: 2.228, 12: 2.179, 15: 2.131, 19: 2.093, 20: 2.086, 24: 2.064, 25: 2.060, 29: 2.045,
    30: 2.042, 40: 2.021, 50: 2.009, 60: 2.000, 80: 1.990, 100: 1.984, 120: 1.980, 121: 1.980,
    200: 1.972, 500: 1.965, 1000: 1.962,
}  # fmt: skip


def test_t_975_equals_table_values_and_closed_forms():
    for dof, expected in T_975_TABLE.items():
        assert round(t_975(dof), 3) == expected, dof
    # closed forms: 1 dof (Cauchy) tan(pi (p - 1/2)); 2 dof (2p - 1) / sqrt(2 p (1 - p))
    assert t_975(1) == pytest.approx(math.tan(0.475 * math.pi), rel=1e-12)
    assert t_975(2) == pytest.approx(0.95 / math.sqrt(2 * 0.975 * 0.025), rel=1e-12)
    # decreasing in dof, towards the normal quantile 1.959964 from above
    values = [t_975(dof) for dof in range(1, 400)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert 1.959964 < t_975(100_000) < 1.96
    assert math.isnan(t_975(0))


def test_ranking_orders_agents_by_mean_reward_over_opponents(stored, summary):
    rewards = per_seed_rewards(stored)
    scores = {}
    for agent in AGENTS:
        per_seed = defaultdict(list)
        for (me, _), by_seed in rewards.items():
            if me == agent:
                for seed, r in by_seed.items():
                    per_seed[seed].append(statistics.mean(r))
        scores[agent] = statistics.mean(statistics.mean(v) for v in per_seed.values())
    expected = sorted(scores, key=scores.get, reverse=True)
    assert list(summary.ranking["agent"]) == expected
    assert list(summary.ranking["rank"]) == list(range(1, len(AGENTS) + 1))
    assert expected[0] == "lola(lr=1,lr_in=1,k=1)" and expected[-1] == "nl(lr=1)"
    for row in summary.ranking.itertuples():
        assert row.score == pytest.approx(scores[row.agent], abs=1e-12)
    assert list(summary.payoff_matrix.index) == expected


def test_outcomes_count_wins_draws_losses_per_pairing(stored, summary):
    table = summary.outcomes.set_index(["agent", "opponent"])
    counts = defaultdict(lambda: [0, 0, 0])
    for row in stored.itertuples():
        if row.status != "ok":
            continue
        for me, other, mine, theirs in (
            (row.agent_a, row.agent_b, row.reward_a, row.reward_b),
            (row.agent_b, row.agent_a, row.reward_b, row.reward_a),
        ):
            index = 0 if mine - theirs > 1e-3 else (2 if theirs - mine > 1e-3 else 1)
            counts[me, other][index] += 1
    for pairing, (wins, draws, losses) in counts.items():
        assert tuple(table.loc[pairing, ["wins", "draws", "losses"]]) == (wins, draws, losses)
    # The made-up self-play gives both sides the same reward: all draws, two per match.
    assert tuple(table.loc[("tft", "tft"), ["wins", "draws", "losses"]]) == (0, 6, 0)
    assert table.loc[(DIVERGED[0], DIVERGED[1]), "matches"] == len(SEEDS) - 1


def test_cooperation_is_final_policy_and_tft_like_needs_all_four_states(summary):
    table = summary.cooperation.set_index("agent")
    for agent, (_, _, _, p_coop, _) in AGENTS.items():
        got = table.loc[agent, ["p_coop_start", "p_coop_cc", "p_coop_cd", "p_coop_dc", "p_coop_dd"]]
        np.testing.assert_allclose(got.to_numpy(dtype=float), p_coop)
    assert table.loc["tft", "tft_like"] == 1.0
    assert table.loc["lola(lr=1,lr_in=1,k=1)", "tft_like"] == 1.0
    assert table.loc["lola(lr=0.5,lr_in=0.5,k=2)", "tft_like"] == 0.0  # P(C|cd) = 0.2
    assert table.loc["alld", "tft_like"] == 0.0
    # tft: 6 opponents x 3 seeds + self-play 2 sides x 3 seeds
    assert table.loc["tft", "policies"] == 24


def test_status_shares_count_the_diverged_match(stored, summary):
    table = summary.status.set_index("agent")
    assert table.loc["(all matches)", "matches"] == len(stored)
    assert table.loc["(all matches)", "diverged"] == pytest.approx(1 / len(stored))
    assert table.loc["nl(lr=1)", "diverged"] == pytest.approx(1 / 21)
    assert table.loc["tft", "ok"] == 1.0


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


def test_replicator_step_is_share_times_shifted_fitness_over_mean():
    agents = ["c", "d"]
    payoff = pd.DataFrame([[-1.0, -3.0], [0.0, -2.0]], index=agents, columns=agents)
    shares = replicator(payoff, turns=50)
    shifted = np.array([[2.0, 0.0], [3.0, 1.0]]) + 0.3  # M - min + 0.1 * range
    f = shifted @ [0.5, 0.5]
    np.testing.assert_allclose(shares.loc[1], 0.5 * f / (0.5 * f).sum())
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert shares.loc[50, "d"] > 0.99  # defection takes over the prisoner's dilemma


def test_replicator_on_summary_favours_the_dominant_agent(summary):
    shares = replicator(summary.payoff_matrix, turns=100)
    assert shares.iloc[-1].idxmax() == summary.agents[0]
    assert shares.iloc[-1].sum() == pytest.approx(1.0)


def test_hyperparameter_heatmaps_skip_a_single_lr_and_lookahead(summary):
    rows = summary.side_rows
    single = rows[(rows["lr"] == 1.0) & (rows["lookahead"] == 1)]
    assert hyperparameter_heatmaps(single) is None
    assert hyperparameter_heatmaps(rows) is not None


def test_summary_cli_prints_ranking_in_order(sweep_dir, summary, capsys):
    assert main(["summary", str(sweep_dir)]) == 0
    out = capsys.readouterr().out
    assert "Ranking" in out and "Payoff matrix" in out
    positions = [out.index(f"| {i} | {agent} |") for i, agent in enumerate(summary.agents, 1)]
    assert positions == sorted(positions)
    assert "Diverged: 1.2% of matches" in out


def test_summary_of_two_sweep_dirs_reads_both(sweep_dir, tmp_path, capsys):
    other = tmp_path / "again"
    rows = write_synthetic_sweep(other)
    assert main(["summary", str(sweep_dir), str(other)]) == 0
    assert f"ipd, {2 * len(rows)} matches, {len(SEEDS)} seeds" in capsys.readouterr().out


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


def test_learning_curves_have_a_panel_per_learner_and_none_without_learners(sweep_dir):
    matches = load_matches(sweep_dir)
    curves = load_curves(sweep_dir)
    fig = learning_curves(curves, matches)
    titles = {ax.get_title() for ax in fig.axes if ax.get_visible()} - {""}
    learners = {agent for agent, (_, lr, *_) in AGENTS.items() if lr is not None}
    assert titles == learners
    fixed = load_matches(sweep_dir, agent=["tft", "alld"], sides="both")
    assert learning_curves(curves, fixed) is None
