"""Learning rules: pure functions of both players' parameters and a two-player objective.

Every rule has the signature ``rule(theta, theta_opp, objective, hp) -> direction``; ``direction``
is an ascent direction for ``theta`` (a Params dict) and the optimiser applies the own learning
rate: SGD ``theta <- theta + lr * direction``. The ``objective`` (:class:`Objective`) gives both
players' unnormalised discounted values and their first derivatives, as differentiable
expressions: from autograd for any ``nn.Module`` policy (:class:`agents.functional.
AutogradObjective`), or in closed form for tabular policies (``tournament.values``). Rules
differentiate those first derivatives once more with autograd where they need second-order terms.
Nothing is updated in place, so every rule is differentiable and batched over B matches.

Symbols: ``V1 = V(theta1, theta2)`` own value, ``V2`` the opponent's, ``alpha`` = ``hp.lr_in``
(the opponent's step that the learner assumes), ``eta`` = ``hp.eta``, ``k`` = ``hp.lookahead``
(per match: a batch may mix depths), ``sg`` = stop-gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from agents.functional import Params, axpy, detach, dot, grad, requires_grad, vjp


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
    whichever of its inputs require grad (so rules can take second derivatives)."""

    def values(self, theta: Params, theta_opp: Params) -> tuple[torch.Tensor, torch.Tensor]: ...

    def grads(self, theta: Params, theta_opp: Params, of: str = "both") -> Grads: ...


@dataclass
class RuleParams:
    """Per-match hyperparameters of a rule, [B] tensors: the assumed opponent step, LOLA-Taylor's
    eta and the lookahead depth k (integers)."""

    lr_in: torch.Tensor
    eta: torch.Tensor
    lookahead: torch.Tensor
    sos_a: float = 0.5
    sos_b: float = 0.1


