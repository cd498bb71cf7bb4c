"""The Coin Game engine: B matches in which each side is a sampled learner (``nl-pg``,
``lola-dice``, ``pola-dice``) with a Coin Game policy (:mod:`agents.coin_policies`) or a fixed
Coin Game strategy (:mod:`tournament.coin_strategies`).

Each update every learner computes its rule's direction (:mod:`agents.rules`, the same
functions as in the matrix games) from the same current parameters, on a fresh
:class:`tournament.coin_play.CoinDiceObjective` instead of an exact value; an optimiser steps.
A learner facing a fixed strategy has no opponent learning to look ahead through: its lookahead
and inner steps are 0 (LOLA-DiCE is then NL-PG; POLA-DiCE takes M proximal policy-gradient
steps). Seeds: side a's parameters and rollouts from ``2 s``, side b's
from ``2 s + 1`` (as in the other engines).

What is recorded (:meth:`CoinEngine.snapshot`) comes from an evaluation rollout of the recorded
policies: E episodes of T steps (the sampled learner's; seat a's if both learn; the options'
defaults between two fixed strategies), under the match seed,
:data:`agents.dice.EVALUATION_STREAM` + update: each side's discounted reward per step, coins
picked up per step and own-coin share.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import torch

from agents.coin_policies import CoinPolicy, coin_policy_factory
from agents.dice import EVALUATION_STREAM
from agents.functional import is_finite, per_match
from agents.kinds import check_family
from agents.optim import OPTIMIZERS
from agents.options import default
from agents.rules import RULES
from agents.spec import AgentSpec
from tournament.coin_play import CoinDiceObjective, FixedSeat, PolicySeat, play
from tournament.engines.base import (
    Engine,
    learners_state,
    load_learner_state,
    rule_params,
    side_seeds,
)
from tournament.engines.sampled import keep_freed_memory, one_thread
from tournament.games import COIN, CoinGame
from tournament.recorder import Snapshot


def check_coin_player(spec: AgentSpec, grid_size: int) -> None:
    """A one-line ``ValueError`` unless ``spec`` can play the Coin Game: a Coin Game kind, a
    learner with a Coin Game policy and no opponent model, ``random`` without a probability."""
    check_family(spec.kind, coin=True, game=COIN)
    if spec.learner:
        CoinPolicy(coin_policy_factory(spec.policy, grid_size), grid_size)
        if spec.opponent_model:
            raise ValueError(
                "opponent_model: the Coin Game has no tabular opponent model; set it to false"
            )
    elif spec.kind == "random" and spec.p not in (None, (0.5,)):
        raise ValueError("p: the Coin Game's random moves uniformly; it takes no probability")


class CoinSide:
    """One side of B matches: a learner's policy, parameters, rule and optimiser, or a fixed
    strategy."""

    def __init__(self, specs: Sequence[AgentSpec], seeds: Sequence[int], grid_size: int, kw):
        spec = specs[0]
        if any(s.structure() != spec.structure() for s in specs):
            raise ValueError(
                "specs: matches in one batch must share kind, policy, optimizer (and a sampled "
                "learner's episodes, steps, baseline, lookahead)"
            )
        check_coin_player(spec, grid_size)
        self.spec, self.seeds = spec, list(seeds)
        self.kind = None if spec.learner else spec.kind
        self.policy = self.theta = None
        if spec.learner:
            self.policy = CoinPolicy(coin_policy_factory(spec.policy, grid_size), grid_size)
            self.theta = self.policy.init(seeds, **kw)
            self.optimizer = OPTIMIZERS[spec.optimizer](torch.tensor([s.lr for s in specs], **kw))
            self.rule = RULES[spec.kind]
            self.hp = rule_params(specs, kw)

    def seat(self):
        return PolicySeat(self.policy, self.theta) if self.policy else FixedSeat(self.kind)

    def as_opponent(self) -> CoinPolicy | str:
        """What a learner's objective plays against: the policy, or the fixed kind."""
        return self.policy if self.policy else self.kind


