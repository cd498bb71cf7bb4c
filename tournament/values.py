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

from agents.objective import Grads, Params
from tournament.fused import eager_exp
from tournament.games import SWAP_VIEW, Game

# The opponent's own-view state indices in the player's view: start, then CC, CD <-> DC, DD.
SWAP_STATES = (0, *(1 + i for i in SWAP_VIEW))


def sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """``1 / (1 + exp(-x))``: the same bits whatever the position in the batch (and, compiled,
    as eager: :func:`tournament.fused.eager_exp`)."""
    exp = eager_exp if torch.compiler.is_compiling() else torch.exp
    return torch.reciprocal(1 + exp(-logits))


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


def payoff_stack(*payoffs: torch.Tensor, batch: int) -> torch.Tensor:
    """K payoff vectors, each [4] or [B, 4] (player's view) -> [4, K, B] for :func:`_solve`."""
    return torch.stack([r.expand(batch, 4) for r in payoffs]).permute(2, 0, 1).contiguous()


def pair_values(p_self, p_opp, r, gamma) -> torch.Tensor:
    """``V = p0 (I - gamma P)^-1 r`` for each payoff vector in ``r`` [4, K, B], [K, B].

    p_self, p_opp: [B, 5] cooperation probabilities, each in its own player's view; gamma: [B].
    """
    a, b = p_self.T, p_opp[:, list(SWAP_STATES)].T
    p0, y, _ = _solve(a, b, gamma, r, occupancy=False)
    return p0[0] * y[0] + p0[1] * y[1] + p0[2] * y[2] + p0[3] * y[3]


def _first_outcome(a0, b0):
    """p0 = (a0 b0, a0 (1-b0), (1-a0) b0, (1-a0)(1-b0)), 4 x [B]."""
    ab0 = a0 * b0
    return (ab0, a0 - ab0, b0 - ab0, 1 - a0 - b0 + ab0)


def values_and_grads(logits_self, logits_opp, r, gamma) -> tuple[torch.Tensor, ...]:
    """Closed form at logits [B, 5] (own views), for each payoff vector in ``r`` [4, K, B]: the
    values V [K, B] and their gradients w.r.t. both players' logits, each in that player's own
    view, [K, B, 5] each."""
    a = sigmoid(logits_self.T.contiguous())  # [5, B]
    # The opponent in the player's view, [5, B] (rows stacked: the backward of an index
    # gather accumulates in an order that depends on the batch).
    b = sigmoid(torch.stack([logits_opp[:, s] for s in SWAP_STATES]))
    p0, y, x = _solve(a, b, gamma, r, occupancy=True)
    v = p0[0] * y[0] + p0[1] * y[1] + p0[2] * y[2] + p0[3] * y[3]  # [K, B]
    weight = torch.stack([torch.ones_like(gamma), *(gamma * x_o for x_o in x)])  # [5, B]
    scale_a, scale_b = weight * a * (1 - a), weight * b * (1 - b)  # [5, B]
    d_a_lo, d_b_lo = y[1] - y[3], y[2] - y[3]  # [K, B]: after the opponent's D, own D
    d_a_diff, d_b_diff = y[0] - y[2] - d_a_lo, y[0] - y[1] - d_b_lo
    # One [K, B] expression per state, stacked: per-match quantities are never broadcast over
    # the batch-sized dimensions, so autograd sums them back in the same order whatever the
    # batch (a broadcast over the states would be summed by a reduction whose order varies).
    d_self = [scale_a[s] * (d_a_lo + b[s] * d_a_diff) for s in range(5)]
    d_opp = [scale_b[s] * (d_b_lo + a[s] * d_b_diff) for s in SWAP_STATES]
    # [K, 5, B] in memory (contiguous writes), [K, B, 5] as seen.
    return v, torch.stack(d_self, dim=1).transpose(1, 2), torch.stack(d_opp, dim=1).transpose(1, 2)


class TabularObjective:
    """The exact game between tabular policies (``{"logits": [B, 5]}``), gradients in closed
    form: the fast path of every rule in :mod:`agents.rules`. Only the asked-for value's
    gradients are computed (``of``).

    r_self, r_opp: [4] or [B, 4] payoffs in the player's view; gamma: [B].
    """

    def __init__(self, r_self: torch.Tensor, r_opp: torch.Tensor, gamma: torch.Tensor):
        batch = gamma.shape[0]
        self.r_self, self.r_opp, self.gamma = r_self, r_opp, gamma
        self.payoffs = {
            "both": payoff_stack(r_self, r_opp, batch=batch),
            "self": payoff_stack(r_self, batch=batch),
            "opp": payoff_stack(r_opp, batch=batch),
        }

    def swapped(self) -> TabularObjective:
        """The same game from the opponent's seat: payoffs re-indexed to its view."""
        swap = list(SWAP_VIEW)
        return TabularObjective(self.r_opp[..., swap], self.r_self[..., swap], self.gamma)

    def logits(self, theta: Params, theta_opp: Params) -> tuple[torch.Tensor, torch.Tensor]:
        """Both players' cooperation logits [B, 5]: their parameters."""
        return theta["logits"], theta_opp["logits"]

    def values(self, theta: Params, theta_opp: Params) -> tuple[torch.Tensor, torch.Tensor]:
        p_self, p_opp = sigmoid(theta["logits"]), sigmoid(theta_opp["logits"])
        v = pair_values(p_self, p_opp, self.payoffs["both"], self.gamma)
        return v[0], v[1]

    def grads(self, theta: Params, theta_opp: Params, of: str = "both") -> Grads:
        v, d_self, d_opp = values_and_grads(
            theta["logits"], theta_opp["logits"], self.payoffs[of], self.gamma
        )
        blocks = [(v[i], {"logits": d_self[i]}, {"logits": d_opp[i]}) for i in range(len(v))]
        mine, theirs = {"both": (0, 1), "self": (0, None), "opp": (None, 0)}[of]
        empty = (None, None, None)
        (v1, d1_v1, d2_v1), (v2, d1_v2, d2_v2) = (
            empty if i is None else blocks[i] for i in (mine, theirs)
        )
        return Grads(v1, v2, d1_v1, d2_v1, d1_v2, d2_v2)


def discounted_values(
    game: Game, p_row: torch.Tensor, p_col: torch.Tensor, gamma: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unnormalised discounted values ``V = p0 (I - gamma P)^-1 r`` of both players, [B] each.

    p_row, p_col: [B, 5] in each player's own view. Differentiable in both policies. ``gamma``
    is a float or a [B] tensor (one per match).
    """
    gamma = torch.as_tensor(gamma, dtype=p_row.dtype, device=p_row.device).expand(p_row.shape[0])
    _check_gamma(gamma)
    v = pair_values(p_row, p_col, payoff_stack(*game.payoffs(p_row), batch=len(gamma)), gamma)
    return v[0], v[1]


def reward_per_step(
    game: Game, p_row: torch.Tensor, p_col: torch.Tensor, gamma: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact normalised values ``(1 - gamma) p0 (I - gamma P)^-1 r``, [B] each."""
    gamma_t = torch.as_tensor(gamma, dtype=p_row.dtype, device=p_row.device)
    v_row, v_col = discounted_values(game, p_row, p_col, gamma_t)
    return (1 - gamma_t) * v_row, (1 - gamma_t) * v_col
