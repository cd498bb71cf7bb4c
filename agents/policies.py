"""Memory-one policy modules: one-hot state [N, 5] -> cooperation logit [N, 1] (or [N]).

Any ``nn.Module`` with that signature can be used; these are the two built in. Both define
``batched_init(seeds, dtype, device)``: the initial parameters of B matches in one vectorised
draw from :mod:`agents.seeding`, so a match's start depends on its seed alone. A module without
it is built once per seed under ``torch.manual_seed(seed)`` (slower, same independence).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from agents import seeding
from agents.functional import N_STATES
from agents.objective import Params


class TabularPolicy(nn.Module):
    """Five free logits, one per state, initialised N(0, 1) as in the LOLA paper."""

    def __init__(self):
        super().__init__()
        self.logits = nn.Parameter(torch.randn(N_STATES))

    def forward(self, states):
        return states @ self.logits

    def batched_init(self, seeds: Sequence[int], dtype, device) -> Params:
        """logits ~ N(0, 1), [B, 5]."""
        return {
            "logits": torch.as_tensor(seeding.normal(seeds, N_STATES), dtype=dtype, device=device)
        }


class MLPPolicy(nn.Sequential):
    """A one-hidden-layer MLP, 5 -> hidden -> 1, tanh."""

    def __init__(self, hidden: int):
        super().__init__(nn.Linear(N_STATES, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def batched_init(self, seeds: Sequence[int], dtype, device) -> Params:
        """PyTorch's default ``nn.Linear`` distribution: weights and biases of a layer with
        ``fan_in`` inputs ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); stream = parameter index."""
        theta = {}
        for stream, (name, param) in enumerate(self.named_parameters()):
            layer = self.get_submodule(name.rpartition(".")[0])
            bound = 1 / math.sqrt(layer.in_features)
            u = seeding.uniform(seeds, param.numel(), stream)
            draws = torch.as_tensor((2 * u - 1) * bound, dtype=dtype, device=device)
            theta[name] = draws.reshape(len(seeds), *param.shape)
        return theta


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
