"""analysis/ on a made-up sweep (tests/analysis_data.py): every number against a direct
computation from the stored rows, the game's wording and measures, figures as valid images of
bounded size at 200 agents, the page, the CLI, DuckDB and Polars."""

from __future__ import annotations

import math
import os
import re
import statistics
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from analysis_data import (
    AGENTS,
    DIVERGED,
    FIGURES,
    IMP,
    MAX_PIXELS,
    SEEDS,
    assert_valid_figure,
    match_rows,
    write_large_sweep,
    write_synthetic_sweep,
)
from PIL import Image

from analysis.curves import curve_samples
from analysis.ecology import replicator
from analysis.figures import hyperparameter_maps
from analysis.game import GameInfo, discounted_play, load_game
from analysis.load import load_curves, load_matches
from analysis.summary import (
    ALL_OPPONENTS,
    INLINE_ROWS,
    bootstrap_ranks,
    sides,
    summarize,
    swept_options,
    t_975,
)
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
    return summarize(load_matches(sweep_dir), load_game(sweep_dir))


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
    overall = summary.cooperation_by_group
    table = overall[overall["group"] == ALL_OPPONENTS].set_index("agent")
    for agent, (_, _, _, p_coop, _) in AGENTS.items():
        got = table.loc[agent, ["p_coop_start", "p_coop_cc", "p_coop_cd", "p_coop_dc", "p_coop_dd"]]
        np.testing.assert_allclose(got.to_numpy(dtype=float), p_coop)
    assert table.loc["tft", "tft_like"] == 1.0
    assert table.loc["lola(lr=1,lr_in=1,k=1)", "tft_like"] == 1.0
    assert table.loc["lola(lr=0.5,lr_in=0.5,k=2)", "tft_like"] == 0.0  # P(C|cd) = 0.2
    assert table.loc["alld", "tft_like"] == 0.0
    # tft: 6 opponents x 3 seeds + self-play 2 sides x 3 seeds
    assert table.loc["tft", "policies"] == 24
    groups = overall[overall["agent"] == "tft"].set_index("group")["policies"]
    assert groups.to_dict() == {"self-play": 6, "vs learners": 15, "vs fixed": 3, ALL_OPPONENTS: 24}


def test_cooperation_rate_is_the_discounted_share_of_rounds_with_c(summary):
    rows = summary.side_rows
    # tft against alld: C in the first round only, so (1 - gamma) of the discounted rounds
    tft = rows[(rows["agent"] == "tft") & (rows["opponent"] == "alld")]
    np.testing.assert_allclose(tft["coop_rate"], 1 - 0.96)
    assert (rows.loc[rows["agent"] == "alld", "coop_rate"].dropna() == 0).all()
    # both tft: cooperate forever
    np.testing.assert_allclose(
        rows.loc[rows["group"] == "self-play"].query("agent == 'tft'")["coop_rate"], 1.0
    )


def test_discounted_play_gives_the_closed_form_values_of_fixed_pairs():
    ipd = np.array([-1.0, -3.0, 0.0, -2.0])
    allc, alld, tft = [1.0] * 5, [0.0] * 5, [1.0, 1.0, 0.0, 1.0, 0.0]
    play = discounted_play(np.array([allc, tft, tft]), np.array([alld, alld, tft]), 0.9)
    np.testing.assert_allclose(play.sum(axis=1), 1.0)
    np.testing.assert_allclose(play @ ipd, [-3.0, 0.1 * -3 + 0.9 * -2, -1.0])
    # side b's view swaps CD and DC
    np.testing.assert_allclose(play[0], [0.0, 1.0, 0.0, 0.0])
    assert np.isnan(discounted_play(np.full((1, 5), np.nan), np.array([allc]), 0.9)).all()


