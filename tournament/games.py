"""Two-player 2x2 iterated games with memory-one policies: the games and sampled play.

States are egocentric. A memory-one policy is a vector of five cooperation probabilities
``p = [P(C | start), P(C | CC), P(C | CD), P(C | DC), P(C | DD)]`` where ``CD`` means "I
cooperated, the other defected". The game works in the row player's view: joint outcomes are
indexed ``CC, CD, DC, DD`` as (row action, column action). The column player sees the same
outcome with CD and DC exchanged; that exchange lives only in :data:`SWAP_VIEW`.

Exact values (``V = p0 (I - gamma P)^-1 r``) and their gradients: :mod:`tournament.values`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tournament.coin_match import DEFAULT_GRID, CoinGame
from tournament.coin_match import GAME_NAME as COIN
from tournament.differentiable import DIFFERENTIABLE_GAMES, DifferentiableGame

OUTCOMES = ("CC", "CD", "DC", "DD")
# Index of the same joint outcome in the other player's view (CD <-> DC).
SWAP_VIEW = (0, 2, 1, 3)


@dataclass(frozen=True)
class Game:
    """A 2x2 game: each player's payoff for the outcomes CC, CD, DC, DD in the row's view.

    ``payoffs_row[i]`` and ``payoffs_col[i]`` are the row's and the column's payoff when the
    joint outcome is ``OUTCOMES[i]`` (row action first).
    """

    name: str
    payoffs_row: tuple[float, float, float, float]
    payoffs_col: tuple[float, float, float, float]

    def __post_init__(self):
        for field in ("payoffs_row", "payoffs_col"):
            value = getattr(self, field)
            if len(value) != 4:
                raise ValueError(f"{field}: needs 4 payoffs for CC, CD, DC, DD, got {len(value)}")
            object.__setattr__(self, field, tuple(float(x) for x in value))

    @property
    def symmetric(self) -> bool:
        """True when the column player's payoffs are the row's with the roles exchanged."""
        return all(self.payoffs_col[SWAP_VIEW[i]] == self.payoffs_row[i] for i in range(4))

    def payoffs(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both payoff vectors, [4] each, on ``like``'s device and dtype."""
        kw = dict(dtype=like.dtype, device=like.device)
        return torch.tensor(self.payoffs_row, **kw), torch.tensor(self.payoffs_col, **kw)


def symmetric_game(name: str, payoffs: tuple[float, float, float, float]) -> Game:
    """A symmetric game from the row's payoffs (R, S, T, P) for CC, CD, DC, DD."""
    payoffs = tuple(payoffs)
    if len(payoffs) != 4:
        raise ValueError(f"payoffs: needs 4 values for CC, CD, DC, DD, got {len(payoffs)}")
    return Game(name, payoffs, tuple(payoffs[SWAP_VIEW[i]] for i in range(4)))


GAMES: dict[str, Game] = {
    # Prisoner's dilemma as in the LOLA paper: mutual cooperation -1, mutual defection -2.
    "ipd": symmetric_game("ipd", (-1.0, -3.0, 0.0, -2.0)),
    # Matching pennies: the row wins when the actions match. Zero-sum, Nash: 0.5 everywhere.
    "imp": Game("imp", (1.0, -1.0, -1.0, 1.0), (-1.0, 1.0, 1.0, -1.0)),
    # Stag hunt (C = stag): two pure equilibria, CC payoff-dominant, DD risk-dominant.
    "stag_hunt": symmetric_game("stag_hunt", (4.0, 0.0, 3.0, 3.0)),
    # Chicken (C = swerve): mutual D is the crash.
    "chicken": symmetric_game("chicken", (0.0, -1.0, 1.0, -10.0)),
}


# Every game a sweep or the match command takes by name.
GAME_NAMES: tuple[str, ...] = (*GAMES, *DIFFERENTIABLE_GAMES, COIN)


