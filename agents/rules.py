"""Learning rules: pure functions of both players' parameters and a two-player objective.

Every rule has the signature ``rule(theta, theta_opp, objective, hp) -> direction`` where
``objective(theta, theta_opp) -> (V, V_opp)`` returns both players' unnormalised discounted
values, [B] each, and ``direction`` is an ascent direction for ``theta`` (a Params dict). The
optimiser then applies the own learning rate: SGD ``theta <- theta + lr * direction``.
Nothing is updated in place, so every rule is differentiable and batched over B matches.

Symbols: ``V1 = V(theta1, theta2)`` own value, ``V2`` the opponent's, ``alpha`` = ``hp.lr_in``
(the opponent's step that the learner assumes), ``eta`` = ``hp.eta``, ``k`` = ``hp.lookahead``,
``sg`` = stop-gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from agents.functional import Params, axpy, detach, dot, grad, requires_grad

Objective = Callable[[Params, Params], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class RuleParams:
    """Per-match hyperparameters of a rule, [B] tensors, and the lookahead depth k."""

    lr_in: torch.Tensor
    eta: torch.Tensor
    lookahead: int = 1
    sos_a: float = 0.5
    sos_b: float = 0.1


def naive(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """NL, naive gradient ascent: ``d = grad_1 V1(theta1, theta2)``."""
    theta = requires_grad(theta)
    v_self, _ = objective(theta, detach(theta_opp))
    return grad(v_self, theta)


def unroll_opponent(
    theta: Params,
    theta_opp: Params,
    objective: Objective,
    lr_in: torch.Tensor,
    steps: int,
    differentiable: bool,
) -> Params:
    """k naive steps of the opponent against a fixed ``theta``:

        theta2^(j+1) = theta2^(j) + alpha * grad_2 V2(theta1, theta2^(j)),   j = 0 .. k-1

    With ``differentiable`` the steps are recorded (``create_graph``), so ``theta2^(k)`` is a
    differentiable function of ``theta1``; without, it is a constant.
    """
    theta_opp = requires_grad(theta_opp)
    for _ in range(steps):
        _, v_opp = objective(theta, theta_opp)
        theta_opp = axpy(theta_opp, lr_in, grad(v_opp, theta_opp, create_graph=differentiable))
    return theta_opp


def lookahead(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """LA, LookAhead (Zhang & Lesser 2010): own value at the opponent's k-step naive update,
    that update held constant w.r.t. own parameters:

        d = grad_1 V1(theta1, sg(theta2^(k)))
    """
    theta_opp_k = unroll_opponent(
        detach(theta), theta_opp, objective, hp.lr_in, hp.lookahead, differentiable=False
    )
    theta = requires_grad(theta)
    v_self, _ = objective(theta, detach(theta_opp_k))
    return grad(v_self, theta)


def lola(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """LOLA(k), the unrolled rule: own value at the opponent's k naive steps, differentiated
    through those steps (``create_graph``; as in DiCE, ``higher`` and TorchOpt):

        d = d/d theta1 [ V1(theta1, theta2^(k)(theta1)) ]

    For k = 1 this is ``grad_1 V1 + alpha (grad_12 V2)^T grad_2 V1 + alpha (grad_12 V1) grad_2 V2``
    plus higher orders: the first-order shaping term of Foerster et al. 2018 together with the
    LookAhead term, which the paper's Taylor rule (:func:`lola_taylor`) leaves out.
    """
    theta = requires_grad(theta)
    theta_opp_k = unroll_opponent(
        theta, theta_opp, objective, hp.lr_in, hp.lookahead, differentiable=True
    )
    v_self, _ = objective(theta, theta_opp_k)
    return grad(v_self, theta)


def lola_taylor(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """LOLA-Taylor, the first-order rule of Foerster et al. 2018 (eq. 4; the official code):

        d = grad_1 V1 + eta * grad_1 [ sg(grad_2 V1) . grad_2 V2 ]

    i.e. the naive gradient plus the shaping term ``eta (grad_2 V1)^T grad_12 V2``.
    """
    theta, theta_opp = requires_grad(theta), requires_grad(theta_opp)
    v_self, v_opp = objective(theta, theta_opp)
    d_self = grad(v_self, theta, retain_graph=True)
    d_opp_v_self = grad(v_self, theta_opp, retain_graph=True)  # grad_2 V1, held constant
    d_opp_v_opp = grad(v_opp, theta_opp, create_graph=True)  # grad_2 V2, a function of theta1
    shaping = grad(dot(detach(d_opp_v_self), d_opp_v_opp), theta)
    return axpy(d_self, hp.eta, shaping)


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
    v1, v2 = objective(theta, theta_opp)
    xi1 = {n: -g for n, g in grad(v1, theta, create_graph=True).items()}
    xi2 = {n: -g for n, g in grad(v2, theta_opp, create_graph=True).items()}
    d2_l1 = {n: -g for n, g in grad(v1, theta_opp, create_graph=True).items()}  # grad_2 L1
    d1_l2 = {n: -g for n, g in grad(v2, theta, create_graph=True).items()}  # grad_1 L2
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
