"""Exact discounted values of memory-one pairs, and their gradients in closed form.

A player with cooperation probabilities ``a = [P(C | start), P(C | CC), P(C | CD), P(C | DC),
P(C | DD)]`` (own view) meets an opponent whose probabilities, read in the player's view, are
``b``. Joint outcomes ``o in (CC, CD, DC, DD)`` (own action first) follow a Markov chain with
first-outcome distribution ``p0`` and transitions ``P``:

    p0   = (a0 b0, a0 (1-b0), (1-a0) b0, (1-a0)(1-b0))
    P[o] = (a_o b_o, a_o (1-b_o), (1-a_o) b_o, (1-a_o)(1-b_o))     (a_o = a after outcome o)

With ``M = I - gamma P``, ``y_i = M^-1 r_i`` (player i's value from each outcome) and the
occupancy ``x = p0 M^-1``, the unnormalised values and their gradients are (adjoint method)

    V_i        = p0 . y_i
    dV_i/da_0  = b_0 (y_i[CC] - y_i[DC]) + (1 - b_0)(y_i[CD] - y_i[DD])
    dV_i/da_o  = gamma x_o [b_o (y_i[CC] - y_i[DC]) + (1 - b_o)(y_i[CD] - y_i[DD])]
    dV_i/db_0  = a_0 (y_i[CC] - y_i[CD]) + (1 - a_0)(y_i[DC] - y_i[DD])
    dV_i/db_o  = gamma x_o [a_o (y_i[CC] - y_i[CD]) + (1 - a_o)(y_i[DC] - y_i[DD])]

and, through ``a = sigmoid(logits)``, ``dV/dlogit = a (1 - a) dV/da``.

Everything is elementwise over the batch: ``M`` is strictly diagonally dominant by rows (gamma
< 1, P stochastic), so an LU factorisation without pivoting, written out entry by entry on [B]
tensors, is stable. No batched LAPACK call is involved, so a match's numbers do not depend on
which other matches share its batch (bit for bit: the sigmoid is ``1 / (1 + exp(-x))``, whose
vectorised and scalar kernels agree, unlike ``torch.sigmoid``'s). The formulas are plain torch
expressions, so autograd differentiates them once more for the second-order terms of LOLA,
LOLA-Taylor and SOS.
"""

from __future__ import annotations

import torch

from agents.functional import Params
from agents.rules import Grads
from tournament.games import SWAP_VIEW, Game

# The opponent's own-view state indices in the player's view: start, then CC, CD <-> DC, DD.
SWAP_STATES = (0, *(1 + i for i in SWAP_VIEW))


def sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """``1 / (1 + exp(-x))``: the same bits whatever the position in the batch."""
    return torch.reciprocal(1 + torch.exp(-logits))


def _check_gamma(gamma: torch.Tensor) -> None:
    ok = (gamma > 0) & (gamma < 1)
    if not bool(ok.all()):
        raise ValueError(f"gamma: must be in (0, 1), got {gamma[~ok].flatten()[0].item()}")


def _solve(a, b, gamma, r, occupancy: bool):
    """a, b: [5, B] (player's view); r: [4, K, B] payoff vectors; gamma: [B].

    Returns p0 (4 x [B]), y (4 x [K, B]: M^-1 r) and, with ``occupancy``, x (4 x [B]: p0 M^-1).
    """
    A, Bo = a[1:], b[1:]  # [4, B]
    ab = A * Bo
    g_a, g_b, g_ab = gamma * A, gamma * Bo, gamma * ab
    # m = I - gamma P, entry by entry ([B] each).
    m = [
        [-g_ab[o], g_ab[o] - g_a[o], g_ab[o] - g_b[o], g_a[o] + g_b[o] - g_ab[o] - gamma]
        for o in range(4)
    ]
    for o in range(4):
        m[o][o] = m[o][o] + 1
    # LU without pivoting: low[i][k] below the diagonal, m becomes U.
    low = [[None] * 4 for _ in range(4)]
    for k in range(3):
        for i in range(k + 1, 4):
            low[i][k] = m[i][k] / m[k][k]
            for j in range(k + 1, 4):
                m[i][j] = m[i][j] - low[i][k] * m[k][j]
    z = []
    for i in range(4):  # L z = r
        acc = r[i]
        for j in range(i):
            acc = acc - low[i][j] * z[j]
        z.append(acc)
    y = [None] * 4
    for i in (3, 2, 1, 0):  # U y = z
        acc = z[i]
        for j in range(i + 1, 4):
            acc = acc - m[i][j] * y[j]
        y[i] = acc / m[i][i]
    p0 = _first_outcome(a[0], b[0])
    if not occupancy:
        return p0, y, None
    w = []
    for i in range(4):  # U^T w = p0
        acc = p0[i]
        for j in range(i):
            acc = acc - m[j][i] * w[j]
        w.append(acc / m[i][i])
    x = [None] * 4
    for i in (3, 2, 1, 0):  # L^T x = w
        acc = w[i]
        for j in range(i + 1, 4):
            acc = acc - low[j][i] * x[j]
        x[i] = acc
    return p0, y, x