def test_game_wording_follows_the_payoffs():
    from tournament.games import GAMES

    info = {name: GameInfo(name, g.payoffs_row, g.payoffs_col) for name, g in GAMES.items()}
    assert info["ipd"].has_cooperation and info["ipd"].references() == [
        ("mutual cooperation", -1.0),
        ("mutual defection", -2.0),
    ]
    assert info["stag_hunt"].has_cooperation and info["chicken"].has_cooperation
    imp = info["imp"]
    assert imp.zero_sum and not imp.has_cooperation and imp.nash == (0.5, 0.5)
    assert imp.references() == [("Nash value", 0.0)] and imp.measure[0] == "nash_distance"
    assert "C" not in imp.p_label and imp.state_labels[1] == "11"
    assert info["ipd"].reward_range == (-3.0, 0.0)
    unknown = GameInfo("ipd")
    assert not unknown.known and unknown.references() == [] and unknown.reward_range is None


def test_bootstrap_rank_intervals_hold_the_rank_and_separate_distinct_agents():
    rows = []
    for agent, level, swing in (
        ("best", 0, 0.3),
        ("twin_a", -1, 0.3),
        ("twin_b", -1, -0.3),
        ("worst", -5, 0.3),
    ):
        for seed in range(10):  # the twins take turns to lead: equal means, rank 2 or 3
            rows.append((agent, "s", seed, level + swing * (-1) ** seed))
    scores = pd.DataFrame(rows, columns=["agent", "sweep", "seed", "reward"])
    scores = scores.set_index(["agent", "sweep", "seed"])["reward"]
    intervals = bootstrap_ranks(scores)
    assert tuple(intervals.loc["best"]) == (1, 1) and tuple(intervals.loc["worst"]) == (4, 4)
    assert tuple(intervals.loc["twin_a"]) == (2, 3) == tuple(intervals.loc["twin_b"])
    pd.testing.assert_frame_equal(intervals, bootstrap_ranks(scores))  # seeded


def test_ranking_rank_interval_contains_the_rank(summary):
    ranking = summary.ranking
    assert (
        (ranking["rank_low"] <= ranking["rank"]) & (ranking["rank"] <= ranking["rank_high"])
    ).all()


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


def test_side_by_side_gives_each_sweeps_own_scores_and_ranks(tmp_path, sweep_dir, summary):
    """Two sweeps, the second without its best agent: each column pair is that sweep's own
    ranking, and the absent agent has no value in the second."""
    from analysis.report import compare_rankings, compare_text

    best = summary.ranking["agent"].iloc[0]
    other = tmp_path / "other"
    rows = [m for m in match_rows() if best not in (m["agent_a"], m["agent_b"])]
    write_synthetic_sweep(other, rows=rows)
    table = compare_rankings([sweep_dir, other]).set_index("agent")
    own = summary.ranking.set_index("agent")
    name = sweep_dir.name
    np.testing.assert_allclose(table.loc[own.index, f"{name} score"], own["score"])
    assert (table.loc[own.index, f"{name} rank"] == own["rank"]).all()
    assert pd.isna(table.loc[best, "other score"])
    assert table["other rank"].dropna().sort_values().tolist() == list(range(1, len(own)))
    text = compare_text([sweep_dir, other])
    assert all(len(line) <= 100 for line in text.splitlines())
    # ci95 is named in the caption, so each score is printed with it
    assert "± its 95% CI over seeds" in text
    ci = own.loc[own.index[0], "ci95"]
    assert f"| {own.loc[own.index[0], 'score']:.3f} ± {ci:.3f} |" in text


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


def test_swept_options_skip_options_a_kind_does_not_read_or_that_follow_another(summary):
    # lola sweeps lr and lookahead; lr_in follows lr; nl has one lr; fixed strategies none
    assert swept_options(summary.side_rows) == {"lola": ["lr", "lookahead"]}
    rows = summary.side_rows
    single = rows[(rows["lr"] != 0.5) & (rows["opponent"] != "lola(lr=0.5,lr_in=0.5,k=1)")]
    assert swept_options(single) == {"lola": ["lookahead"]}


