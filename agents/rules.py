"""Learning rules: pure functions of both players' parameters and a two-player objective.

Every rule has the signature ``rule(theta, theta_opp, objective, hp) -> direction``; ``direction``
is an ascent direction for ``theta`` (a Params dict) and the optimiser applies the own learning
rate: SGD ``theta <- theta + lr * direction``. The ``objective`` (:class:`agents.objective.
Objective`) gives both
players' unnormalised discounted values and their first derivatives, as differentiable
expressions: from autograd for any ``nn.Module`` policy (:class:`agents.functional.
AutogradObjective`), or in closed form for tabular policies (``tournament.values``). Rules
differentiate those first derivatives once more with autograd where they need second-order terms.
Nothing is updated in place, so every rule is differentiable and batched over B matches.

The sampled rules (``nl-pg``, ``lola-dice``, ``lola-pg``) see no exact value: their
``objective`` is an :class:`agents.objective.SampledObjective`, which plays fresh episodes at
the given parameters and returns both players' DiCE objectives ``L1, L2`` (:mod:`agents.dice`),
whose derivatives of any order estimate those of ``V1, V2``.

Symbols: ``V1 = V(theta1, theta2)`` own value, ``V2`` the opponent's, ``alpha`` = ``hp.lr_in``
(the opponent's step that the learner assumes), ``eta`` = ``hp.eta``, ``k`` = ``hp.lookahead``
(per match: a batch may mix depths), ``sg`` = stop-gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from agents.functional import (
    axpy,
    detach,
    dot,
    grad,
    per_match,
    requires_grad,
    vjp,
    zeros,
)
from agents.objective import Objective, Params, RuleParams, SampledObjective
from agents.proximal import mean_kl


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
    theta, theta_opp, xi1, xi2, d2_l1, d1_l2 = _loss_gradients(theta, theta_opp, objective)
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
    return _negative(axpy(xi0_1, -p * alpha, chi1))


def _negative(theta: Params) -> Params:
    return {n: -t for n, t in theta.items()}


def _loss_gradients(theta: Params, theta_opp: Params, objective: Objective):
    """Loss form (L = -V) of the four gradient blocks, recorded for second derivatives:
    ``theta1, theta2, xi1 = grad_1 L1, xi2 = grad_2 L2, grad_2 L1, grad_1 L2``."""
    theta, theta_opp = requires_grad(theta), requires_grad(theta_opp)
    g = objective.grads(theta, theta_opp)
    blocks = (g.d_self_v_self, g.d_opp_v_opp, g.d_opp_v_self, g.d_self_v_opp)
    return (theta, theta_opp, *(_negative(b) for b in blocks))


def _plus(theta: Params, delta: Params) -> Params:
    return {n: t + delta[n] for n, t in theta.items()}


def _parameters_per_match(theta: Params) -> int:
    return sum(t[0].numel() for t in theta.values())


def sga(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """SGA, symplectic gradient adjustment with sign alignment (Balduzzi et al. 2018), in loss
    form L = -V as in Letcher et al.'s reference code, with H the Jacobian of xi:

        H^T xi = grad (xi . sg xi),   (H xi)_i = grad_i sum_j (grad_j L_i . sg xi_j)
        A^T xi = (H^T xi - H xi) / 2                       (A: antisymmetric part of H)
        lambda = sign(<xi, H^T xi> <A^T xi, H^T xi> / d + eps),  eps = 0.1, d = parameters of both
        step   = -(xi_1 + lambda (A^T xi)_1)
    """
    theta, theta_opp, xi1, xi2, d2_l1, d1_l2 = _loss_gradients(theta, theta_opp, objective)
    c1, c2 = detach(xi1), detach(xi2)
    hamiltonian = dot(xi1, c1) + dot(xi2, c2)
    ht_xi1 = grad(hamiltonian, theta, retain_graph=True)
    ht_xi2 = grad(hamiltonian, theta_opp, retain_graph=True)
    h_xi1 = grad(dot(xi1, c1) + dot(d2_l1, c2), theta, retain_graph=True)
    h_xi2 = grad(dot(d1_l2, c1) + dot(xi2, c2), theta_opp)
    a_xi1 = {n: (ht_xi1[n] - h_xi1[n]) / 2 for n in ht_xi1}
    a_xi2 = {n: (ht_xi2[n] - h_xi2[n]) / 2 for n in ht_xi2}
    along_xi = dot(c1, ht_xi1) + dot(c2, ht_xi2)
    along_a = dot(a_xi1, ht_xi1) + dot(a_xi2, ht_xi2)
    size = _parameters_per_match(theta) + _parameters_per_match(theta_opp)
    lam = torch.sign(along_xi * along_a / size + hp.sga_eps)
    return _negative(axpy(c1, lam, a_xi1))


def consensus(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """CO, consensus optimisation (Mescheder et al. 2017), loss form, gamma = ``hp.gamma_co``:

    step = -(xi_1 + gamma (H^T xi)_1),   H^T xi = grad (xi . sg xi) = grad |xi|^2 / 2
    """
    theta, theta_opp, xi1, xi2, _, _ = _loss_gradients(theta, theta_opp, objective)
    hamiltonian = dot(xi1, detach(xi1)) + dot(xi2, detach(xi2))
    return _negative(axpy(detach(xi1), hp.gamma_co, grad(hamiltonian, theta)))


def extragradient(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams):
    """EG, extragradient (Korpelevich 1976): both players take a naive step of size alpha,
    and the update is the naive gradient at that extrapolated point:

        d = grad_1 V1(theta1 + alpha grad_1 V1, theta2 + alpha grad_2 V2)
    """
    g = objective.grads(detach(theta), detach(theta_opp))
    ahead = axpy(theta, hp.lr_in, g.d_self_v_self)
    ahead_opp = axpy(theta_opp, hp.lr_in, g.d_opp_v_opp)
    return objective.grads(ahead, ahead_opp, of="self").d_self_v_self


CGD_MAX_ITERATIONS = 40
# The Krylov solves (GMRES for CGD, conjugate gradients for LSS) stop a match once its
# residual is this fraction of its first: float64's rounding level (about 1,000 eps). In
# float64, tabular LSS reaches it in 12-15 of its 20 iterations, and going on only adds
# rounding (measured against a dense solve); float32 does not reach it and runs every
# iteration, as before (stopping at 1,000 of its own eps cost CGLS a factor 30 in accuracy).
KRYLOV_TOLERANCE = 2.5e-13


def _own_graphs(theta: Params, theta_opp: Params, objective: Objective):
    """Each player's loss gradients (L = -V) recorded on its own copy of both parameter sets,
    so that a backward pass through one player's gradients never traverses the other's:

        (theta1, theta2,   xi1 = grad_1 L1, grad_2 L1)     from V1's gradients
        (theta1', theta2', grad_1 L2, xi2 = grad_2 L2)     from V2's gradients
    """
    theta, theta_opp = requires_grad(theta), requires_grad(theta_opp)
    theta_b, theta_opp_b = requires_grad(theta), requires_grad(theta_opp)
    g1 = objective.grads(theta, theta_opp, of="self")
    g2 = objective.grads(theta_b, theta_opp_b, of="opp")
    return (
        (theta, theta_opp, _negative(g1.d_self_v_self), _negative(g1.d_opp_v_self)),
        (theta_b, theta_opp_b, _negative(g2.d_self_v_opp), _negative(g2.d_opp_v_opp)),
    )


def _grad_many(output: torch.Tensor, *thetas: Params) -> tuple[Params, ...]:
    """:func:`agents.functional.grad` of ``output`` w.r.t. several parameter dicts in one
    backward pass (the graph retained)."""
    keyed = {(i, n): t for i, theta in enumerate(thetas) for n, t in theta.items()}
    d = grad(output, keyed, retain_graph=True)
    return tuple({n: d[(i, n)] for n in theta} for i, theta in enumerate(thetas))


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` per match, 0 where ``den`` is 0."""
    return torch.where(den != 0, num / torch.where(den != 0, den, 1), torch.zeros_like(num))


