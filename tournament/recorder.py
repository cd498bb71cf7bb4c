"""Learning curves: what an engine reports at a recorded update (:class:`Snapshot`), collected
over the updates of a run into :class:`MatchResults`.

A measure is one field, named the same in both: a new measure (say a grid game's coins picked
up per step) is a field of each, None where an engine does not produce it, and a column of
``sweeps/schema.py``. A match whose update or recorded rewards went non-finite is marked
diverged at that update; its later records are NaN.

Play in pieces (a sweep's task checkpoints): each piece's results carry a :class:`BatchState`,
where the matches stand, from which the next piece resumes; :func:`join_results` makes the
pieces' results one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from agents.functional import per_match
from tournament.games import Game
from tournament.values import reward_per_step


@dataclass
class Snapshot:
    """What is recorded at one update: rewards per step [B] (values V = -L for a
    differentiable game), P(C | state) [B, 5] (NaN where it does not apply), a differentiable
    game's parameters [B, dims], the sampled engine's sampled rewards per step [B] and the Coin
    Game's own-coin share and coins picked up per step of each side [B]."""

    reward_a: torch.Tensor
    reward_b: torch.Tensor
    p_coop_a: torch.Tensor
    p_coop_b: torch.Tensor
    params_a: torch.Tensor | None = None
    params_b: torch.Tensor | None = None
    sampled_reward_a: torch.Tensor | None = None
    sampled_reward_b: torch.Tensor | None = None
    own_coin_share_a: torch.Tensor | None = None
    own_coin_share_b: torch.Tensor | None = None
    pickups_a: torch.Tensor | None = None
    pickups_b: torch.Tensor | None = None

    @classmethod
    def of(cls, game: Game, p_a, p_b, gamma) -> Snapshot:
        """The exact rewards per step of memory-one policies ``p_a``, ``p_b`` [B, 5]."""
        return cls(*reward_per_step(game, p_a, p_b, gamma), p_a, p_b)


# The recorded measures: a Snapshot's fields, each a curve [B, R, ...] of MatchResults.
CURVES = tuple(f.name for f in fields(Snapshot))


@dataclass
class BatchState:
    """Where B matches stand after ``update`` updates: all that the next update reads. The
    counter-based seeding (:mod:`agents.seeding`) makes that the sides' parameters, their
    optimisers' state and the count, so play resumed from a state gives, bit for bit, what
    uninterrupted play gives. ``tensors``: the engine's own names (its ``state_dict``);
    ``diverged_at``: [B] as in :class:`MatchResults`."""

    update: int
    tensors: dict[str, torch.Tensor]
    diverged_at: torch.Tensor


@dataclass
class MatchResults:
    """Learning curves of B matches, recorded at ``updates`` (0 = before learning).

    reward_a/reward_b: [B, R] per-step rewards (a differentiable game: the values, -loss);
    p_coop_a/p_coop_b: [B, R, 5] P(C | state) in each side's own view (NaN in a differentiable
    game); params_a/params_b: [B, R, dims] a differentiable game's parameters (else None);
    diverged_at: [B] first update with non-finite parameters or values, or a differentiable
    game's parameters beyond its ``param_bound`` (-1 where none; the match's later records are
    NaN); sampled_reward_a/sampled_reward_b: [B, R] the sampled discounted reward per step of the
    recorded policies (the sampled engine only, else None); own_coin_share_*, pickups_*: [B, R]
    the Coin Game's (else None; there the rewards are sampled and p_coop_* is NaN).
    """

    updates: np.ndarray
    reward_a: np.ndarray
    reward_b: np.ndarray
    p_coop_a: np.ndarray
    p_coop_b: np.ndarray
    diverged_at: np.ndarray
    elapsed_s: float
    params_a: np.ndarray | None = None
    params_b: np.ndarray | None = None
    sampled_reward_a: np.ndarray | None = None
    sampled_reward_b: np.ndarray | None = None
    own_coin_share_a: np.ndarray | None = None
    own_coin_share_b: np.ndarray | None = None
    pickups_a: np.ndarray | None = None
    pickups_b: np.ndarray | None = None
    state: BatchState | None = None

    @property
    def status(self) -> list[str]:
        return ["diverged" if d >= 0 else "ok" for d in self.diverged_at]


def join_results(pieces: Sequence[MatchResults]) -> MatchResults:
    """The results of play in pieces (each resumed from the previous one's state) as one:
    the curves one after the other, the last divergence marks and state, the summed time."""
    recorded = [p for p in pieces if len(p.updates)] or [pieces[0]]
    last = pieces[-1]

    def curve(name: str) -> np.ndarray | None:
        arrays = [getattr(p, name) for p in recorded]
        return None if arrays[0] is None else np.concatenate(arrays, axis=1)

    return MatchResults(
        updates=np.concatenate([p.updates for p in recorded]),
        diverged_at=last.diverged_at,
        elapsed_s=sum(p.elapsed_s for p in pieces),
        state=last.state,
        **{name: curve(name) for name in CURVES},
    )


class Recorder:
    """Collects the snapshots of B matches, measure by measure, and marks divergence."""

    def __init__(self, batch: int, device: torch.device):
        self.diverged_at = torch.full((batch,), -1, dtype=torch.long, device=device)  # [B]
        self.updates: list[int] = []
        self.curves: dict[str, list[torch.Tensor | None]] = {name: [] for name in CURVES}

    def record(self, update: int, snap: Snapshot) -> None:
        """Store ``snap`` as the record of ``update``, NaN for the matches diverged so far."""
        self.mark(~(snap.reward_a.isfinite() & snap.reward_b.isfinite()), update)
        gone = self.diverged_at >= 0
        self.updates.append(update)
        for name, values in self.curves.items():
            t = getattr(snap, name)
            values.append(None if t is None else torch.where(per_match(gone, t), torch.nan, t))

    def mark(self, diverged: torch.Tensor, update: int) -> None:
        """Record ``update`` as the divergence point of newly diverged matches."""
        first = diverged & (self.diverged_at < 0)
        self.diverged_at = torch.where(first, update, self.diverged_at)

    def results(self, elapsed_s: float) -> MatchResults:
        """The recorded curves; a piece of play that ended between two recorded updates has
        none: empty rewards [B, 0] and P(C | state) [B, 0, 5], the other measures None."""
        if not self.updates:
            batch = len(self.diverged_at)
            return MatchResults(
                updates=np.zeros(0, dtype=np.int64),
                reward_a=np.zeros((batch, 0)),
                reward_b=np.zeros((batch, 0)),
                p_coop_a=np.zeros((batch, 0, 5)),
                p_coop_b=np.zeros((batch, 0, 5)),
                diverged_at=self.diverged_at.cpu().numpy(),
                elapsed_s=elapsed_s,
            )

        def curve(values: list[torch.Tensor | None]) -> np.ndarray | None:
            if values[0] is None:
                return None
            return torch.stack(values, dim=1).cpu().numpy()  # [B, R, ...]

        return MatchResults(
            updates=np.array(self.updates),
            diverged_at=self.diverged_at.cpu().numpy(),
            elapsed_s=elapsed_s,
            **{name: curve(values) for name, values in self.curves.items()},
        )
