"""Fixed Coin Game strategies: what each does, batched over N episodes.

Declared (name, description, source) once in :data:`agents.strategies.COIN_STRATEGIES`, like
the matrix games' fixed strategies; this module holds their behaviour, ``BEHAVIOURS[name]``
(a test checks that both list the same names). A behaviour sees one agent's view of the state
(:class:`View`), its own memory [N] (int64, 0 at the start) and one uniform u [N] per step, and
returns its actions [N] and its new memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from tournament.coin_game import MOVES, N_ACTIONS, CoinState, Transition, move

# How many steps `reciprocal` plays greedy after the opponent took one of its coins.
RECIPROCAL_STEPS = 10


@dataclass
class View:
    """One agent's view of N episodes: cells ``own``, ``other``, ``coin`` [N]; ``coin_is_own``
    [N]; ``other_took_mine`` [N]: on the last step the other agent picked up this agent's coin."""

    own: torch.Tensor
    other: torch.Tensor
    coin: torch.Tensor
    coin_is_own: torch.Tensor
    other_took_mine: torch.Tensor


def view(state: CoinState, last: Transition | None, side: int) -> View:
    """Agent ``side``'s view of ``state``, reached by transition ``last`` (None at the start)."""
    took = (
        torch.zeros_like(state.coin, dtype=torch.bool)
        if last is None
        else last.picked_other[:, 1 - side]
    )
    return View(state.pos[:, side], state.pos[:, 1 - side], state.coin, state.owner == side, took)


def greedy_action(own: torch.Tensor, coin: torch.Tensor, grid_size: int) -> torch.Tensor:
    """A first move of a shortest torus path from ``own`` to ``coin`` (the coin is never on the
    agent): along the rows when their distance is at least the columns', else the columns."""
    half = grid_size // 2

    def signed(a, b):  # shortest displacement from a to b on a ring of grid_size, in [-half, ..)
        return torch.remainder(b - a + half, grid_size) - half

    d_row = signed(own // grid_size, coin // grid_size)
    d_col = signed(torch.remainder(own, grid_size), torch.remainder(coin, grid_size))
    rows = d_row.abs() >= d_col.abs()
    vertical = torch.where(d_row < 0, MOVES.index((-1, 0)), MOVES.index((1, 0)))
    horizontal = torch.where(d_col < 0, MOVES.index((0, -1)), MOVES.index((0, 1)))
    return torch.where(rows, vertical, horizontal)


def avoiding_action(
    own: torch.Tensor, coin: torch.Tensor, u: torch.Tensor, grid_size: int
) -> torch.Tensor:
    """A uniform move among those that do not land on ``coin`` (at least two of four do)."""
    actions = torch.arange(N_ACTIONS, device=own.device)
    allowed = move(own[:, None], actions, grid_size) != coin[:, None]  # [N, 4]
    k = (u * allowed.sum(dim=1)).long()  # the k-th allowed move
    rank = torch.cumsum(allowed.long(), dim=1) - 1
    return ((rank == k[:, None]) & allowed).long().argmax(dim=1)


def _random(v: View, memory, u, grid_size):
    return (u * N_ACTIONS).long(), memory


def _greedy(v: View, memory, u, grid_size):
    return greedy_action(v.own, v.coin, grid_size), memory


def _own_coin(v: View, memory, u, grid_size):
    go = greedy_action(v.own, v.coin, grid_size)
    return torch.where(v.coin_is_own, go, avoiding_action(v.own, v.coin, u, grid_size)), memory


def _reciprocal(v: View, memory, u, grid_size):
    memory = torch.where(v.other_took_mine, RECIPROCAL_STEPS, (memory - 1).clamp(min=0))
    cooperate, _ = _own_coin(v, memory, u, grid_size)
    return torch.where(memory > 0, greedy_action(v.own, v.coin, grid_size), cooperate), memory


Behaviour = Callable[[View, torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]
BEHAVIOURS: dict[str, Behaviour] = {
    "random": _random,
    "greedy": _greedy,
    "own-coin": _own_coin,
    "reciprocal": _reciprocal,
}