def test_hyperparameter_table_over_all_opponents_is_the_ranking_score(summary):
    table = summary.hyperparameters
    everyone = table[table["opponents"] == ALL_OPPONENTS].set_index("agent")
    scores = summary.ranking.set_index("agent")["score"]
    assert set(everyone.index) == {a for a in AGENTS if AGENTS[a][0] == "lola"}
    np.testing.assert_allclose(everyone["reward"], scores[everyone.index], atol=1e-12)
    self_play = table[table["opponents"] == "self-play"].set_index("agent")
    diagonal = [summary.payoff_matrix.at[a, a] for a in self_play.index]
    np.testing.assert_allclose(self_play["reward"], diagonal, atol=1e-12)
    assert (table["seeds"] == len(SEEDS)).all()


def test_hyperparameter_maps_are_none_without_a_swept_option(sweep_dir):
    matches = load_matches(
        sweep_dir, agent=["nl(lr=1)", "tft", "lola(lr=1,lr_in=1,k=1)"], sides="both"
    )
    assert hyperparameter_maps(summarize(matches, load_game(sweep_dir))) is None


def test_summary_cli_prints_ranking_in_order(sweep_dir, summary, capsys):
    assert main(["summary", str(sweep_dir)]) == 0
    out = capsys.readouterr().out
    assert "Ranking" in out and "Payoff matrix" in out
    positions = [out.index(f"| {i} | {agent} |") for i, agent in enumerate(summary.agents, 1)]
    assert positions == sorted(positions)
    assert "Diverged and failed: 1.2% of matches diverged, 0.0% failed" in out


def test_summary_of_two_sweep_dirs_reads_both(sweep_dir, tmp_path, capsys):
    other = tmp_path / "again"
    rows = write_synthetic_sweep(other)
    assert main(["summary", str(sweep_dir), str(other)]) == 0
    assert f"ipd, 7 agents, {2 * len(rows)} matches, {len(SEEDS)} seeds" in capsys.readouterr().out


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


def test_curve_samples_average_self_play_sides_and_opponents_per_seed(sweep_dir, stored, summary):
    samples = curve_samples(sweep_dir, summary.side_rows)
    assert set(samples["agent"]) == {a for a, spec in AGENTS.items() if spec[1] is not None}
    curves = pd.read_parquet(sweep_dir / "curves").set_index(["match_id", "update"])
    lola = "lola(lr=1,lr_in=1,k=1)"

    def sample(opponents: str) -> float:
        picked = (samples["agent"] == lola) & (samples["opponents"] == opponents)
        picked &= (samples["seed"] == 1) & (samples["update"] == 10)
        return samples.loc[picked, "reward"].item()

    rewards = defaultdict(list)  # opponent -> lola's rewards at update 10 in seed 1
    for match in stored[stored["seed"] == 1].itertuples():
        point = curves.loc[(match.match_id, 10)]
        for me, other in (("a", "b"), ("b", "a")):
            if getattr(match, f"agent_{me}") == lola:
                rewards[getattr(match, f"agent_{other}")].append(point[f"reward_{me}"])
    assert len(rewards[lola]) == 2  # self-play: both sides of one match
    assert sample("self-play") == pytest.approx(statistics.mean(rewards[lola]), abs=1e-12)
    over_opponents = statistics.mean(statistics.mean(r) for r in rewards.values())
    assert sample(ALL_OPPONENTS) == pytest.approx(over_opponents, abs=1e-12)


def test_curve_samples_are_empty_without_learners(sweep_dir):
    fixed = load_matches(sweep_dir, agent=["tft", "alld"], sides="both")
    assert curve_samples(sweep_dir, sides(fixed)).empty


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


# An agent of a swept kind whose every match diverged (a learning rate far too large).
GONE = "lola(lr=1,lr_in=1,k=2)"


def all_diverged_rows(agent: str = GONE) -> list[dict]:
    """The made-up matches with every match of ``agent`` diverged (NaN rewards and policies)."""
    rows = match_rows()
    for row in rows:
        if agent in (row["agent_a"], row["agent_b"]):
            row.update(status="diverged", error="non-finite parameters at update 3")
            for column in row:
                if column.startswith(("reward_", "p_coop_")):
                    row[column] = float("nan")
    return rows


