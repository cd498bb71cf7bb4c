"""The Coin Game (Lerer & Peysakhovich 2017; the LOLA paper's version, Foerster et al. 2018),
batched over N parallel episodes as integer tensors.

Rules (the LOLA authors' ``lola_dice/envs/coin_game.py`` and POLA's, with the tie scored
symmetrically as there, not as in their first version, alshedivat/lola issue #9):

- an ``G x G`` torus (``grid_size``), two agents on distinct cells at the start, one coin on a
  cell that holds no agent; both agents move at once, one of :data:`MOVES` (no "stay"),
  wrapping around the edges;
- the coin has an owner (its colour). Whoever steps onto it gets +1; if it was the other agent's
  coin, its owner gets -2. If both step onto it at once, both get +1 and the owner's -2 applies
  once (owner -1, other +1);
- after a pickup a new coin appears on a cell free of both agents, uniformly, and its colour is
  the other one (the authors flip the colour at each new coin; the first colour is random).

A state is three integer tensors (cells are ``row * G + col``): ``pos`` [N, 2] both agents'
cells, ``coin`` [N] the coin's cell, ``owner`` [N] the agent the coin belongs to (0 or 1).
Observations are built on demand (:func:`observe`): four one-hot ``G x G`` planes from one
agent's own view (own position, other's position, a coin of own colour, a coin of the other's),
so that one policy can play either seat; or given by the positions of their three ones
(:func:`observed_ones`), which a policy may read without the planes. Randomness enters as
uniforms in (0, 1) given by the caller (:func:`reset`, :func:`step`), so that the rollouts
decide where they come from (:mod:`tournament.coin_play`: counter-based, per match).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agents.coin_policies import one_hot_planes

# Actions: (row, col) displacement of up, down, left, right.
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))
N_ACTIONS = len(MOVES)
N_PLANES = 4
# Rewards: +1 to whoever picks the coin up, -2 to its owner when the other agent does.
PICKUP_REWARD, PENALTY = 1.0, -2.0


@dataclass
class CoinState:
    """N episodes' positions (cells ``row * G + col``, int64): ``pos`` [N, 2] agent 0's and
    agent 1's cell, ``coin`` [N], ``owner`` [N] (0 or 1)."""

    pos: torch.Tensor
    coin: torch.Tensor
    owner: torch.Tensor


@dataclass
class Transition:
    """What one step did, per episode: ``rewards`` [N, 2]; ``picked`` [N, 2] agent i stepped onto
    the coin; ``picked_own`` [N, 2] and the coin was its own colour; ``picked_other`` [N, 2] and
    it was the other's."""

    rewards: torch.Tensor
    picked: torch.Tensor
    picked_own: torch.Tensor
    picked_other: torch.Tensor


def nth_free_cell(k: torch.Tensor, occupied: torch.Tensor) -> torch.Tensor:
    """The k-th cell (0-based, in cell order) not in ``occupied`` [N, 2] (two cells, possibly
    equal): k [N] plus one for each occupied cell at or below the result."""
    low = torch.minimum(occupied[:, 0], occupied[:, 1])
    high = torch.maximum(occupied[:, 0], occupied[:, 1])
    cell = k + (k >= low)
    return cell + ((cell >= high) & (high != low))


def free_cells(pos: torch.Tensor, grid_size: int) -> torch.Tensor:
    """How many cells hold no agent, [N]: ``G^2 - 1`` where both agents share a cell."""
    return (pos[:, 0] == pos[:, 1]) + (grid_size**2 - 2)


def _pick(u: torch.Tensor, count) -> torch.Tensor:
    """floor(u * count) for u in (0, 1): an index in [0, count)."""
    return (u * count).long()


def reset(u: torch.Tensor, grid_size: int) -> CoinState:
    """Start states of N episodes from uniforms u [N, 4]: agent 0 on a uniform cell, agent 1 on
    a uniform other cell, the coin on a uniform free cell, its owner uniform."""
    cells = grid_size**2
    p0 = _pick(u[:, 0], cells)
    k1 = _pick(u[:, 1], cells - 1)
    p1 = k1 + (k1 >= p0)
    pos = torch.stack([p0, p1], dim=1)
    coin = nth_free_cell(_pick(u[:, 2], cells - 2), pos)
    return CoinState(pos, coin, _pick(u[:, 3], 2))


