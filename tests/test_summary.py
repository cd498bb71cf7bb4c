"""Tournament summaries (analysis/summary.py) on a made-up sweep (tests/analysis_data.py):
every number against a direct computation from the stored rows, and ``lola-arena summary``."""

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
    GONE,
    SEEDS,
    all_diverged_rows,
    match_rows,
    write_synthetic_sweep,
)

from analysis.game import load_game
from analysis.load import load_matches
from analysis.summary import (
    ALL_OPPONENTS,
    bootstrap_ranks,
    summarize,
    swept_options,
    t_975,
)
from cli.main import main


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


def test_summary_cli_prints_ranking_in_order(sweep_dir, summary, capsys):
    assert main(["summary", str(sweep_dir)]) == 0
    out = capsys.readouterr().out
    assert "Ranking" in out and "Payoff matrix" in out
    positions = [out.index(f"| {i} | {agent} |") for i, agent in enumerate(summary.agents, 1)]
    assert positions == sorted(positions)
    assert "Diverged and failed: 1.2% of matches diverged, 0.0% failed" in out


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


def test_summary_of_two_sweep_dirs_reads_both(sweep_dir, tmp_path, capsys):
    other = tmp_path / "again"
    rows = write_synthetic_sweep(other)
    assert main(["summary", str(sweep_dir), str(other)]) == 0
    assert f"ipd, 7 agents, {2 * len(rows)} matches, {len(SEEDS)} seeds" in capsys.readouterr().out