def naive(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """NL, naive gradient ascent: ``d = grad_1 V1(theta1, theta2)``."""
    return objective.grads(detach(theta), detach(theta_opp), of="self").d_self_v_self


def unroll_opponent(
    theta: Params,
    theta_opp: Params,
    objective: Objective,
    lr_in: torch.Tensor,
    steps: torch.Tensor,
    differentiable: bool,
) -> Params:
    """k naive steps of the opponent against a fixed ``theta`` (k = ``steps``, per match):

        theta2^(j+1) = theta2^(j) + alpha * grad_2 V2(theta1, theta2^(j)),   j = 0 .. k-1

    A batch runs max(k) steps; a match's steps beyond its own k have step size 0 (exactly no
    change). With ``differentiable`` the steps are recorded, so ``theta2^(k)`` is a
    differentiable function of ``theta1``; without, it is a constant.
    """
    if not differentiable:
        theta, theta_opp = detach(theta), detach(theta_opp)
    for j in range(int(steps.max()) if steps.numel() else 0):
        alpha = torch.where(steps > j, lr_in, torch.zeros_like(lr_in))
        step = objective.grads(theta, theta_opp, of="opp").d_opp_v_opp
        theta_opp = axpy(theta_opp, alpha, step)
    return theta_opp


def lookahead(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """LA, LookAhead (Zhang & Lesser 2010): own value at the opponent's k-step naive update,
    that update held constant w.r.t. own parameters:

        d = grad_1 V1(theta1, sg(theta2^(k)))
    """
    theta_opp_k = unroll_opponent(
        theta, theta_opp, objective, hp.lr_in, hp.lookahead, differentiable=False
    )
    return objective.grads(detach(theta), theta_opp_k, of="self").d_self_v_self


def lola(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """LOLA(k), the unrolled rule: own value at the opponent's k naive steps, differentiated
    through those steps (as in DiCE, ``higher`` and TorchOpt):

        d = d/d theta1 [ V1(theta1, theta2^(k)(theta1)) ]

    For k = 1 this is ``grad_1 V1 + alpha (grad_12 V2)^T grad_2 V1 + alpha (grad_12 V1) grad_2 V2``
    plus higher orders: the first-order shaping term of Foerster et al. 2018 together with the
    LookAhead term, which the paper's Taylor rule (:func:`lola_taylor`) leaves out.
    """
    theta = requires_grad(theta)
    theta_opp_k = unroll_opponent(
        theta, detach(theta_opp), objective, hp.lr_in, hp.lookahead, differentiable=True
    )
    # Chain rule at (theta1, theta2^(k)): grad_1 V1 + (d theta2^(k) / d theta1)^T grad_2 V1.
    g = objective.grads(detach(theta), detach(theta_opp_k), of="self")
    through_opponent = vjp(theta_opp_k, theta, g.d_opp_v_self)
    return {n: d + through_opponent[n] for n, d in g.d_self_v_self.items()}


def lola_taylor(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """LOLA-Taylor, the first-order rule of Foerster et al. 2018 (eq. 4; the official code):

        d = grad_1 V1 + eta * grad_1 [ sg(grad_2 V1) . grad_2 V2 ]

    i.e. the naive gradient plus the shaping term ``eta (grad_2 V1)^T grad_12 V2``.
    """
    theta = requires_grad(theta)
    g = objective.grads(theta, detach(theta_opp))
    shaping = grad(dot(detach(g.d_opp_v_self), g.d_opp_v_opp), theta)
    return axpy(detach(g.d_self_v_self), hp.eta, shaping)


def sos(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """SOS, Stable Opponent Shaping (Letcher et al. 2019, Algorithm 1), in loss form L = -V:

        xi   = (grad_1 L1, grad_2 L2)                  simultaneous gradient
        xi_0 = (I - alpha H_o) xi                      LookAhead part
        chi  = diag(H_o^T grad L)                      LOLA shaping part
        p1   = 1 if <-alpha chi, xi_0> >= 0 else min(1, -a |xi_0|^2 / <-alpha chi, xi_0>)
        p2   = |xi|^2 if |xi| < b else 1;   p = min(p1, p2)
        step = -(xi_0 - p alpha chi)  (own component; norms over both players, per match)

    with ``H_o`` the off-diagonal blocks of the Jacobian of xi, ``a = hp.sos_a``,
    ``b = hp.sos_b``.
    """
    theta, theta_opp = requires_grad(theta), requires_grad(theta_opp)
    g = objective.grads(theta, theta_opp)
    xi1 = {n: -t for n, t in g.d_self_v_self.items()}
    xi2 = {n: -t for n, t in g.d_opp_v_opp.items()}
    d2_l1 = {n: -t for n, t in g.d_opp_v_self.items()}  # grad_2 L1
    d1_l2 = {n: -t for n, t in g.d_self_v_opp.items()}  # grad_1 L2
    # H_o xi: (grad_12 L1 xi2, grad_21 L2 xi1); chi: (grad_12 L2 grad_2 L1, grad_21 L1 grad_1 L2).
    ho_xi1 = grad(dot(d2_l1, detach(xi2)), theta, retain_graph=True)
    ho_xi2 = grad(dot(d1_l2, detach(xi1)), theta_opp, retain_graph=True)
    chi1 = grad(dot(detach(d2_l1), xi2), theta, retain_graph=True)
    chi2 = grad(dot(detach(d1_l2), xi1), theta_opp)
    alpha = hp.lr_in
    xi1, xi2 = detach(xi1), detach(xi2)
    xi0_1, xi0_2 = axpy(xi1, -alpha, ho_xi1), axpy(xi2, -alpha, ho_xi2)

    inner = -alpha * (dot(chi1, xi0_1) + dot(chi2, xi0_2))  # <-alpha chi, xi_0>, [B]
    xi0_sq = dot(xi0_1, xi0_1) + dot(xi0_2, xi0_2)
    ratio = -hp.sos_a * xi0_sq / torch.where(inner < 0, inner, -torch.ones_like(inner))
    p1 = torch.where(inner >= 0, torch.ones_like(inner), ratio.clamp(max=1.0))
    xi_sq = dot(xi1, xi1) + dot(xi2, xi2)
    p2 = torch.where(xi_sq.sqrt() < hp.sos_b, xi_sq, torch.ones_like(xi_sq))
    p = torch.minimum(p1, p2)
    step = axpy(xi0_1, -p * alpha, chi1)
    return {n: -s for n, s in step.items()}


RULES: dict[str, Callable[..., Params]] = {
    "nl": naive,
    "la": lookahead,
    "lola": lola,
    "lola-taylor": lola_taylor,
    "sos": sos,
}
