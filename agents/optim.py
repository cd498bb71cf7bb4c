"""Optimisers that apply an ascent direction with a per-match learning rate [B].

``torch.optim`` takes one learning rate per parameter group, not one per match, so the two
rules we need are written out here (a few lines each, out of place).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from agents.functional import axpy
from agents.objective import Params


class SGD:
    """``theta <- theta + lr * d`` (gradient ascent on the unnormalised value)."""

    def __init__(self, lr: torch.Tensor):
        self.lr = lr

    def step(self, theta: Params, direction: Params) -> Params:
        return axpy(theta, self.lr, direction)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What the next step reads besides theta and d: nothing."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        pass


@dataclass
class Adam:
    """Adam (Kingma & Ba 2015) on the ascent direction ``d``:

    ``m <- b1 m + (1-b1) d``, ``v <- b2 v + (1-b2) d^2``,
    ``theta <- theta + lr * m_hat / (sqrt(v_hat) + eps)`` with bias-corrected m_hat, v_hat.
    """

    lr: torch.Tensor
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    t: int = 0
    m: dict = field(default_factory=dict)
    v: dict = field(default_factory=dict)

    def step(self, theta: Params, direction: Params) -> Params:
        b1, b2 = self.betas
        self.t += 1
        scaled = {}
        for n, d in direction.items():
            self.m[n] = b1 * self.m.get(n, torch.zeros_like(d)) + (1 - b1) * d
            self.v[n] = b2 * self.v.get(n, torch.zeros_like(d)) + (1 - b2) * d * d
            m_hat = self.m[n] / (1 - b1**self.t)
            v_hat = self.v[n] / (1 - b2**self.t)
            scaled[n] = m_hat / (v_hat.sqrt() + self.eps)
        return axpy(theta, self.lr, scaled)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What the next step reads besides theta and d: t, m and v (``m.<name>``, ...)."""
        state = {"t": torch.tensor(self.t)}
        state.update({f"m.{n}": t for n, t in self.m.items()})
        state.update({f"v.{n}": t for n, t in self.v.items()})
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.t = int(state["t"])
        self.m = {k[2:]: t for k, t in state.items() if k.startswith("m.")}
        self.v = {k[2:]: t for k, t in state.items() if k.startswith("v.")}


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