def _payoff_stack(r_self: torch.Tensor, r_opp: torch.Tensor, batch: int) -> torch.Tensor:
    """[4] or [B, 4] payoffs of both players (player's view) -> [4, 2, B]."""
    r = torch.stack([r_self.expand(batch, 4), r_opp.expand(batch, 4)], dim=0)  # [2, B, 4]
    return r.permute(2, 0, 1)


def pair_values(p_self, p_opp, r_self, r_opp, gamma) -> tuple[torch.Tensor, torch.Tensor]:
    """``V = p0 (I - gamma P)^-1 r`` of both players, [B] each.

    p_self, p_opp: [B, 5] cooperation probabilities, each in its own player's view; r_self,
    r_opp: [4] or [B, 4] payoffs per outcome in the player's (self) view; gamma: [B].
    """
    batch = p_self.shape[0]
    a, b = p_self.T, p_opp[:, list(SWAP_STATES)].T
    p0, y, _ = _solve(a, b, gamma, _payoff_stack(r_self, r_opp, batch), occupancy=False)
    v = p0[0] * y[0] + p0[1] * y[1] + p0[2] * y[2] + p0[3] * y[3]  # [2, B]
    return v[0], v[1]


def _first_outcome(a0, b0):
    """p0 = (a0 b0, a0 (1-b0), (1-a0) b0, (1-a0)(1-b0)), 4 x [B]."""
    ab0 = a0 * b0
    return (ab0, a0 - ab0, b0 - ab0, 1 - a0 - b0 + ab0)


def values_and_grads(logits_self, logits_opp, r_self, r_opp, gamma) -> tuple[torch.Tensor, ...]:
    """Closed form at logits [B, 5] (own views): ``V1, V2`` [B] and ``d1 V1, d2 V1, d1 V2,
    d2 V2`` [B, 5], each gradient w.r.t. the logits of that player in its own view."""
    batch = logits_self.shape[0]
    a = sigmoid(logits_self)  # [B, 5]
    b = sigmoid(logits_opp[:, list(SWAP_STATES)])  # [B, 5], opponent in the player's view
    p0, y, x = _solve(
        a.T.contiguous(), b.T.contiguous(), gamma, _payoff_stack(r_self, r_opp, batch), True
    )
    v = p0[0] * y[0] + p0[1] * y[1] + p0[2] * y[2] + p0[3] * y[3]  # [2, B]
    weight = torch.stack([torch.ones_like(gamma), *(gamma * x_o for x_o in x)], dim=1)  # [B, 5]
    # Per-match quantities broadcast over the states (last dim) only: autograd then sums them
    # back in the same order whatever the batch (a broadcast over a leading dim would not).
    d_a_hi, d_a_lo = (y[0] - y[2])[..., None], (y[1] - y[3])[..., None]  # [2, B, 1]
    d_b_hi, d_b_lo = (y[0] - y[1])[..., None], (y[2] - y[3])[..., None]
    d_self = weight * a * (1 - a) * (d_a_lo + b * (d_a_hi - d_a_lo))  # [2, B, 5]
    d_opp = (weight * b * (1 - b) * (d_b_lo + a * (d_b_hi - d_b_lo)))[..., list(SWAP_STATES)]
    return v[0], v[1], d_self[0], d_opp[0], d_self[1], d_opp[1]


class TabularObjective:
    """The exact game between tabular policies (``{"logits": [B, 5]}``), gradients in closed
    form: the fast path of every rule in :mod:`agents.rules`.

    r_self, r_opp: [B, 4] payoffs in the player's view; gamma: [B].
    """

    def __init__(self, r_self: torch.Tensor, r_opp: torch.Tensor, gamma: torch.Tensor):
        self.r_self, self.r_opp, self.gamma = r_self, r_opp, gamma

    def values(self, theta: Params, theta_opp: Params) -> tuple[torch.Tensor, torch.Tensor]:
        p_self, p_opp = sigmoid(theta["logits"]), sigmoid(theta_opp["logits"])
        return pair_values(p_self, p_opp, self.r_self, self.r_opp, self.gamma)

    def grads(self, theta: Params, theta_opp: Params) -> Grads:
        v1, v2, *blocks = values_and_grads(
            theta["logits"], theta_opp["logits"], self.r_self, self.r_opp, self.gamma
        )
        return Grads(v1, v2, *({"logits": d} for d in blocks))


def discounted_values(
    game: Game, p_row: torch.Tensor, p_col: torch.Tensor, gamma: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unnormalised discounted values ``V = p0 (I - gamma P)^-1 r`` of both players, [B] each.

    p_row, p_col: [B, 5] in each player's own view. Differentiable in both policies. ``gamma``
    is a float or a [B] tensor (one per match).
    """
    gamma = torch.as_tensor(gamma, dtype=p_row.dtype, device=p_row.device).expand(p_row.shape[0])
    _check_gamma(gamma)
    r_row, r_col = game.payoffs(p_row)
    return pair_values(p_row, p_col, r_row, r_col, gamma)


def reward_per_step(
    game: Game, p_row: torch.Tensor, p_col: torch.Tensor, gamma: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact normalised values ``(1 - gamma) p0 (I - gamma P)^-1 r``, [B] each."""
    gamma_t = torch.as_tensor(gamma, dtype=p_row.dtype, device=p_row.device)
    v_row, v_col = discounted_values(game, p_row, p_col, gamma_t)
    return (1 - gamma_t) * v_row, (1 - gamma_t) * v_col
