"""Exact values of the iterated games: closed forms, sampled play, symmetry."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.strategies import fixed_p_coop
from tournament.games import (
    GAMES,
    SWAP_VIEW,
    Game,
    get_game,
    symmetric_game,
)
from tournament.play import sample_play
from tournament.values import reward_per_step

IPD = GAMES["ipd"]


def probs(*vectors):
    return torch.tensor(vectors, dtype=torch.float64)


def strategy(name):
    return probs(fixed_p_coop(name, IPD.payoffs_row))


@pytest.mark.parametrize(
    "row, col, expected_row, expected_col",
    [
        ("tft", "tft", -1.0, -1.0),
        ("alld", "alld", -2.0, -2.0),
        ("allc", "alld", -3.0, 0.0),
        ("alld", "allc", 0.0, -3.0),
        ("allc", "allc", -1.0, -1.0),
    ],
)
def test_deterministic_pairs_match_closed_forms(row, col, expected_row, expected_col):
    v_row, v_col = reward_per_step(IPD, strategy(row), strategy(col), 0.96)
    assert v_row.item() == pytest.approx(expected_row, abs=1e-12)
    assert v_col.item() == pytest.approx(expected_col, abs=1e-12)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.96, 0.99])
def test_tft_vs_alld_matches_closed_form(gamma):
    # TFT is exploited once (-3), then both defect (-2) forever; AllD gets 0 once, then -2.
    v_tft, v_alld = reward_per_step(IPD, strategy("tft"), strategy("alld"), gamma)
    assert v_tft.item() == pytest.approx(-(3 * (1 - gamma) + 2 * gamma), abs=1e-12)
    assert v_alld.item() == pytest.approx(-2 * gamma, abs=1e-12)


def test_per_match_gamma_equals_separate_calls():
    gammas = [0.5, 0.9, 0.99]
    p_row = probs(*[[0.3, 0.9, 0.1, 0.6, 0.2]] * 3)
    p_col = probs(*[[0.7, 0.4, 0.8, 0.3, 0.5]] * 3)
    v_row, v_col = reward_per_step(IPD, p_row, p_col, torch.tensor(gammas, dtype=torch.float64))
    for i, gamma in enumerate(gammas):
        one_row, one_col = reward_per_step(IPD, p_row[i : i + 1], p_col[i : i + 1], gamma)
        assert v_row[i].item() == pytest.approx(one_row.item(), abs=1e-14)
        assert v_col[i].item() == pytest.approx(one_col.item(), abs=1e-14)


@pytest.mark.parametrize("name", list(GAMES))
def test_exact_values_agree_with_sampled_rollouts(name):
    """Monte-Carlo discounted return of random memory-one pairs within 4 standard errors."""
    game, gamma, n, steps = GAMES[name], 0.9, 4000, 150  # gamma^150 ~ 1e-7
    gen = torch.Generator().manual_seed(7)
    for _ in range(3):
        p_row = torch.rand(1, 5, generator=gen, dtype=torch.float64)
        p_col = torch.rand(1, 5, generator=gen, dtype=torch.float64)
        rollout = sample_play(game, p_row.expand(n, 5), p_col.expand(n, 5), steps, gen)
        returns = rollout.discounted_reward_per_step(gamma)  # [n, 2]
        exact = torch.stack(reward_per_step(game, p_row, p_col, gamma), dim=1)[0]
        stderr = returns.std(dim=0) / n**0.5
        assert ((returns.mean(dim=0) - exact).abs() < 4 * stderr).all(), (returns.mean(0), exact)


def test_sampled_play_follows_deterministic_strategies():
    gen = torch.Generator().manual_seed(0)
    rollout = sample_play(IPD, strategy("tft"), strategy("alternator"), 6, gen)
    # Alternator: C D C D ...; TFT copies it one step late.
    assert rollout.actions[0, :, 1].tolist() == [1, 0, 1, 0, 1, 0]
    assert rollout.actions[0, :, 0].tolist() == [1, 1, 0, 1, 0, 1]
    assert rollout.rewards[0, :, 0].tolist() == [-1, -3, 0, -3, 0, -3]
    # Egocentric states (0 start, 1 CC, 2 CD, 3 DC, 4 DD): after TFT's C and Alternator's D,
    # TFT is in CD and Alternator in DC.
    assert rollout.states[0, :, 0].tolist() == [0, 1, 2, 3, 2, 3]
    assert rollout.states[0, :, 1].tolist() == [0, 1, 3, 2, 3, 2]


unit = st.floats(0.0, 1.0)
policy = st.lists(unit, min_size=5, max_size=5)


@settings(max_examples=50, deadline=None)
@given(p=policy, gamma=st.floats(0.05, 0.99), name=st.sampled_from(["ipd", "stag_hunt", "chicken"]))
def test_symmetric_policies_give_symmetric_values(p, gamma, name):
    v_row, v_col = reward_per_step(GAMES[name], probs(p), probs(p), gamma)
    assert v_row.item() == pytest.approx(v_col.item(), abs=1e-10)


@settings(max_examples=50, deadline=None)
@given(p=policy, q=policy, gamma=st.floats(0.05, 0.99), name=st.sampled_from(list(GAMES)))
def test_swapping_players_swaps_values(p, q, gamma, name):
    game = GAMES[name]
    # Exchange the roles: the column player's payoffs, seen from its own view, become the row's.
    as_row = Game(
        "col-as-row",
        tuple(game.payoffs_col[i] for i in SWAP_VIEW),
        tuple(game.payoffs_row[i] for i in SWAP_VIEW),
    )
    v_row, v_col = reward_per_step(game, probs(p), probs(q), gamma)
    w_row, w_col = reward_per_step(as_row, probs(q), probs(p), gamma)
    assert w_row.item() == pytest.approx(v_col.item(), abs=1e-10)
    assert w_col.item() == pytest.approx(v_row.item(), abs=1e-10)
    if game.symmetric:
        s_row, s_col = reward_per_step(game, probs(q), probs(p), gamma)
        assert (s_row.item(), s_col.item()) == pytest.approx((v_col.item(), v_row.item()))


@settings(max_examples=50, deadline=None)
@given(p=policy, q=policy, gamma=st.floats(0.05, 0.99))
def test_matching_pennies_is_zero_sum_and_fair_at_nash(p, q, gamma):
    """Zero-sum: the two values sum to 0 for every pair of memory-one policies. Fair at Nash: a
    player who mixes 50/50 in every state holds both values at 0, whatever the other plays."""
    imp = GAMES["imp"]
    v_row, v_col = reward_per_step(imp, probs(p), probs(q), gamma)
    assert v_row.item() + v_col.item() == pytest.approx(0.0, abs=1e-12)
    nash = probs([0.5] * 5)
    for row, col in ((nash, probs(q)), (probs(p), nash)):
        v_row, v_col = reward_per_step(imp, row, col, gamma)
        assert v_row.item() == pytest.approx(0.0, abs=1e-12)
        assert v_col.item() == pytest.approx(0.0, abs=1e-12)


def test_values_are_differentiable():
    p = probs([0.3, 0.9, 0.1, 0.6, 0.2]).requires_grad_()
    q = probs([0.7, 0.4, 0.8, 0.3, 0.5])
    assert torch.autograd.gradcheck(lambda x: reward_per_step(IPD, x, q, 0.9)[0], (p,))


def test_custom_payoffs():
    assert get_game("mine", (3, 0, 5, 1)) == symmetric_game("mine", (3, 0, 5, 1))
    game = get_game("mine", (1, 2, 3, 4, 5, 6, 7, 8))
    assert game.payoffs_row == (1, 2, 3, 4) and game.payoffs_col == (5, 6, 7, 8)
    assert not game.symmetric and IPD.symmetric


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: get_game("poker"), "game: unknown 'poker'; accepted: ipd, imp"),
        (lambda: get_game("x", (1, 2, 3)), "payoffs: needs 4 values"),
        (lambda: Game("x", (1, 2, 3), (1, 2, 3, 4)), "payoffs_row: needs 4 payoffs"),
        (lambda: reward_per_step(IPD, probs([0.5] * 5), probs([0.5] * 5), 1.0), "gamma: must be"),
        (lambda: reward_per_step(IPD, probs([0.5] * 5), probs([0.5] * 5), 0.0), "gamma: must be"),
        (lambda: sample_play(IPD, probs([0.5] * 5), probs([0.5] * 5), 0, None), "steps: must"),
    ],
)
def test_bad_game_input_is_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()
