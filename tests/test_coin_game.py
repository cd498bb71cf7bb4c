"""The Coin Game's rules on hand-built states (tournament/coin_game.py)."""

import pytest
import torch

from tournament import coin_game
from tournament.coin_game import CoinState, move, nth_free_cell, observe, reset, step, swap_sides
from tournament.games import check_grid_size

G = 3
UP, DOWN, LEFT, RIGHT = range(4)


def state(pos0, pos1, coin, owner):
    """One episode; positions as (row, col)."""

    def cell(rc):
        return rc[0] * G + rc[1]

    return CoinState(
        torch.tensor([[cell(pos0), cell(pos1)]]),
        torch.tensor([cell(coin)]),
        torch.tensor([owner]),
    )


def play(s, a0, a1, u=0.5):
    return step(s, torch.tensor([[a0, a1]]), torch.tensor([u], dtype=torch.float64), G)


def test_own_coin_pickup_scores_one_and_flips_colour():
    s, tr = play(state((0, 0), (2, 2), (0, 1), owner=0), RIGHT, UP)
    assert tr.rewards.tolist() == [[1.0, 0.0]]
    assert tr.picked_own.tolist() == [[True, False]]
    assert s.owner.item() == 1  # the new coin is the other colour


def test_other_coin_pickup_penalises_its_owner():
    s, tr = play(state((0, 0), (2, 2), (0, 1), owner=1), RIGHT, UP)
    assert tr.rewards.tolist() == [[1.0, -2.0]]
    assert tr.picked_other.tolist() == [[True, False]]
    assert s.owner.item() == 0


def test_both_on_coin_is_symmetric_each_gets_one_owner_penalised_once():
    for owner in (0, 1):
        # agent 0 moves right onto (0, 1), agent 1 moves up from (1, 1) onto (0, 1)
        _, tr = play(state((0, 0), (1, 1), (0, 1), owner=owner), RIGHT, UP)
        expected = [-1.0, 1.0] if owner == 0 else [1.0, -1.0]
        assert tr.rewards.tolist() == [expected]
        assert tr.picked.tolist() == [[True, True]]


def test_no_pickup_no_reward_coin_stays():
    s0 = state((0, 0), (2, 2), (1, 1), owner=0)
    s, tr = play(s0, LEFT, DOWN)
    assert tr.rewards.tolist() == [[0.0, 0.0]]
    assert s.coin.item() == s0.coin.item() and s.owner.item() == 0


def test_moves_wrap_around_the_torus():
    corner = torch.tensor([0])  # (0, 0)
    assert move(corner, torch.tensor([UP]), G).item() == 2 * G  # (2, 0)
    assert move(corner, torch.tensor([LEFT]), G).item() == 2  # (0, 2)
    far = torch.tensor([G * G - 1])  # (2, 2)
    assert move(far, torch.tensor([DOWN]), G).item() == 2  # (0, 2)
    assert move(far, torch.tensor([RIGHT]), G).item() == 2 * G  # (2, 0)
    # a pickup across the edge
    _, tr = play(state((0, 0), (1, 1), (0, 2), owner=0), LEFT, UP)
    assert tr.rewards.tolist() == [[1.0, 0.0]]


@pytest.mark.parametrize("grid", [2, 3, 5])
def test_new_coin_never_on_an_agent_and_uniform_over_free_cells(grid):
    n = 20000
    u = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(grid))
    for same in (False, True):
        pos = torch.tensor([[0, 0 if same else grid + 1]]).expand(n, 2)
        cells = nth_free_cell(coin_game._pick(u, coin_game.free_cells(pos, grid)), pos)
        assert not (cells[:, None] == pos).any()
        counts = torch.bincount(cells, minlength=grid * grid).double()
        free = grid * grid - (1 if same else 2)
        assert (counts > 0).sum().item() == free
        assert (counts[counts > 0] / n - 1 / free).abs().max() < 0.02


def test_reset_places_agents_apart_and_coin_free():
    u = torch.rand(5000, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    s = reset(u, G)
    assert (s.pos[:, 0] != s.pos[:, 1]).all()
    assert ((s.coin != s.pos[:, 0]) & (s.coin != s.pos[:, 1])).all()
    assert 0.45 < s.owner.double().mean().item() < 0.55
    assert torch.bincount(s.pos[:, 1], minlength=G * G).min() > 0


def test_colour_alternates_at_every_new_coin():
    gen = torch.Generator().manual_seed(1)
    s = reset(torch.rand(64, 4, dtype=torch.float64, generator=gen), G)
    owners = [s.owner.clone()]
    picked_any = []
    for _ in range(200):
        actions = torch.randint(4, (64, 2), generator=gen)
        s, tr = step(s, actions, torch.rand(64, dtype=torch.float64, generator=gen), G)
        picked_any.append(tr.picked.any(dim=1))
        owners.append(s.owner.clone())
    owners, picked_any = torch.stack(owners), torch.stack(picked_any)
    flipped = owners[1:] != owners[:-1]
    assert torch.equal(flipped, picked_any)
    assert picked_any.sum() > 1000


def test_observations_of_the_two_sides_are_each_others_swap():
    gen = torch.Generator().manual_seed(2)
    s = reset(torch.rand(100, 4, dtype=torch.float64, generator=gen), G)
    obs0, obs1 = observe(s, 0, G), observe(s, 1, G)
    assert torch.equal(obs0, obs1[:, [1, 0, 3, 2]])
    assert torch.equal(observe(swap_sides(s), 0, G), obs1)
    assert obs0.shape == (100, 4, G, G) and (obs0.sum(dim=(1, 2, 3)) == 3).all()
    # the hand-built case: agent 0 at (0, 0), agent 1 at (2, 2), coin of agent 1's at (1, 2)
    o = observe(state((0, 0), (2, 2), (1, 2), owner=1), 0, G)[0]
    assert o[0, 0, 0] == 1 and o[1, 2, 2] == 1 and o[2].sum() == 0 and o[3, 1, 2] == 1


@pytest.mark.parametrize("bad", [1, 0, -3, 33, 10**6, 2.5, "3", True])
def test_grid_size_out_of_range_is_one_line_error(bad):
    with pytest.raises(ValueError, match=r"^grid_size: must be an integer in \[2, 32\]"):
        check_grid_size(bad)
