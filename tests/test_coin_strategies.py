"""Fixed Coin Game strategies (tournament/coin_strategies.py), declared in agents/strategies.py."""

import pytest
import torch

from agents.kinds import KINDS
from agents.strategies import COIN_STRATEGIES
from tournament.coin_game import move
from tournament.coin_play import FixedSeat, play
from tournament.coin_strategies import BEHAVIOURS, avoiding_action, greedy_action

KW = dict(dtype=torch.float64, device=torch.device("cpu"))
G = 3


def test_every_declared_coin_strategy_has_a_behaviour_and_a_kind():
    assert set(COIN_STRATEGIES) == set(BEHAVIOURS)
    for name in COIN_STRATEGIES:
        assert KINDS[name].coin and not KINDS[name].learner


def torus_distance(a, b, grid):
    dr = (a // grid - b // grid) % grid
    dc = (a % grid - b % grid) % grid
    return torch.minimum(dr, grid - dr) + torch.minimum(dc, grid - dc)


@pytest.mark.parametrize("grid", [2, 3, 4, 5])
def test_greedy_steps_one_cell_closer_on_the_torus(grid):
    cells = torch.arange(grid * grid)
    own, coin = torch.cartesian_prod(cells, cells).unbind(1)
    own, coin = own[own != coin], coin[own != coin]
    after = move(own, greedy_action(own, coin, grid), grid)
    assert torch.equal(torus_distance(after, coin, grid), torus_distance(own, coin, grid) - 1)


@pytest.mark.parametrize("grid", [2, 3])
def test_avoiding_never_lands_on_the_coin_and_uses_every_allowed_move(grid):
    n = 4000
    own = torch.zeros(n, dtype=torch.long)
    coin = torch.full((n,), 1)  # right of own (and left of it on a 2-grid)
    u = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    actions = avoiding_action(own, coin, u, grid)
    assert not (move(own, actions, grid) == coin).any()
    allowed = 2 if grid == 2 else 3
    assert len(actions.unique()) == allowed


def match(kind_0, kind_1, batch=64, episodes=16, steps=100, seed=0):
    seats = (FixedSeat(kind_0), FixedSeat(kind_1))
    rollouts = play(seats, list(range(seed, seed + batch)), episodes, steps, G, 7, KW)
    return rollouts, rollouts.statistics(torch.full((batch,), 0.96, **KW))


def test_own_coin_pair_never_penalised_and_takes_only_own_coins():
    rollouts, stats = match("own-coin", "own-coin")
    assert (rollouts.rewards >= 0).all()
    assert rollouts.picked.sum() == rollouts.picked_own.sum() > 0
    assert torch.equal(stats["own_coin_share_0"], torch.ones(64, **KW))


def test_greedy_pair_share_is_one_half_by_symmetry():
    _, stats = match("greedy", "greedy", batch=200)
    shares = torch.cat([stats["own_coin_share_0"], stats["own_coin_share_1"]])
    mean, se = shares.mean().item(), (shares.std() / len(shares) ** 0.5).item()
    assert abs(mean - 0.5) < 3 * se, (mean, se)
    assert se < 0.01


def test_greedy_exploits_own_coin():
    _, stats = match("greedy", "own-coin")
    assert (stats["reward_0"] > stats["reward_1"]).all()
    assert stats["reward_1"].mean() < 0 < stats["reward_0"].mean()
    assert stats["pickups_0"].mean() > stats["pickups_1"].mean()


def test_reciprocal_punishes_greedy_but_not_own_coin():
    rollouts, _ = match("reciprocal", "greedy")
    took = rollouts.picked & ~rollouts.picked_own  # [B, E, T, 2]: took the other's coin
    per_match = took.sum(dim=(1, 2)).double()  # [B, 2]
    # it takes the greedy agent's coins at a rate of the same order as it loses its own
    ratio = per_match[:, 0].sum() / per_match[:, 1].sum()
    assert 0.5 < ratio < 1.5, ratio
    # own-coin, against the same greedy opponent, never retaliates
    polite, _ = match("own-coin", "greedy")
    assert (polite.picked & ~polite.picked_own)[..., 0].sum() == 0
    # and reciprocal never starts: against own-coin it never takes the other's coin
    peace, _ = match("reciprocal", "own-coin")
    assert (peace.picked & ~peace.picked_own).sum() == 0


def test_random_pickups_per_step_match_their_rate():
    _, stats = match("random", "random", batch=100)
    # a coin every few steps on a 3x3 torus; both agents alike by symmetry
    p0, p1 = stats["pickups_0"].mean().item(), stats["pickups_1"].mean().item()
    assert 0.05 < p0 < 0.2 and abs(p0 - p1) < 0.01