def get_game(
    name: str, payoffs: tuple[float, ...] | None = None, grid_size: int | None = None
) -> Game | DifferentiableGame | CoinGame:
    """A game by name, iterated 2x2 (``GAMES``; ``payoffs``, 4 values, symmetric, or 8: row's
    then column's, override), differentiable (:data:`DIFFERENTIABLE_GAMES`) or the Coin Game
    (``coin``, on a ``grid_size`` torus, default 3; the only game that takes a grid size)."""
    if name == COIN:
        if payoffs is not None:
            raise ValueError("payoffs: the Coin Game takes no payoffs")
        return CoinGame(DEFAULT_GRID if grid_size is None else grid_size)
    if grid_size is not None:
        raise ValueError(f"grid_size: only the Coin Game ({COIN}) takes a grid size, not {name}")
    if name in DIFFERENTIABLE_GAMES:
        if payoffs is not None:
            raise ValueError(f"payoffs: {name} is a differentiable game; it takes no payoffs")
        return DIFFERENTIABLE_GAMES[name]
    if payoffs is not None:
        payoffs = tuple(float(x) for x in payoffs)
        if len(payoffs) == 4:
            return symmetric_game(name, payoffs)
        if len(payoffs) == 8:
            return Game(name, payoffs[:4], payoffs[4:])
        raise ValueError(
            f"payoffs: needs 4 values (symmetric: CC, CD, DC, DD) or 8 (row's then column's), "
            f"got {len(payoffs)}"
        )
    if name not in GAMES:
        raise ValueError(f"game: unknown {name!r}; accepted: {', '.join(GAME_NAMES)}")
    return GAMES[name]


@dataclass
class Rollout:
    """Sampled play of B matches for T steps.

    states: [B, T, 2] the egocentric state each player acted in (0 = start, then 1..4 = CC, CD,
    DC, DD, own action first); actions: [B, T, 2] (1 = cooperate; row, column); outcomes:
    [B, T] joint outcome index in the row's view (0..3 = CC, CD, DC, DD); rewards: [B, T, 2].
    """

    states: torch.Tensor
    actions: torch.Tensor
    outcomes: torch.Tensor
    rewards: torch.Tensor

    def discounted_reward_per_step(self, gamma: float) -> torch.Tensor:
        """``(1 - gamma) sum_t gamma^t r_t`` for each match and player, [B, 2]."""
        steps = self.rewards.shape[1]
        discount = gamma ** torch.arange(steps, dtype=self.rewards.dtype)
        return (1 - gamma) * torch.einsum("btp,t->bp", self.rewards, discount)


def sample_play(
    game: Game,
    p_row: torch.Tensor,
    p_col: torch.Tensor,
    steps: int,
    generator: torch.Generator,
) -> Rollout:
    """Batched sampled play of ``steps`` rounds with a seeded generator (no gradients)."""
    if steps < 1:
        raise ValueError(f"steps: must be >= 1, got {steps}")
    p_row, p_col = p_row.detach(), p_col.detach()
    batch = p_row.shape[0]
    rows = torch.arange(batch, device=p_row.device)
    swap = torch.tensor(SWAP_VIEW, device=p_row.device)
    r_row, r_col = game.payoffs(p_row)
    state_row = torch.zeros(batch, dtype=torch.long, device=p_row.device)  # 0 = start
    state_col = state_row.clone()
    states, actions, outcomes = [], [], []
    for _ in range(steps):
        states.append(torch.stack([state_row, state_col], dim=1))
        u = torch.rand(batch, 2, generator=generator, dtype=p_row.dtype, device=p_row.device)
        act_row = (u[:, 0] < p_row[rows, state_row]).long()
        act_col = (u[:, 1] < p_col[rows, state_col]).long()
        outcome = 2 * (1 - act_row) + (1 - act_col)  # row's view: CC=0, CD=1, DC=2, DD=3
        actions.append(torch.stack([act_row, act_col], dim=1))
        outcomes.append(outcome)
        state_row, state_col = outcome + 1, swap[outcome] + 1
    outcomes = torch.stack(outcomes, dim=1)  # [B, T]
    rewards = torch.stack([r_row[outcomes], r_col[outcomes]], dim=2)  # [B, T, 2]
    return Rollout(torch.stack(states, dim=1), torch.stack(actions, dim=1), outcomes, rewards)
