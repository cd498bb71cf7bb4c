"""Memory-one policy modules: one-hot state [N, 5] -> cooperation logit [N, 1] (or [N]).

Any ``nn.Module`` with that signature can be used; these are the two built in.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from agents.functional import N_STATES


class TabularPolicy(nn.Module):
    """Five free logits, one per state, initialised N(0, 1) as in the LOLA paper."""

    def __init__(self):
        super().__init__()
        self.logits = nn.Parameter(torch.randn(N_STATES))

    def forward(self, states):
        return states @ self.logits


class MLPPolicy(nn.Sequential):
    """A one-hidden-layer MLP, 5 -> hidden -> 1, tanh, PyTorch's default initialisation."""

    def __init__(self, hidden: int):
        super().__init__(nn.Linear(N_STATES, hidden), nn.Tanh(), nn.Linear(hidden, 1))


def policy_factory(policy: str | Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    """``tabular``, ``mlp:HIDDEN`` or any zero-argument callable returning an ``nn.Module``
    (one-hot states [5, 5] -> logits [5] or [5, 1]) -> a constructor of the module."""
    if callable(policy):
        return policy
    if policy == "tabular":
        return TabularPolicy
    kind, _, hidden = str(policy).partition(":")
    if kind == "mlp" and hidden.isdigit() and int(hidden) > 0:
        return lambda: MLPPolicy(int(hidden))
    raise ValueError(f"policy: unknown {policy!r}; accepted: tabular, mlp:HIDDEN (HIDDEN > 0)")