def moves_table(grid_size: int, device=None) -> torch.Tensor:
    """``table[4 * cell + action]``: the cell reached from ``cell`` by ``action``, wrapping
    around the torus, [4 G^2] (a lookup: integer division is slow)."""
    cell = torch.arange(grid_size**2)[:, None]
    delta = torch.tensor(MOVES)
    row = torch.remainder(cell // grid_size + delta[:, 0], grid_size)
    col = torch.remainder(cell % grid_size + delta[:, 1], grid_size)
    return (row * grid_size + col).reshape(-1).to(device)


_TABLES: dict[tuple[int, torch.device], torch.Tensor] = {}


def move(cell: torch.Tensor, action: torch.Tensor, grid_size: int) -> torch.Tensor:
    """The cell reached from ``cell`` by ``action`` (same shapes), wrapping around the torus."""
    key = (grid_size, cell.device)
    if key not in _TABLES:
        _TABLES[key] = moves_table(grid_size, cell.device)
    return torch.take(_TABLES[key], N_ACTIONS * cell + action)


def step(
    state: CoinState, actions: torch.Tensor, u: torch.Tensor, grid_size: int
) -> tuple[CoinState, Transition]:
    """Both agents move (actions [N, 2] in 0..3); pickups are scored; where the coin was picked
    up a new one of the other colour appears on a free cell chosen by u [N] (unused elsewhere).
    Rewards of agent i: ``+1 [i picked] - 2 [the other picked and the coin is i's]``."""
    pos = move(state.pos, actions, grid_size)
    picked = pos == state.coin[:, None]  # [N, 2]
    first = state.owner == 0
    mine = torch.stack([first, ~first], dim=1)  # [N, 2] the coin is agent i's
    picked_own, picked_other = picked & mine, picked & ~mine
    # Agent i is penalised when the other (column 1 - i) picked i's coin.
    penalised = picked_other.flip(1)
    rewards = PICKUP_REWARD * picked.to(u.dtype) + PENALTY * penalised.to(u.dtype)
    respawn = picked[:, 0] | picked[:, 1]
    new_coin = nth_free_cell(_pick(u, free_cells(pos, grid_size)), pos)
    coin = torch.where(respawn, new_coin, state.coin)
    owner = torch.where(respawn, 1 - state.owner, state.owner)
    transition = Transition(rewards, picked, picked_own, picked_other)
    return CoinState(pos, coin, owner), transition


def observe(
    state: CoinState, side: int, grid_size: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Agent ``side``'s view, [N, 4, G, G]: one-hot planes of its own cell, the other's cell, a
    coin of its own colour, a coin of the other's colour (one of the last two is empty)."""
    return one_hot_planes(observed_ones(state, side, grid_size), grid_size, dtype)


def observed_ones(state: CoinState, side: int, grid_size: int) -> torch.Tensor:
    """Where agent ``side``'s view (:func:`observe`) has its three ones, as positions in the
    flattened planes, [N, 3]."""
    return ones_of_cells(
        state.pos[..., side], state.pos[..., 1 - side], state.coin, state.owner == side, grid_size
    )


def ones_of_cells(
    own: torch.Tensor,
    other: torch.Tensor,
    coin: torch.Tensor,
    coin_is_own: torch.Tensor,
    grid_size: int,
) -> torch.Tensor:
    """The positions of an observation's three ones in the flattened planes (own cell, other's
    cell, the coin in the plane of its colour), [..., 3], from cells of any shape [...] (one
    agent's view)."""
    cells = grid_size**2
    return torch.stack([own, cells + other, (2 + (~coin_is_own).long()) * cells + coin], dim=-1)


def swap_sides(state: CoinState) -> CoinState:
    """The same states with the agents' seats exchanged."""
    return CoinState(state.pos.flip(-1), state.coin, 1 - state.owner)
