"""Results of Foerster et al. 2018 (exact IPD and IMP), 20 seeds batched, theta ~ N(0, 1)."""

import numpy as np

from agents.spec import AgentSpec
from tournament.games import GAMES
from tournament.match import play_matches

SEEDS = list(range(20))


def self_play(game, spec, gamma, updates=200):
    return play_matches(GAMES[game], [spec] * 20, [spec] * 20, SEEDS, updates, gamma=gamma)


def final_mean_reward(results):
    return float(np.mean([results.reward_a[:, -1], results.reward_b[:, -1]]))


def test_naive_learners_defect_in_the_ipd():
    results = self_play("ipd", AgentSpec("nl", lr=1.0), 0.96)
    assert final_mean_reward(results) < -1.95


def test_lola_taylor_cooperates_with_tft_like_policy_in_the_ipd():
    results = self_play("ipd", AgentSpec("lola-taylor", lr=1.0, eta=1.0), 0.96)
    assert final_mean_reward(results) > -1.15
    policies = np.concatenate([results.p_coop_a[:, -1], results.p_coop_b[:, -1]])  # [40, 5]
    start, cc, cd, dc, dd = np.median(policies, axis=0)  # the typical learned policy
    # TFT-like: cooperate after the other cooperated, defect after it defected.
    assert cc > 0.9 and dc > 0.9 and cd < 0.3 and dd < 0.3 and start > 0.9


def test_unrolled_lola_cooperates_in_the_ipd():
    """LOLA(k=1) needs a large assumed opponent step: lr 1 and lr_in 1 on the unnormalised V."""
    results = self_play("ipd", AgentSpec("lola", lr=1.0, lr_in=1.0, lookahead=1), 0.96)
    assert final_mean_reward(results) > -1.2


def test_lola_taylor_finds_nash_in_matching_pennies_and_naive_learners_never_do():
    """README: within 0.05 of the Nash policy (P(C) = 1/2 in every state) in 16 of 20 runs after
    200 updates (the other four start with saturated logits and stall); NL in none."""

    def near_nash(results):
        p = np.concatenate([results.p_coop_a[:, -1], results.p_coop_b[:, -1]], axis=1)
        return np.abs(p - 0.5).max(axis=1) < 0.05  # [seeds]

    lola = self_play("imp", AgentSpec("lola-taylor", lr=1.0, eta=1.0), 0.9)
    naive = self_play("imp", AgentSpec("nl", lr=1.0), 0.9)
    assert near_nash(lola).sum() >= 16
    assert near_nash(naive).sum() == 0


def test_sos_cooperates_in_the_ipd():
    """Letcher et al. 2019: SOS keeps LOLA's cooperation in the IPD (lr 1, a 0.5, b 0.1)."""
    results = self_play("ipd", AgentSpec("sos", lr=1.0), 0.96)
    assert final_mean_reward(results) > -1.2
