"""What a learning rule is given: the objective it differentiates and its hyperparameters.

A rule (:mod:`agents.rules`) is ``rule(theta, theta_opp, objective, hp) -> direction``. This
module declares the two kinds of ``objective`` and the ``hp`` record, below both the rules and
the objectives that implement them: exact values (:class:`Objective`: closed form in
``tournament.values``, autograd in :class:`agents.functional.AutogradObjective`) and sampled
episodes (:class:`SampledObjective`: :class:`agents.dice.DiceObjective`, the Coin Game's
:class:`tournament.coin_play.CoinDiceObjective`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

Params = dict[str, torch.Tensor]  # each tensor [B, *shape of one match's parameter]


@dataclass
class Grads:
    """Both values [B] and the four gradient blocks: ``d_opp_v_self`` = grad_2 V1, and so on."""

    v_self: torch.Tensor | None
    v_opp: torch.Tensor | None
    d_self_v_self: Params | None
    d_opp_v_self: Params | None
    d_self_v_opp: Params | None
    d_opp_v_opp: Params | None


class Objective(Protocol):
    """A two-player game seen from one player. ``grads`` gives the gradients of ``of`` = ``self``
    (V1), ``opp`` (V2) or ``both`` (the others' fields are None), differentiable w.r.t.
    whichever of its inputs require grad (so rules can take second derivatives). They are
    partial derivatives at the point ``(theta, theta_opp)``, also where one player's
    parameters were computed from the other's (LOLA's unrolled opponent, HOLA's shifted one):
    a rule adds the path through that computation itself (by the chain rule)."""

    def values(self, theta: Params, theta_opp: Params) -> tuple[torch.Tensor, torch.Tensor]: ...

    def grads(self, theta: Params, theta_opp: Params, of: str = "both") -> Grads: ...

    def swapped(self) -> Objective:
        """The same game seen from the opponent's seat."""

    def logits(self, theta: Params, theta_opp: Params) -> tuple[torch.Tensor, torch.Tensor]:
        """Both players' cooperation logits [B, 5], differentiable in their parameters (POLA's
        KL term reads them)."""


class SampledObjective(Protocol):
    """A two-player game known from sampled episodes, seen from one player (:class:`agents.dice.
    DiceObjective`). ``surrogates`` plays rollout ``rollout`` of this update (its own random
    stream: fresh episodes) at the given parameters and returns both players' DiCE objectives
    ``(L1, L2)`` [B], differentiable to any order w.r.t. both parameter dicts (``of`` = ``self``
    or ``opp``: only that one, the other None)."""

    def surrogates(
        self, theta: Params, theta_opp: Params, rollout: int, of: str = "both"
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]: ...

    def model_opponent(self, theta: Params, theta_opp: Params) -> tuple[Params, SampledObjective]:
        """A tabular model of the opponent fitted to its actions in episodes played at the
        given parameters, and the objective in which the opponent is that model."""

    def old_policies(self, theta: Params, theta_opp: Params) -> tuple[object, object]:
        """Both players' policies at these parameters, as constants: what ``proximal`` measures
        its KL from (cooperation logits [B, 5] in the matrix games, the detached parameters of
        a Coin Game policy)."""

    def proximal(
        self, theta: Params, theta_opp: Params, rollout: int, of: str, old: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Player ``of``'s DiCE objective on rollout ``rollout`` and its KL from its old policy
        ``old`` (from :meth:`old_policies`) averaged over the states it visited there, [B]
        each."""


@dataclass
class RuleParams:
    """Per-match hyperparameters of a rule, [B] tensors: the assumed opponent step, LOLA-Taylor's
    eta, the lookahead depth k (integers), consensus optimisation's gamma, HOLA's order
    (integers), LOLA-DiCE's opponent modelling (bools), LSS's damping lambda, and POLA's own
    step ``lr``, KL weights ``beta_in``, ``beta_out`` and steps K, M (integers). SOS's a and b,
    SGA's epsilon and POLA's tolerance (a match's outer steps stop once its proximal objective
    changes by less) are constants."""

    lr_in: torch.Tensor
    eta: torch.Tensor
    lookahead: torch.Tensor
    gamma_co: torch.Tensor | None = None
    order: torch.Tensor | None = None
    opponent_model: torch.Tensor | None = None
    lr: torch.Tensor | None = None
    beta_in: torch.Tensor | None = None
    beta_out: torch.Tensor | None = None
    inner_steps: torch.Tensor | None = None
    outer_steps: torch.Tensor | None = None
    lss_lambda: torch.Tensor | None = None
    sos_a: float = 0.5
    sos_b: float = 0.1
    sga_eps: float = 0.1
    pola_tolerance: float = 1e-12
