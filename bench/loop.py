"""The reference: one match at a time, as the forum thread does it, no batching.

Plain tensors of five logits per player, the exact value by ``torch.linalg.solve`` of the
4 x 4 system, and LOLA(k) by ``torch.autograd.grad(..., create_graph=True)`` through the
opponent's k naive steps (k = 0 is the naive learner). Same maths as the engine's ``lola`` rule
(``agents.rules.lola``), self-play in the IPD; nothing here is shared with the engine.
"""

from __future__ import annotations

import torch

SWAP = [0, 1, 3, 2, 4]  # the opponent's own view -> the player's view
R_ROW = [-1.0, -3.0, 0.0, -2.0]
R_COL = [-1.0, 0.0, -3.0, -2.0]  # the column player's payoffs, outcomes in the row's view


def values(logits_row: torch.Tensor, logits_col: torch.Tensor, gamma: float):
    """V = p0 (I - gamma P)^-1 r of both players, one match."""
    a, b = torch.sigmoid(logits_row), torch.sigmoid(logits_col)[SWAP]
    p0 = torch.stack([a[0] * b[0], a[0] * (1 - b[0]), (1 - a[0]) * b[0], (1 - a[0]) * (1 - b[0])])
    A, B = a[1:], b[1:]
    P = torch.stack([A * B, A * (1 - B), (1 - A) * B, (1 - A) * (1 - B)], dim=1)
    M = torch.eye(4, dtype=a.dtype) - gamma * P
    x = torch.linalg.solve(M.T, p0)
    return x @ torch.tensor(R_ROW, dtype=a.dtype), x @ torch.tensor(R_COL, dtype=a.dtype)


def lola_direction(me, other, me_is_row: bool, k: int, lr_in: float, gamma: float):
    """d/d me V_me(me, other^(k)(me)), other^(j+1) = other^(j) + lr_in grad V_other."""
    me = me.detach().requires_grad_()
    other_k = other.detach().requires_grad_()

    def v(mine, theirs):
        v_row, v_col = values(mine, theirs, gamma) if me_is_row else values(theirs, mine, gamma)
        return (v_row, v_col) if me_is_row else (v_col, v_row)

    for _ in range(k):
        (g,) = torch.autograd.grad(v(me, other_k)[1], other_k, create_graph=True)
        other_k = other_k + lr_in * g
    (d,) = torch.autograd.grad(v(me, other_k)[0], me)
    return d


def play_one_match(seed: int, k: int, updates: int, dtype=torch.float32, gamma: float = 0.96):
    """LOLA(k) self-play of one match (lr = lr_in = 1); returns both final logits."""
    gen = torch.Generator().manual_seed(seed)
    row = torch.randn(5, generator=gen, dtype=dtype)
    col = torch.randn(5, generator=gen, dtype=dtype)
    for _ in range(updates):
        d_row = lola_direction(row, col, True, k, 1.0, gamma)
        d_col = lola_direction(col, row, False, k, 1.0, gamma)
        row, col = row + d_row, col + d_col
    return row, col
