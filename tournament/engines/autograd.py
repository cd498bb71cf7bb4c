"""The autograd engine: any ``nn.Module`` policies, or the raw parameters of a differentiable
game. Side a's matches share one structure, and so do side b's; gradients come from autograd
through ``functional_call`` (:class:`agents.functional.AutogradObjective`): the reference that
the closed-form engine is checked against.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from agents import seeding
from agents.functional import AutogradObjective, BatchedPolicy, is_finite, per_match
from agents.objective import Params
from agents.optim import OPTIMIZERS
from agents.policies import TabularPolicy, policy_factory
from agents.rules import RULES
from agents.strategies import fixed_p_coop, model_logits
from tournament.differentiable import DifferentiableGame
from tournament.engines.base import (
    Engine,
    learners_state,
    load_learner_state,
    own_payoffs,
    refuse_online,
    refuse_sampled,
    rule_params,
    side_seeds,
)
from tournament.games import Game
from tournament.recorder import Snapshot
from tournament.values import discounted_values


class Side:
    """One side of B matches in the autograd engine: its policy, parameters and rule.

    A fixed strategy plays its exact probabilities; to a learner that models it as a naive
    learner it appears as a tabular policy at the clamped logits of those probabilities.
    """

    def __init__(
        self,
        specs,
        seeds,
        own_payoffs_,
        kw: dict,
        theta: Params | None = None,
        batch_invariant: bool = False,
    ):
        spec = specs[0]
        if any(s.structure() != spec.structure() for s in specs):
            raise ValueError(
                "specs: matches in one batch must share kind, policy, optimizer, p (and a "
                "sampled learner's episodes, steps, baseline)"
            )
        self.spec = spec
        if spec.learner:
            self.policy = BatchedPolicy(policy_factory(spec.policy), batch_invariant)
            scale = [s.init for s in specs]
            self.theta = self.policy.init(seeds, **kw, scale=scale) if theta is None else theta
            self.fixed_p = None
            self.optimizer = OPTIMIZERS[spec.optimizer](torch.tensor([s.lr for s in specs], **kw))
            self.rule = RULES[spec.kind]
            self.hp = rule_params(specs, kw)
        else:
            p = fixed_p_coop(spec.kind, own_payoffs_, spec.p)
            self.fixed_p = torch.tensor([p] * len(seeds), **kw)  # [B, 5]
            self.policy = BatchedPolicy(TabularPolicy, batch_invariant)
            self.theta = {"logits": torch.tensor([model_logits(p)] * len(seeds), **kw)}

    def p_model(self, theta: Params) -> torch.Tensor:
        """P(C | state) [B, 5] as a learner sees it (differentiable in ``theta``)."""
        return self.policy.p_coop(theta)

    def p_play(self) -> torch.Tensor:
        """P(C | state) [B, 5] actually played."""
        if self.fixed_p is not None:
            return self.fixed_p
        with torch.no_grad():
            return self.policy.p_coop(self.theta)

    def proposal(self, objective: AutogradObjective, other: Side) -> Params:
        if self.fixed_p is not None:
            return self.theta
        direction = self.rule(self.theta, other.theta, objective, self.hp)
        return {n: t.detach() for n, t in self.optimizer.step(self.theta, direction).items()}


class AutogradEngine(Engine):
    """Side a and side b of B matches, any ``nn.Module`` policies (or the raw parameters of a
    differentiable game), autograd gradients. ``BATCH_INVARIANT``: the policies' probabilities
    in bits that do not depend on the batch (:class:`agents.functional.BatchedPolicy`)."""

    BATCH_INVARIANT = False

    games = (Game, DifferentiableGame)

    @classmethod
    def refusal(cls, game, specs) -> str | None:
        return refuse_online(specs) or refuse_sampled(specs)

    def __init__(self, game, specs_a, specs_b, seeds, gamma: torch.Tensor, kw: dict):
        self.game, self.gamma = game, gamma
        seeds_ab = side_seeds(seeds)
        if isinstance(game, DifferentiableGame):
            start = [{"theta": game.init_std * _normal(s, game.dims, kw)} for s in seeds_ab]
            self.a = Side(specs_a, seeds_ab[0], None, kw, theta=start[0])
            self.b = Side(specs_b, seeds_ab[1], None, kw, theta=start[1])

            def values_a(theta_a: Params, theta_b: Params):
                return game.values(theta_a["theta"], theta_b["theta"])
        else:
            payoffs_a, payoffs_b = own_payoffs(game)
            invariant = self.BATCH_INVARIANT
            self.a = Side(specs_a, seeds_ab[0], payoffs_a, kw, batch_invariant=invariant)
            self.b = Side(specs_b, seeds_ab[1], payoffs_b, kw, batch_invariant=invariant)

            def values_a(theta_a: Params, theta_b: Params):
                p_a, p_b = self.a.p_model(theta_a), self.b.p_model(theta_b)
                return discounted_values(game, p_a, p_b, gamma)

        def values_b(theta_b: Params, theta_a: Params):
            v_a, v_b = values_a(theta_a, theta_b)
            return v_b, v_a

        logits_a = logits_b = None
        if not isinstance(game, DifferentiableGame):

            def logits_a(theta_a: Params, theta_b: Params):
                return self.a.policy.logits(theta_a), self.b.policy.logits(theta_b)

            def logits_b(theta_b: Params, theta_a: Params):
                return self.b.policy.logits(theta_b), self.a.policy.logits(theta_a)

        self.objective_a = AutogradObjective(values_a, logits_a)
        self.objective_b = AutogradObjective(values_b, logits_b)

    def step(self) -> torch.Tensor:
        return self._step(self.objective_a, self.objective_b)

    def _step(self, objective_a, objective_b) -> torch.Tensor:
        """Both sides' proposals from the same parameters; a match that went non-finite (or, in
        a differentiable game, beyond its ``param_bound``) keeps its previous parameters.
        Returns the per-match flag [B] that it stayed finite (and bounded)."""
        new_a = self.a.proposal(objective_a, self.b)
        new_b = self.b.proposal(objective_b, self.a)
        finite = is_finite(new_a) & is_finite(new_b)
        if isinstance(self.game, DifferentiableGame):  # and within the game's bound
            for new in (new_a, new_b):
                finite &= (new["theta"].abs() <= self.game.param_bound).all(dim=1)
        for side, new in ((self.a, new_a), (self.b, new_b)):
            side.theta = {
                n: torch.where(per_match(finite, t), t, side.theta[n]) for n, t in new.items()
            }
        return finite

    def _learners(self) -> dict:
        return {name: side for name, side in (("a", self.a), ("b", self.b)) if side.fixed_p is None}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Each learning side's parameters and optimiser state (:func:`learners_state`)."""
        return learners_state(self._learners())

    def load_state_dict(self, state: dict[str, torch.Tensor], update: int) -> None:
        for name, side in self._learners().items():
            load_learner_state(name, side, state, next(iter(side.theta.values())).device)

    def snapshot(self) -> Snapshot:
        if isinstance(self.game, DifferentiableGame):
            with torch.no_grad():
                v_a, v_b = self.objective_a.values(self.a.theta, self.b.theta)
            nan = torch.full((len(v_a), 5), float("nan"), dtype=v_a.dtype, device=v_a.device)
            return Snapshot(v_a, v_b, nan, nan, self.a.theta["theta"], self.b.theta["theta"])
        return Snapshot.of(self.game, self.a.p_play(), self.b.p_play(), self.gamma)


def _normal(seeds: Sequence[int], count: int, kw: dict) -> torch.Tensor:
    return torch.as_tensor(seeding.normal(seeds, count), **kw)