class CoinEngine(Engine):
    """Side a and side b of B Coin Game matches (:class:`tournament.engines.base.Engine`)."""

    games = (CoinGame,)

    @classmethod
    def refusal(cls, game, specs) -> str | None:
        return None  # each side checks its agents, with the field at fault (CoinSide)

    @classmethod
    @contextmanager
    def threads(cls) -> Iterator[None]:
        """One intra-op thread (:func:`one_thread`), and freed memory kept for the next update's
        tensors (:func:`keep_freed_memory`)."""
        with one_thread(), keep_freed_memory():
            yield

    def __init__(self, game: CoinGame, specs_a, specs_b, seeds, gamma: torch.Tensor, kw: dict):
        self.grid_size, self.gamma, self.seeds = game.grid_size, gamma, list(seeds)
        seeds_a, seeds_b = side_seeds(seeds)
        self.a = CoinSide(specs_a, seeds_a, game.grid_size, kw)
        self.b = CoinSide(specs_b, seeds_b, game.grid_size, kw)
        learners = [side.spec for side in (self.a, self.b) if side.spec.learner]
        evaluator = learners[0] if learners else None
        self.episodes = evaluator.episodes if evaluator else default("episodes")
        self.steps = evaluator.steps if evaluator else default("steps")
        self.updates_done = 0

    def _proposal(self, me: CoinSide, other: CoinSide):
        if me.policy is None:
            return None
        spec = me.spec
        objective = CoinDiceObjective(
            me.policy,
            other.as_opponent(),
            self.grid_size,
            self.gamma,
            me.seeds,
            spec.episodes,
            spec.steps,
            spec.baseline,
            update=self.updates_done,
        )
        hp = me.hp
        if other.policy is None:  # nothing to look ahead through: no opponent steps
            hp = replace(
                hp,
                lookahead=torch.zeros_like(hp.lookahead),
                inner_steps=torch.zeros_like(hp.inner_steps),
            )
        theta_opp = other.theta if other.theta is not None else {}
        direction = me.rule(me.theta, theta_opp, objective, hp)
        return {n: t.detach() for n, t in me.optimizer.step(me.theta, direction).items()}

    def step(self) -> torch.Tensor:
        """One simultaneous update; a match whose new parameters are not finite keeps its old
        ones. Returns the per-match flag [B] that it stayed finite."""
        new_a, new_b = self._proposal(self.a, self.b), self._proposal(self.b, self.a)
        finite = torch.ones(len(self.seeds), dtype=torch.bool, device=self.gamma.device)
        for new in (new_a, new_b):
            if new is not None:
                finite = finite & is_finite(new)
        for side, new in ((self.a, new_a), (self.b, new_b)):
            if new is not None:
                side.theta = {
                    n: torch.where(per_match(finite, t), t, side.theta[n]) for n, t in new.items()
                }
        self.updates_done += 1
        return finite

    def _learners(self) -> dict:
        return {
            name: side for name, side in (("a", self.a), ("b", self.b)) if side.policy is not None
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Each learning side's parameters and optimiser state (:func:`learners_state`)."""
        return learners_state(self._learners())

    def load_state_dict(self, state: dict[str, torch.Tensor], update: int) -> None:
        for name, side in self._learners().items():
            load_learner_state(name, side, state, self.gamma.device)
        self.updates_done = update  # the rollouts' streams count the updates

    def statistics(self) -> dict[str, torch.Tensor]:
        """An evaluation rollout's statistics of the current policies, [B] each (suffix ``_0``
        side a, ``_1`` side b: :meth:`tournament.coin_play.CoinRollouts.statistics`)."""
        kw = dict(dtype=self.gamma.dtype, device=self.gamma.device)
        stream = EVALUATION_STREAM + self.updates_done
        seats = (self.a.seat(), self.b.seat())
        played = play(seats, self.seeds, self.episodes, self.steps, self.grid_size, stream, kw)
        return played.statistics(self.gamma)

    def snapshot(self) -> Snapshot:
        stats = self.statistics()
        kw = dict(dtype=self.gamma.dtype, device=self.gamma.device)
        nan = torch.full((len(self.seeds), 5), float("nan"), **kw)
        return Snapshot(
            stats["reward_0"],
            stats["reward_1"],
            p_coop_a=nan,
            p_coop_b=nan,
            own_coin_share_a=stats["own_coin_share_0"],
            own_coin_share_b=stats["own_coin_share_1"],
            pickups_a=stats["pickups_0"],
            pickups_b=stats["pickups_1"],
        )