def cgd(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """CGD, competitive gradient descent (Schaefer & Anandkumar 2019) in the general-sum form of
    Letcher et al.'s reference code, loss form, H_o the off-diagonal blocks of H:

        (I + alpha H_o) g = xi,   step = -g_1

    Eliminating ``g_2 = xi_2 - alpha H_21 g_1`` leaves the own block (Schaefer & Anandkumar's
    own form of the update), a system of d1 equations for d1 own parameters:

        (I - alpha^2 H_12 H_21) g_1 = xi_1 - alpha H_12 xi_2

    solved matrix-free, so that it works for any module, with ``H_12 u = grad_1(grad_2 L1 . u)``
    and ``H_21 w = grad_2(grad_1 L2 . w)`` as vector-Jacobian products (one backward pass each,
    on that player's own graph, :func:`_own_graphs`) and GMRES per match
    (:func:`_gmres`): d1 iterations (exact in exact arithmetic), at most
    ``CGD_MAX_ITERATIONS``. Against a dense solve in float64: 1e-13 at 2,000 tabular points
    (conjugate gradients on the normal equations, before, 3e-9), 1e-12 with ``mlp:32``.
    """
    (theta, _, xi1, d2_l1), (_, theta_opp_b, d1_l2, xi2) = _own_graphs(theta, theta_opp, objective)
    alpha = hp.lr_in

    def h12(u: Params) -> Params:
        return grad(dot(d2_l1, u), theta, retain_graph=True)

    def schur(v: Params) -> Params:
        """(I - alpha^2 H_12 H_21) v."""
        return axpy(v, -alpha * alpha, h12(grad(dot(d1_l2, v), theta_opp_b, retain_graph=True)))

    rhs = axpy(detach(xi1), -alpha, h12(detach(xi2)))
    size = _parameters_per_match(theta)
    return _negative(_gmres(schur, rhs, min(size, CGD_MAX_ITERATIONS)))


def _gmres(apply: Callable[[Params], Params], b: Params, iterations: int) -> Params:
    """Solve ``A x = b`` per match for a nonsymmetric ``A`` given as ``apply(v) -> A v``: GMRES
    from x = 0 (Saad & Schultz 1986). Arnoldi with modified Gram-Schmidt builds an orthonormal
    basis ``q_0 .. q_j`` of the Krylov space span(b, A b, ..) with ``A Q_j = Q_(j+1) H_j``
    (H Hessenberg); Givens rotations keep ``min_y |beta e_1 - H_j y|`` triangular as it grows,
    so ``|beta e_1 - H_j y|`` (the residual ``|b - A x|``) is known at every step; then
    ``x = Q y``. A match stops once that residual is at most ``KRYLOV_TOLERANCE`` |b| (its
    Krylov space exhausted, or its solution reached to rounding): its later columns are the
    identity with a zero right-hand side, so its numbers do not depend on its batch
    neighbours."""
    beta = dot(b, b).sqrt()  # [B]
    tolerance = KRYLOV_TOLERANCE * beta
    active = beta > 0
    basis = [{n: per_match(_ratio(torch.ones_like(beta), beta), t) * t for n, t in b.items()}]
    rotations: list[tuple[torch.Tensor, torch.Tensor]] = []
    columns: list[list[torch.Tensor]] = []  # R, column by column
    residual = [beta]  # the rotated beta e_1
    for j in range(iterations):
        if not bool(active.any()):
            break
        w = apply(basis[j])
        column = []
        for q in basis:
            h = dot(w, q)
            w = axpy(w, -h, q)
            column.append(h)
        h_next = dot(w, w).sqrt()
        for i, (c, s) in enumerate(rotations):
            column[i], column[i + 1] = (
                c * column[i] + s * column[i + 1],
                c * column[i + 1] - s * column[i],
            )
        rho = (column[j] * column[j] + h_next * h_next).sqrt()
        c = torch.where(active, _ratio(column[j], rho), torch.ones_like(rho))
        s = torch.where(active, _ratio(h_next, rho), torch.zeros_like(rho))
        zero = torch.zeros_like(rho)
        column = [torch.where(active, h, zero) for h in column[:j]]
        # rho = 0: A q_j = 0, a singular system; that column is left out (y_j = 0).
        column.append(torch.where(active & (rho != 0), rho, torch.ones_like(rho)))
        columns.append(column)
        rotations.append((c, s))
        residual.append(-s * residual[j])
        residual[j] = torch.where(active, c * residual[j], zero)
        active = active & (residual[j + 1].abs() > tolerance)
        basis.append(
            {
                n: per_match(torch.where(active, _ratio(torch.ones_like(h_next), h_next), zero), t)
                * t
                for n, t in w.items()
            }
        )
    # Back substitution R y = (rotated beta e_1)[:m], then x = Q y.
    m = len(columns)
    y: list[torch.Tensor] = [None] * m
    for i in reversed(range(m)):
        acc = residual[i]
        for k in range(i + 1, m):
            acc = acc - columns[k][i] * y[k]
        y[i] = acc / columns[i][i]
    x = zeros(b)
    for i in range(m):
        x = axpy(x, y[i], basis[i])
    return x


def lss(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """LSS, local symplectic surgery (Mazumdar, Jordan & Sastry 2019), loss form, as in Letcher
    et al.'s reference code (the SOS notebook, ``update_th``, branch ``lss``), with H the full
    Jacobian of xi and lambda = ``hp.lss_lambda``:

        (H^T H + lambda I) v = H^T xi,   step = -(xi + H^T v)_1 / 2

    For lambda = 0 and an invertible H, v = H^-1 xi, and the field 1/2 (xi + H^T H^-1 xi) has
    Jacobian 1/2 (H + H^T) at every fixed point (xi = 0): the antisymmetric (rotational) part
    of the game is cut away there. The notebook uses H^-1 and falls back to the damped solve
    with lambda = 0.1 only where det H is exactly 0; here the damped solve is the rule at every
    point (default lambda = 0.1, a bias of order lambda; lambda = 0 is the notebook's H^-1 at a
    nonsingular H). Solved matrix-free, for any module, with the products

        (H v)_i = grad_i sum_j (grad_j L_i . sg v_j),   (H^T w)_i = grad_i (xi . sg w)

    as vector-Jacobian products, one backward pass each over both players' own graphs
    (:func:`_own_graphs`), and v as the damped least-squares solution
    ``argmin |H v - xi|^2 + lambda |v|^2`` (:func:`_damped_least_squares`):
    at most ``min(2 d, CGD_MAX_ITERATIONS)`` iterations for d parameters of both players (d
    are exact in exact arithmetic; in float64 tabular matches stop at rounding after 12-15,
    7e-12 against a dense solve; ``mlp:32``'s 40 leave ~1e-4 of the squared conditioning).
    """
    (theta, theta_opp, xi1, d2_l1), (theta_b, theta_opp_b, d1_l2, xi2) = _own_graphs(
        theta, theta_opp, objective
    )

    def h(v1: Params, v2: Params) -> tuple[Params, Params]:
        """H v: V1's graph gives the own part, V2's the opponent's."""
        s = dot(xi1, v1) + dot(d2_l1, v2) + dot(d1_l2, v1) + dot(xi2, v2)
        return _grad_many(s, theta, theta_opp_b)

    def h_t(w1: Params, w2: Params) -> tuple[Params, Params]:
        """H^T w = grad (xi1 . w1) + grad (xi2 . w2), each on its own graph."""
        a1, a2, b1, b2 = _grad_many(
            dot(xi1, w1) + dot(xi2, w2), theta, theta_opp, theta_b, theta_opp_b
        )
        return _plus(a1, b1), _plus(a2, b2)

    c1, c2 = detach(xi1), detach(xi2)
    size = _parameters_per_match(theta) + _parameters_per_match(theta_opp)
    v1, v2 = _damped_least_squares(h, h_t, c1, c2, hp.lss_lambda, min(2 * size, CGD_MAX_ITERATIONS))
    surgery1, _ = h_t(v1, v2)
    return {n: -(c1[n] + surgery1[n]) / 2 for n in c1}


def _damped_least_squares(h, h_t, b1: Params, b2: Params, damping: torch.Tensor, iterations: int):
    """``argmin_v |H v - b|^2 + lambda |v|^2`` per match, i.e. ``(H^T H + lambda I) v = H^T b``,
    by conjugate gradients on those normal equations (``H^T H v`` as ``h_t(h(v))``): at most
    ``iterations`` steps, a match stopping once its residual falls to ``KRYLOV_TOLERANCE`` of
    its start (its later steps have size 0, so its numbers do not depend on its batch
    neighbours). ``h(v1, v2)``, ``h_t(w1, w2)``: H v and H^T w on both players' parts."""

    def norm_sq(v1, v2):
        return dot(v1, v1) + dot(v2, v2)

    def normal(v1, v2):
        """(H^T H + lambda I) v."""
        a1, a2 = h_t(*h(v1, v2))
        return axpy(a1, damping, v1), axpy(a2, damping, v2)

    v1 = zeros(b1)
    v2 = zeros(b2)
    r1, r2 = h_t(b1, b2)  # H^T b - (H^T H + lambda I) v
    p1, p2 = r1, r2
    r_sq = norm_sq(r1, r2)
    threshold = KRYLOV_TOLERANCE**2 * r_sq
    active = r_sq > threshold
    for _ in range(iterations):
        if not bool(active.any()):
            break
        a1, a2 = normal(p1, p2)
        step = torch.where(active, _ratio(r_sq, dot(p1, a1) + dot(p2, a2)), 0)
        v1, v2 = axpy(v1, step, p1), axpy(v2, step, p2)
        r1, r2 = axpy(r1, -step, a1), axpy(r2, -step, a2)
        r_sq_new = norm_sq(r1, r2)
        beta = _ratio(r_sq_new, r_sq)
        p1, p2 = axpy(r1, beta, p1), axpy(r2, beta, p2)
        r_sq = r_sq_new
        active = active & (r_sq > threshold)
    return v1, v2


def hola(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """HOLA-n, higher-order LOLA (Willi et al. 2022): the learner assumes an opponent of order
    n - 1, and differentiates through its step. With alpha = ``hp.lr_in``:

        Delta^0_i = alpha grad_i V_i                                        (a naive step)
        Delta^m_i = alpha d/d theta_i V_i(theta_i, theta_-i + Delta^(m-1)_-i(theta_-i, theta_i))
        d         = d/d theta1 V1(theta1, theta2 + Delta^(n-1)_2(theta2, theta1))

    HOLA-1 is LOLA with k = 1. n = ``hp.order`` per match: each order that a match of the batch
    asks for is computed (the steps Delta^m of lower orders once, shared) and every match takes
    its own. Each total derivative is taken by the chain rule (:func:`_through_opponent`).
    """
    theta, theta_opp = requires_grad(theta), requires_grad(theta_opp)
    steps = _HolaSteps(theta, theta_opp, objective, hp.lr_in)
    direction = None
    for order in sorted(set(hp.order.tolist())):
        d = _through_opponent(theta, theta_opp, steps.of(1, order - 1), objective, False)
        direction = (
            d
            if direction is None
            else {
                n: torch.where(per_match(hp.order == order, t), t, direction[n])
                for n, t in d.items()
            }
        )
    return detach(direction)


class _HolaSteps:
    """The steps ``Delta^m`` of both players (0: own, 1: the opponent's), each computed once and
    recorded, differentiable in both players' parameters."""

    def __init__(self, theta: Params, theta_opp: Params, objective: Objective, alpha):
        self.seats = ((theta, theta_opp, objective), (theta_opp, theta, objective.swapped()))
        self.alpha = alpha
        self.steps: dict[tuple[int, int], Params] = {}

    def of(self, player: int, order: int) -> Params:
        """Delta^order of ``player``."""
        if (player, order) not in self.steps:
            mine, other, objective = self.seats[player]
            if order == 0:
                step = objective.grads(mine, other, of="self").d_self_v_self
            else:
                other_step = self.of(1 - player, order - 1)
                step = _through_opponent(mine, other, other_step, objective, True)
            self.steps[player, order] = {n: per_match(self.alpha, t) * t for n, t in step.items()}
        return self.steps[player, order]


def _through_opponent(
    theta: Params, theta_opp: Params, opponent_step: Params, objective: Objective, record: bool
) -> Params:
    """``d/d theta1 V1(theta1, theta2 + Delta_2(theta1))`` by the chain rule, with the
    objective's gradients at the shifted point ``theta2' = theta2 + Delta_2`` (closed form where
    the objective has one):

        grad_1 V1(theta1, theta2') + (d Delta_2 / d theta1)^T grad_2 V1(theta1, theta2')

    ``record``: kept differentiable in both players' parameters (for a higher order).
    """
    ahead = _plus(theta_opp, opponent_step)
    if record:
        g = objective.grads(theta, ahead, of="self")
    else:
        g = objective.grads(detach(theta), detach(ahead), of="self")
    names = list(g.d_opp_v_self)
    # The graph is kept: lower orders' steps are shared with the higher orders.
    through = torch.autograd.grad(
        [opponent_step[n] for n in names],
        list(theta.values()),
        grad_outputs=[g.d_opp_v_self[n] for n in names],
        create_graph=record,
        retain_graph=True,
        allow_unused=True,
    )
    own = g.d_self_v_self
    return {n: own[n] if t is None else own[n] + t for n, t in zip(theta, through, strict=True)}


def policy_gradient(
    theta: Params, theta_opp: Params, objective: SampledObjective, hp: RuleParams
) -> Params:
    """NL-PG, REINFORCE with a baseline on discounted returns: the first derivative of the
    DiCE objective over E fresh episodes (rollout 0) at the current parameters,

        d = grad_1 L1 = mean_e sum_t grad_1 log pi_1(a_t | s_t) (sum_{t' >= t} gamma^t' r_t' - b_t)

    with ``b_t`` the baseline (:mod:`agents.dice`: the other episodes' mean return-to-go, or 0).
    """
    theta = requires_grad(theta)
    surrogate, _ = objective.surrogates(theta, detach(theta_opp), rollout=0, of="self")
    return grad(surrogate, theta)


def lola_dice(
    theta: Params, theta_opp: Params, objective: SampledObjective, hp: RuleParams
) -> Params:
    """LOLA-DiCE (Foerster, Farquhar et al. 2018): LOLA(k) with both values replaced by DiCE
    objectives. The opponent takes k policy-gradient steps, step j on fresh episodes (rollout
    j + 1) played at (theta1, theta2^(j)), recorded so that they stay functions of theta1; own
    gradient on fresh episodes (rollout 0) played at (theta1, theta2^(k)):

        theta2^(j+1) = theta2^(j) + alpha grad_2 L2^(j+1)(theta1, theta2^(j))
        d            = d/d theta1 [ L1^(0)(theta1, theta2^(k)(theta1)) ]

    Every rollout is sampled fresh, as in the official implementation (alshedivat/lola,
    ``lola_dice/rpg.py``: one rollout per inner step, one for the outer step). A match's steps
    beyond its own k have step size 0 (exactly no change), as in :func:`unroll_opponent`.

    With ``hp.opponent_model`` (LOLA-OM, Foerster et al. 2018, Section 3.3), ``theta2`` is not
    read: it is a tabular model fitted to the opponent's actions in fresh episodes played at the
    current parameters (:meth:`agents.dice.DiceObjective.model_opponent`), and the lookahead
    runs on that model (the whole batch models, or none).
    """
    if hp.opponent_model is not None and bool(hp.opponent_model.any()):
        if not bool(hp.opponent_model.all()):
            raise ValueError("opponent_model: the matches of one batch must all model, or none")
        theta_opp, objective = objective.model_opponent(detach(theta), detach(theta_opp))
    theta, theta_opp_k = requires_grad(theta), requires_grad(theta_opp)
    for j in range(int(hp.lookahead.max()) if hp.lookahead.numel() else 0):
        alpha = torch.where(hp.lookahead > j, hp.lr_in, torch.zeros_like(hp.lr_in))
        _, surrogate_opp = objective.surrogates(theta, theta_opp_k, rollout=j + 1, of="opp")
        step = grad(surrogate_opp, theta_opp_k, create_graph=True)
        theta_opp_k = axpy(theta_opp_k, alpha, step)
    surrogate, _ = objective.surrogates(theta, theta_opp_k, rollout=0, of="self")
    return grad(surrogate, theta)


def lola_pg(
    theta: Params, theta_opp: Params, objective: SampledObjective, hp: RuleParams
) -> Params:
    """LOLA-PG, the LOLA paper's sampled rule (Foerster et al. 2018, Section 3.3; the official
    ``lola/corrections.py``): the first-order (Taylor) rule of :func:`lola_taylor` with the
    gradient and the second-order cross term estimated by policy gradients,

        d = grad_1 L1^(0) + alpha grad_1 [ sg(grad_2 L1^(1)) . grad_2 L2^(0) ]

    ``grad_12 L2`` of the DiCE objective is the paper's estimator
    ``sum_t gamma^t r2_t (sum_{t'<=t} grad_1 log pi1)(sum_{t'<=t} grad_2 log pi2)^T`` (with the
    baseline), so this is the paper's rule. ``alpha`` = ``hp.lr_in``, the opponent step the
    learner assumes (LOLA-DiCE with k = 1 to first order in alpha, without LookAhead's term).
    The vector ``grad_2 L1`` comes from its own fresh episodes (rollout 1), the rest from
    rollout 0, so the product is unbiased (the official code uses one batch for all, whose
    product is biased at order 1/E). ``opponent_model``: as :func:`lola_dice`.
    """
    if hp.opponent_model is not None and bool(hp.opponent_model.any()):
        if not bool(hp.opponent_model.all()):
            raise ValueError("opponent_model: the matches of one batch must all model, or none")
        theta_opp, objective = objective.model_opponent(detach(theta), detach(theta_opp))
    theta, theta_opp = requires_grad(theta), requires_grad(theta_opp)
    surrogate_of_self, _ = objective.surrogates(theta, theta_opp, rollout=1, of="self")
    d_opp_l_self = detach(grad(surrogate_of_self, theta_opp))
    surrogate, surrogate_opp = objective.surrogates(theta, theta_opp, rollout=0)
    d_self_l_self = grad(surrogate, theta, retain_graph=True)
    d_opp_l_opp = grad(surrogate_opp, theta_opp, create_graph=True)
    shaping = grad(dot(d_opp_l_self, d_opp_l_opp), theta)
    return axpy(d_self_l_self, hp.lr_in, shaping)


def proximal_opponent(
    theta: Params,
    theta_opp: Params,
    objective: Objective,
    hp: RuleParams,
    logits_opp_old: torch.Tensor,
) -> Params:
    """POLA's inner step: K gradient steps of the opponent on its proximal objective against a
    fixed ``theta`` (K = ``hp.inner_steps`` per match; steps beyond a match's K have size 0),
    recorded so that ``theta2^(K)`` is a differentiable function of ``theta1``:

        theta2^(j+1) = theta2^(j) + alpha [grad_2 V2(theta1, theta2^(j))
                                           - beta_in grad_2 D(pi_old2, pi_theta2^(j))]

    with ``D`` the KL averaged over states (:func:`agents.proximal.mean_kl`) from the
    opponent's current policy ``logits_opp_old``. At j = 0 the opponent is at that policy, where
    D's gradient vanishes: one step (K = 1) is the naive step of LOLA, whatever beta_in.
    """
    for j in range(int(hp.inner_steps.max())):
        alpha = torch.where(hp.inner_steps > j, hp.lr_in, torch.zeros_like(hp.lr_in))
        step = objective.grads(theta, theta_opp, of="opp").d_opp_v_opp
        if j > 0:
            kl = mean_kl(logits_opp_old, objective.logits(theta, theta_opp)[1])
            step = axpy(step, -hp.beta_in, grad(kl, theta_opp, create_graph=True))
        theta_opp = axpy(theta_opp, alpha, step)
    return theta_opp


def pola(theta: Params, theta_opp: Params, objective: Objective, hp: RuleParams) -> Params:
    """POLA (Zhao, Lu, Grosse & Foerster, NeurIPS 2022), "outer POLA" on the exact value: own
    step is the proximal point of own value after the opponent's proximal step,

        F(theta1)      = V1(theta1, theta2'(theta1)) - beta_out D(pi_old1, pi_theta1)
        theta1_new     = argmax F                                 (= argmin L1 + beta_out D)

    with ``theta2'`` the opponent's K proximal steps (:func:`proximal_opponent`, differentiated
    through) and ``D`` the KL averaged over the five states from own current policy
    (:func:`agents.proximal.mean_kl`). The argmax is taken by M gradient steps of size lr,

        theta1^(m+1) = theta1^(m) + lr grad F(theta1^(m)),   m = 0 .. M - 1

    a match stopping early once ``|F(theta1^(m)) - F(theta1^(m-1))| < hp.pola_tolerance``. The
    direction is ``d = sum_m grad F(theta1^(m))``, so that the SGD step ``theta1 + lr d`` lands
    on ``theta1^(M)``. With M = 1, K = 1 and beta_out = 0 (any beta_in) it is ``lola`` with
    k = 1; as beta_out grows the step vanishes like ``(beta_out H_D)^-1 grad F(theta1)``, with
    ``H_D`` the Hessian of D at the old policy (its Fisher information: ``diag(p (1 - p)) / 5``
    for tabular logits).
    """
    logits_old, logits_opp_old = (x.detach() for x in objective.logits(theta, theta_opp))
    theta_m, total = detach(theta), zeros(theta)
    active = torch.ones_like(hp.outer_steps, dtype=torch.bool)
    previous = None
    for m in range(int(hp.outer_steps.max())):
        theta_m = requires_grad(theta_m)
        theta_opp_k = proximal_opponent(theta_m, detach(theta_opp), objective, hp, logits_opp_old)
        # Chain rule at (theta1, theta2'): grad_1 V1 + (d theta2' / d theta1)^T grad_2 V1.
        g = objective.grads(detach(theta_m), detach(theta_opp_k), of="self")
        kl = mean_kl(logits_old, objective.logits(theta_m, theta_opp)[0])
        shaped = dot(theta_opp_k, detach(g.d_opp_v_self)) - hp.beta_out * kl
        ascent = {n: g.d_self_v_self[n] + t for n, t in grad(shaped, theta_m).items()}
        value = g.v_self - hp.beta_out * kl.detach()
        active = active & (hp.outer_steps > m)
        if previous is not None:
            active = active & ((value - previous).abs() >= hp.pola_tolerance)
        if not bool(active.any()):
            break
        on = active.to(hp.lr.dtype)
        total = axpy(total, on, ascent)
        theta_m = axpy(detach(theta_m), on * hp.lr, ascent)
        previous = value.detach()
    return total


def pola_dice(
    theta: Params, theta_opp: Params, objective: SampledObjective, hp: RuleParams
) -> Params:
    """POLA-DiCE (Zhao, Lu, Grosse & Foerster, NeurIPS 2022): :func:`pola` with both values
    replaced by DiCE objectives of fresh rollouts and each KL averaged over the states visited
    in that rollout (:func:`agents.proximal.visited_kl`). Outer step m plays rollouts
    ``m (K + 1) + j``: the opponent's K steps from its current parameters, step j on rollout
    ``m (K + 1) + j + 1`` played at (theta1^(m), theta2^(j)),

        theta2^(j+1) = theta2^(j) + alpha grad_2 [L2 - beta_in D2](theta1^(m), theta2^(j))

    recorded so that ``theta2^(K)`` is a function of ``theta1^(m)``; then own step on rollout
    ``m (K + 1)`` played at (theta1^(m), theta2^(K)),

        theta1^(m+1) = theta1^(m) + lr d/d theta1 [L1(theta1, theta2^(K)(theta1))
                                                   - beta_out D1(theta1)]

    ``D1, D2``: the KL from each player's policy at the start of the update
    (``objective.old_policies``; in the Coin Game, over the steps of the rollout). As in the
    authors' code (``POLA_dice_jax.py``), the inner steps restart from the opponent's current
    parameters at every outer step, and every rollout is fresh. The direction is the sum of the
    M ascent directions (the SGD step ``theta1 + lr d`` lands on ``theta1^(M)``); with M = 1
    and beta = 0 it is ``lola-dice`` with k = K on the same rollouts. The authors' IPD settings:
    K = 2, M = 200, beta_in = 10, beta_out = 100; Coin Game K = 4, M = 200, beta_in = 5,
    beta_out = 150 (Adam on the outer steps there; plain gradient steps here).
    """
    old, old_opp = objective.old_policies(theta, theta_opp)
    theta_m, total = detach(theta), zeros(theta)
    depth = int(hp.inner_steps.max()) if hp.inner_steps.numel() else 0
    for m in range(int(hp.outer_steps.max())):
        on = (hp.outer_steps > m).to(hp.lr.dtype)
        theta_m, theta_opp_k = requires_grad(theta_m), requires_grad(theta_opp)
        for j in range(depth):
            alpha = torch.where(hp.inner_steps > j, hp.lr_in, torch.zeros_like(hp.lr_in))
            rollout = m * (depth + 1) + j + 1
            l_opp, kl_opp = objective.proximal(theta_m, theta_opp_k, rollout, "opp", old_opp)
            step = grad(l_opp - hp.beta_in * kl_opp, theta_opp_k, create_graph=True)
            theta_opp_k = axpy(theta_opp_k, alpha, step)
        l_self, kl = objective.proximal(theta_m, theta_opp_k, m * (depth + 1), "self", old)
        ascent = grad(l_self - hp.beta_out * kl, theta_m)
        total = axpy(total, on, ascent)
        theta_m = axpy(detach(theta_m), on * hp.lr, ascent)
    return total


RULES: dict[str, Callable[..., Params]] = {
    "nl": naive,
    "la": lookahead,
    "lola": lola,
    "lola-taylor": lola_taylor,
    "sos": sos,
    "sga": sga,
    "co": consensus,
    "eg": extragradient,
    "cgd": cgd,
    "lss": lss,
    "hola": hola,
    "nl-pg": policy_gradient,
    "lola-dice": lola_dice,
    "lola-pg": lola_pg,
    "pola": pola,
    "pola-dice": pola_dice,
}
