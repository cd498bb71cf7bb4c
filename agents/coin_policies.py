"""Coin Game policies: ``nn.Module``s from one agent's observation [N, 4, G, G] to 4 action
logits [N, 4] (up, down, left, right), batched over B matches as pure functions.

Built in (``policy`` strings): ``mlp:H`` (the flattened planes, two ReLU hidden layers of H),
``conv:C`` (two 3x3 circular convolutions with C channels, the torus's own padding, ReLU, then
a linear head), ``gru:H`` (a ReLU embedding of H, a GRU cell over the episode, a linear head:
recurrent, what reciprocity needs, since a reactive policy cannot remember who took whose
coin). Any module with the same call signature works from Python; a recurrent one sets
``recurrent = True`` and ``hidden_size`` and is called ``module(obs, hidden) -> (logits,
hidden)`` with ``hidden`` [N, hidden_size], zeros at an episode's start.

An observation has exactly three ones (own cell, other's cell, the coin in one of the last two
planes), so it is also given by their positions in the flattened planes, ``active`` [..., 3]
(:func:`one_hot_planes` turns them into the planes). A module may offer
``batched_logits(theta, active)``, the logits of such observations straight from the positions
([B, M, 3] -> [B, M, 4], parameters [B, ...]); ``CoinMLP`` does, where its first layer on a
one-hot input is a sum of three of its weight columns instead of a product with 4 G^2 inputs.

Initial parameters are PyTorch's defaults for these layers (every weight and bias of a layer
~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_features or in_channels * 9; a GRU's gates:
the hidden size, as ``nn.GRUCell``), drawn per match from :mod:`agents.seeding` (stream =
parameter index), so a match's start depends on its seed alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from agents import seeding
from agents.functional import BatchedPolicy, Params

N_PLANES, N_ACTIONS = 4, 4
ACCEPTED = "mlp:H, conv:C, gru:H (H, C > 0)"


def _fan_in(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return module.in_features
    if isinstance(module, nn.Conv2d):
        return module.in_channels * math.prod(module.kernel_size)
    raise TypeError(f"no default initialisation for {type(module).__name__}")


def one_hot_planes(active: torch.Tensor, grid_size: int, dtype=torch.float32) -> torch.Tensor:
    """Observations [..., 4, G, G] with ones at the flat positions ``active`` [..., 3] of the
    4 G^2 planes' entries, zeros elsewhere."""
    size = N_PLANES * grid_size**2
    planes = torch.zeros(*active.shape[:-1], size, dtype=dtype, device=active.device)
    planes.scatter_(-1, active, 1.0)
    return planes.reshape(*active.shape[:-1], N_PLANES, grid_size, grid_size)


class _SeededInit:
    """``batched_init``: PyTorch's default distribution of each layer, per match from its seed."""

    def batched_init(self, seeds: Sequence[int], dtype, device) -> Params:
        theta = {}
        for stream, (name, param) in enumerate(self.named_parameters()):
            bound = 1 / math.sqrt(_fan_in(self.get_submodule(name.rpartition(".")[0])))
            u = seeding.uniform(seeds, param.numel(), stream)
            draws = torch.as_tensor((2 * u - 1) * bound, dtype=dtype, device=device)
            theta[name] = draws.reshape(len(seeds), *param.shape)
        return theta


class CoinMLP(_SeededInit, nn.Sequential):
    """4 G^2 -> H -> H -> 4, ReLU (cheaper than tanh, which took a fifth of an update)."""

    def __init__(self, grid_size: int, hidden: int):
        super().__init__(
            nn.Flatten(-3),
            nn.Linear(N_PLANES * grid_size**2, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, N_ACTIONS),
        )

    def batched_logits(self, theta: Params, active: torch.Tensor) -> torch.Tensor:
        """The logits [B, M, 4] of B matches' observations given by their ones, ``active``
        [B, M, 3], at parameters theta [B, ...]: the forward pass with its first layer
        ``W1 x + b1`` on the one-hot x written as the sum of the three columns of W1 at x's ones
        (one ``embedding_bag`` per row: 3 H additions instead of 4 G^2 H multiply-adds, and no
        planes), the others as batched ``b + h W^T`` (``baddbmm``). The forward pass on the
        planes up to the order in which the matrix product rounds its sum (the same bits at
        ``mlp:32`` on the CPU, whose product adds the columns in the same order)."""
        batch, inputs = active.shape[0], theta["1.weight"].shape[2]
        columns = theta["1.weight"].transpose(1, 2).reshape(batch * inputs, -1)  # [B 4G^2, H]
        first = torch.arange(batch, device=active.device)[:, None, None] * inputs
        h = F.embedding_bag((active + first).reshape(-1, 3), columns, mode="sum")
        h = h.reshape(*active.shape[:2], -1).add_(theta["1.bias"][:, None]).relu_()
        return _affine(theta, "5", _affine(theta, "3", h).relu_())


def _affine(theta: Params, layer: str, h: torch.Tensor) -> torch.Tensor:
    """Linear layer ``layer`` of B matches, ``b + h W^T``: h [B, M, in] -> [B, M, out]."""
    return torch.baddbmm(theta[f"{layer}.bias"][:, None], h, theta[f"{layer}.weight"].mT)


