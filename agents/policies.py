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
    """Five free logits, one per state, initialised N(0, 1) as in the LOLA paper (``std``: N(0,
    std^2), e.g. 0.1 as in the POLA authors' code, policies near 1/2)."""

    def __init__(self, std: float = 1.0):
        super().__init__()
        self.std = std
        self.logits = nn.Parameter(std * torch.randn(N_STATES))

    def forward(self, states):
        return states @ self.logits

    def batched_init(self, seeds: Sequence[int], dtype, device) -> Params:
        """logits ~ N(0, std^2), [B, 5] (std 1: the standard draws, bit for bit)."""
        draws = torch.as_tensor(seeding.normal(seeds, N_STATES), dtype=dtype, device=device)
        return {"logits": draws if self.std == 1.0 else self.std * draws}


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


def tabular_std(policy: str | Callable[[], nn.Module]) -> float | None:
    """The initial std of a ``tabular`` (1) or ``tabular:STD`` policy; None for other policies."""
    if callable(policy):
        return None
    kind, colon, std = str(policy).partition(":")
    if kind != "tabular":
        return None
    if not colon:
        return 1.0
    try:
        value = float(std)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def policy_factory(policy: str | Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    """``tabular``, ``tabular:STD``, ``mlp:HIDDEN`` or any zero-argument callable returning an
    ``nn.Module`` (one-hot states [5, 5] -> logits [5] or [5, 1]) -> a constructor of the
    module."""
    if callable(policy):
        return policy
    std = tabular_std(policy)
    if std is not None:
        return TabularPolicy if std == 1.0 else lambda: TabularPolicy(std)
    kind, _, hidden = str(policy).partition(":")
    if kind == "mlp" and hidden.isdigit() and int(hidden) > 0:
        return lambda: MLPPolicy(int(hidden))
    raise ValueError(
        f"policy: unknown {policy!r}; accepted: tabular, tabular:STD (initial logits N(0, "
        f"STD^2), STD > 0), mlp:HIDDEN (HIDDEN > 0)"
    )
