"""Sampled play of memory-one policies in a 2x2 game (:mod:`tournament.games`), batched over
matches, with a seeded generator."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tournament.games import SWAP_VIEW, Game


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