class CoinConv(_SeededInit, nn.Sequential):
    """Two 3x3 circular convolutions (4 -> C -> C channels), ReLU, then C G^2 -> 4."""

    def __init__(self, grid_size: int, channels: int):
        conv = dict(kernel_size=3, padding=1, padding_mode="circular")
        super().__init__(
            nn.Conv2d(N_PLANES, channels, **conv),
            nn.ReLU(),
            nn.Conv2d(channels, channels, **conv),
            nn.ReLU(),
            nn.Flatten(-3),
            nn.Linear(channels * grid_size**2, N_ACTIONS),
        )


class CoinGRU(_SeededInit, nn.Module):
    """A GRU cell (Cho et al. 2014, as ``nn.GRUCell``) over an embedding ``x = relu(W obs + b)``:

        r = sigmoid(W_r x + U_r h),  z = sigmoid(W_z x + U_z h),
        n = tanh(W_n x + r * (U_n h)),  h' = (1 - z) n + z h,   logits = V h' + c

    written out (``nn.GRUCell`` has no ``vmap`` batching rule); recurrent."""

    recurrent = True

    def __init__(self, grid_size: int, hidden: int):
        super().__init__()
        self.hidden_size = hidden
        self.embed = nn.Linear(N_PLANES * grid_size**2, hidden)
        self.input_gates = nn.Linear(hidden, 3 * hidden)  # W_r, W_z, W_n
        self.hidden_gates = nn.Linear(hidden, 3 * hidden)  # U_r, U_z, U_n
        self.head = nn.Linear(hidden, N_ACTIONS)

    def forward(self, obs: torch.Tensor, hidden: torch.Tensor):
        x = torch.relu(self.embed(obs.flatten(-3)))
        x_r, x_z, x_n = self.input_gates(x).chunk(3, dim=-1)
        h_r, h_z, h_n = self.hidden_gates(hidden).chunk(3, dim=-1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        h = (1 - z) * torch.tanh(x_n + r * h_n) + z * hidden
        return self.head(h), h


POLICIES: dict[str, type[nn.Module]] = {"mlp": CoinMLP, "conv": CoinConv, "gru": CoinGRU}


def coin_policy_factory(
    policy: str | Callable[[], nn.Module], grid_size: int
) -> Callable[[], nn.Module]:
    """``mlp:H``, ``conv:C``, ``gru:H`` or a zero-argument callable returning a module -> a
    constructor of the module; a one-line ``ValueError`` for anything else."""
    if callable(policy):
        return policy
    name, _, size = str(policy).partition(":")
    if name not in POLICIES or not size.isdigit() or int(size) < 1:
        raise ValueError(
            f"policy: {policy!r} cannot play the Coin Game (it takes observations "
            f"[N, 4, G, G]); accepted: {ACCEPTED}"
        )
    return lambda: POLICIES[name](grid_size, int(size))


class CoinPolicy(BatchedPolicy):
    """A Coin Game policy module used as a pure function of stacked parameters [B, ...]
    (:class:`agents.functional.BatchedPolicy`): ``logits(theta, obs, hidden)`` evaluates match
    b's module on its observations obs[b] [M, 4, G, G] (M episodes or steps), [B, M, 4]."""

    def __init__(self, make_module: Callable[[], nn.Module], grid_size: int):
        super().__init__(make_module)
        self.grid_size = grid_size
        self.recurrent = bool(getattr(self.skeleton, "recurrent", False))
        self.hidden_size = int(getattr(self.skeleton, "hidden_size", 0))
        self._check(grid_size)

    def _check(self, grid_size: int) -> None:
        """The module maps [N, 4, G, G] (and a hidden state) to [N, 4] (on the meta device)."""
        obs = torch.zeros(2, N_PLANES, grid_size, grid_size, device="meta")
        try:
            if self.recurrent:
                out = self.skeleton(obs, torch.zeros(2, self.hidden_size, device="meta"))[0]
            else:
                out = self.skeleton(obs)
        except Exception as error:  # any failure of a user's module: say what it must take
            out = error
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, N_ACTIONS):
            raise ValueError(
                f"policy: the module cannot map observations [N, 4, {grid_size}, {grid_size}] "
                f"to logits [N, 4] ({out!r:.80})"
            )

    def initial_hidden(self, batch: int, per_match: int, like: torch.Tensor) -> torch.Tensor:
        """Zeros [B, M, hidden_size] (hidden_size 0 for a reactive policy)."""
        return like.new_zeros(batch, per_match, self.hidden_size)

    def logits(self, theta: Params, obs: torch.Tensor, hidden: torch.Tensor | None = None):
        """(logits [B, M, 4], new hidden [B, M, H] or None) of observations [B, M, 4, G, G]."""
        if not self.recurrent:

            def one(params, x):
                return functional_call(self.skeleton, params, (x,))

            return vmap(one)(theta, obs), None

        def one_recurrent(params, x, h):
            return functional_call(self.skeleton, params, (x, h))

        return vmap(one_recurrent)(theta, obs, hidden)

    def logits_of_active(
        self, theta: Params, active: torch.Tensor, hidden: torch.Tensor | None = None
    ):
        """:meth:`logits` of the observations whose ones are at ``active`` [B, M, 3] (the
        module's ``batched_logits`` where it has one and is reactive, else on the planes)."""
        if not self.recurrent and hasattr(self.skeleton, "batched_logits"):
            return self.skeleton.batched_logits(theta, active), None
        dtype = next(iter(theta.values())).dtype
        return self.logits(theta, one_hot_planes(active, self.grid_size, dtype), hidden)