def test_agent_whose_matches_all_diverged_is_ranked_last_without_a_score(tmp_path, capsys):
    """Never dropped: the ranking, the payoff matrix and the hyperparameter table keep the
    agent, without values; the summary names it under "Diverged and failed"."""
    sweep_dir = tmp_path / "diverged"
    write_synthetic_sweep(sweep_dir, rows=all_diverged_rows())
    summary = summarize(load_matches(sweep_dir), load_game(sweep_dir))
    assert summary.agents[-1] == GONE and len(summary.agents) == len(AGENTS)
    last = summary.ranking.iloc[-1]
    assert math.isnan(last["score"]) and last["seeds"] == 0 and last["rank"] == len(AGENTS)
    assert summary.payoff_matrix.loc[GONE].isna().all()
    assert summary.kind_matrix().loc["lola"].notna().any()  # its kind's other agents remain
    hyper = summary.hyperparameters.set_index(["agent", "opponents"])
    assert hyper.loc[(GONE, ALL_OPPONENTS), "seeds"] == 0
    assert math.isnan(hyper.loc[(GONE, ALL_OPPONENTS), "reward"])

    assert main(["summary", str(sweep_dir)]) == 0
    out = capsys.readouterr().out
    assert f"| {len(AGENTS)} | {GONE} | lola | – | – | 0 | all diverged or failed |" in out
    troubled = out[out.index("Diverged and failed") :]
    assert f"| {GONE} | {len(AGENTS) * len(SEEDS)} | 0.000 | 1.000 |" in troubled


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


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ["tournament_overview", "hyperparameter_sensitivity"])
def test_notebook_runs_from_its_own_folder_on_a_sweep_with_an_all_diverged_agent(
    tmp_path, notebook
):
    """Run where it lies (analysis/notebooks/) with a sweep path relative to the checkout, as
    its default ``results/quick`` is: the path is found, and the all-diverged agent is shown."""
    papermill = pytest.importorskip("papermill")
    checkout = Path(__file__).resolve().parents[1]
    sweep_dir = tmp_path / "diverged"
    write_synthetic_sweep(sweep_dir, rows=all_diverged_rows())
    relative = os.path.relpath(sweep_dir, checkout)
    folder = checkout / "analysis" / "notebooks"
    assert not (folder / relative).is_dir()  # relative to the checkout, not to the notebook
    executed = papermill.execute_notebook(
        str(folder / f"{notebook}.ipynb"),
        str(tmp_path / f"{notebook}.ipynb"),
        parameters={"sweep_dir": relative},
        kernel_name="python3",
        cwd=str(folder),
        progress_bar=False,
    )
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert GONE in shown


def test_provenance_table_is_one_narrow_column_per_run_whatever_the_runs(tmp_path):
    """Fields as rows, the last three runs as columns: long values (a commit, timestamps) no
    longer make a row wider than the page."""
    from analysis.sections import PROVENANCE_COLUMNS, provenance_table

    sweep_dir = tmp_path / "runs"
    write_synthetic_sweep(sweep_dir)
    record = yaml.safe_load((sweep_dir / "provenance.yaml").read_text())
    run = {**record["runs"][0], "git_commit": "f" * 40 + "-dirty"}
    record["runs"] = [{**run, "matches": i} for i in range(10)]
    (sweep_dir / "provenance.yaml").write_text(yaml.safe_dump(record))
    table = provenance_table([sweep_dir])
    assert list(table.columns) == ["field", "run 8", "run 9", "run 10"]
    assert list(table["field"]) == list(PROVENANCE_COLUMNS)
    assert table.set_index("field").loc["matches"].tolist() == ["7", "8", "9"]


@pytest.mark.parametrize("kinds", [1, 12, 13, 30])
def test_learner_hues_stay_distinct_for_any_number_of_kinds(kinds):
    from analysis.figures import learner_hues

    hues = np.array(learner_hues(kinds))  # [kinds, 3] RGB
    assert hues.shape == (kinds, 3)
    gaps = np.abs(hues[:, None, :] - hues[None, :, :]).max(axis=2) + np.eye(kinds)
    assert gaps.min() > 0.02  # no two kinds share a colour
    greys = np.abs(hues - hues.mean(axis=1, keepdims=True)).max(axis=1)
    assert greys.min() > 0.15  # apart from the fixed strategies' greys
