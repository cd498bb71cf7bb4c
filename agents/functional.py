"""Differentiating through an ``nn.Module`` opponent's learning: parameters as data.

The question this module answers: how do I take gradients through k gradient steps of an
opponent that is a whole ``nn.Module``?

- ``param.sub_(lr * grad)`` fails on a leaf that requires grad, and where it runs it overwrites
  the value that autograd saved: the graph from the new parameters back to the old is gone.
- ``param.data -= ...`` and ``with torch.no_grad(): ...`` run, but silently: the update is not
  recorded, so the second-order term that makes LOLA LOLA is zero.
- ``module._parameters`` holds only the module's own parameters, not those of submodules
  (``nn.Linear`` inside an ``nn.Sequential``): updates through it miss most of the network.

The answer (as in ``torch.func`` and TorchOpt): keep the module only as a *function* and hold its
parameters outside it, as a dict ``{qualified_name: tensor}`` from ``named_parameters()`` (all
submodules included). An update is an out-of-place expression ``theta + lr * g`` that builds new
tensors, so autograd records it, and ``torch.func.functional_call(module, theta, x)`` evaluates
the module at any such dict. Matches are batched by stacking each parameter along a leading
dimension B and mapping ``functional_call`` over it with ``torch.func.vmap``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from agents.objective import Grads, Params

# The five egocentric states as one-hot rows: start, CC, CD, DC, DD.
N_STATES = 5


def states_one_hot(like: torch.Tensor) -> torch.Tensor:
    """The five states as one-hot inputs, [5, 5]."""
    return torch.eye(N_STATES, dtype=like.dtype, device=like.device)


class BatchedPolicy:
    """An ``nn.Module`` (5 one-hot states -> 1 cooperation logit each) used as a pure function.

    ``init(seeds)`` builds B independent copies, each initialised under its own seed, and
    returns their stacked parameters; ``logits(theta)`` evaluates all B copies at once, [B, 5].
    ``batch_invariant``: ``p_coop`` as ``1 / (1 + exp(-logits))``, whose bits do not depend on
    a match's position in the batch (``torch.sigmoid``'s vectorised and scalar kernels differ in
    the last bit); the sampled engine needs it, where one bit can flip a sampled action.
    """

    def __init__(self, make_module: Callable[[], nn.Module], batch_invariant: bool = False):
        self.make_module = make_module
        self.batch_invariant = batch_invariant
        # A parameter-free skeleton: functional_call supplies the parameters on every call.
        self.skeleton = copy.deepcopy(make_module()).to("meta")

    def init(
        self,
        seeds: Sequence[int],
        dtype: torch.dtype,
        device: torch.device | str = "cpu",
        scale: Sequence[float] | torch.Tensor | None = None,
    ) -> Params:
        """Initial parameters of B matches, [B, ...] each: the module's ``batched_init`` where
        it has one, else one module built per seed under ``torch.manual_seed(seed)``; each
        match's parameters times its ``scale`` (the ``init`` option; 1: as drawn)."""
        theta = self._draw(seeds, dtype, device)
        if scale is None:
            return theta
        factor = torch.as_tensor(scale, dtype=dtype, device=device)
        return {n: per_match(factor, t) * t for n, t in theta.items()}

    def _draw(self, seeds: Sequence[int], dtype: torch.dtype, device) -> Params:
        if hasattr(self.skeleton, "batched_init"):
            return self.skeleton.batched_init(seeds, dtype, device)
        modules = []
        for seed in seeds:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                modules.append(self.make_module().to(dtype=dtype, device=device))
        theta, buffers = stack_module_state(modules)
        if buffers:
            raise ValueError("policy modules with buffers are not supported")
        return {name: t.detach() for name, t in theta.items()}

    def logits(self, theta: Params) -> torch.Tensor:
        """Cooperation logits of every match in every state, [B, 5]."""
        x = states_one_hot(next(iter(theta.values())))

        def one(params: Params) -> torch.Tensor:
            return functional_call(self.skeleton, params, (x,)).reshape(N_STATES)

        return vmap(one)(theta)

    def p_coop(self, theta: Params) -> torch.Tensor:
        """P(C | state), [B, 5] (``batch_invariant``: see the constructor)."""
        logits = self.logits(theta)
        if self.batch_invariant:
            return torch.reciprocal(1 + torch.exp(-logits))
        return torch.sigmoid(logits)


def grad(
    outputs: torch.Tensor,
    theta: Params,
    create_graph: bool = False,
    retain_graph: bool | None = None,
) -> Params:
    """Per-match gradient of ``outputs`` [B] w.r.t. stacked parameters.

    Match b's output depends only on match b's parameters, so the gradient of the sum is, row by
    row, the gradient of each match's own output.
    """
    names = list(theta)
    grads = torch.autograd.grad(
        outputs.sum(),
        [theta[n] for n in names],
        create_graph=create_graph,
        retain_graph=retain_graph,
        allow_unused=True,
    )
    pairs = zip(names, grads, strict=True)
    return {n: torch.zeros_like(theta[n]) if g is None else g for n, g in pairs}


def vjp(outputs: Params, theta: Params, cotangent: Params) -> Params:
    """``(d outputs / d theta)^T cotangent``, per match: the gradient of ``outputs . sg(cotangent)``
    (outputs and cotangent share keys)."""
    return grad(dot({n: outputs[n] for n in cotangent}, detach(cotangent)), theta)


def per_match(scale: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Broadcast a per-match scalar [B] against a stacked parameter [B, ...]."""
    return scale.reshape(-1, *([1] * (like.dim() - 1)))


def axpy(theta: Params, scale: torch.Tensor, direction: Params) -> Params:
    """Out-of-place ``theta + scale * direction`` with a per-match ``scale`` [B]."""
    return {n: t + per_match(scale, t) * direction[n] for n, t in theta.items()}


def dot(x: Params, y: Params) -> torch.Tensor:
    """Per-match inner product of two parameter dicts, [B]. Summed row-major whatever the
    inputs' memory layout (autograd may return transposed gradients), so that a match's sum
    never depends on the batch: a reduction across the batch's memory order would."""
    return sum((x[n] * y[n]).reshape(x[n].shape[0], -1).contiguous().sum(dim=1) for n in x)


Pair = Callable[[Params, Params], tuple[torch.Tensor, torch.Tensor]]


class AutogradObjective:
    """A two-player objective from a ``values(theta, theta_opp) -> (V1, V2)`` function of any
    policy modules; its gradients come from autograd, recorded (``create_graph``) whenever an
    input requires grad, so that rules can differentiate them once more. ``logits(theta,
    theta_opp)``: both players' cooperation logits [B, 5] (what POLA's KL term reads; None for
    players without a policy, as in a differentiable game)."""

    def __init__(self, values: Pair, logits: Pair | None = None):
        self.values = values
        self._logits = logits

    def logits(self, theta: Params, theta_opp: Params) -> tuple[torch.Tensor, torch.Tensor]:
        if self._logits is None:
            raise ValueError("this game's players have no policy, so no KL between policies")
        return self._logits(theta, theta_opp)

    def swapped(self) -> AutogradObjective:
        """The same game from the opponent's seat."""

        def logits(theta, theta_opp):
            return self.logits(theta_opp, theta)[::-1]

        return AutogradObjective(
            lambda theta, theta_opp: self.values(theta_opp, theta)[::-1],
            None if self._logits is None else logits,
        )

    def grads(self, theta: Params, theta_opp: Params, of: str = "both"):
        differentiable = any(t.requires_grad for t in (*theta.values(), *theta_opp.values()))
        theta, theta_opp = _leaves(theta), _leaves(theta_opp)
        v_self, v_opp = self.values(theta, theta_opp)
        both = {**_keyed("self", theta), **_keyed("opp", theta_opp)}
        d = {}
        for name, v in (("self", v_self), ("opp", v_opp)):
            if of in (name, "both"):
                d[name] = grad(v, both, create_graph=differentiable, retain_graph=True)
        d_v_self, d_v_opp = d.get("self"), d.get("opp")
        return Grads(
            v_self,
            v_opp,
            d_v_self and _unkeyed("self", d_v_self),
            d_v_self and _unkeyed("opp", d_v_self),
            d_v_opp and _unkeyed("self", d_v_opp),
            d_v_opp and _unkeyed("opp", d_v_opp),
        )


def _leaves(theta: Params) -> Params:
    """Each parameter as a node of its own: an alias (``view_as``) where it is part of a graph
    already, so that a gradient w.r.t. it is the partial derivative at this point and does
    not run back through whatever computed the other player's parameters from it (e.g.
    LOLA's unrolled opponent steps); else a fresh leaf that requires grad."""
    return {
        n: t.view_as(t) if t.requires_grad else t.detach().requires_grad_(True)
        for n, t in theta.items()
    }


def _keyed(side: str, theta: Params) -> dict:
    return {(side, n): t for n, t in theta.items()}


def _unkeyed(side: str, grads: dict) -> Params:
    return {n: g for (s, n), g in grads.items() if s == side}


def log_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """``log(1 / (1 + exp(-x)))`` without overflow, ``min(x, 0) - log(1 + exp(-|x|))``, from
    elementwise operations whose vectorised and scalar kernels agree (unlike
    ``torch.nn.functional.logsigmoid``), so a match's bits do not depend on its batch. ``|x|``
    is written as a ``where`` whose derivative at 0 is 1, not ``abs``'s 0, so that the
    derivative at x = 0 is the true 1/2."""
    magnitude = torch.where(x < 0, -x, x)
    return torch.where(x < 0, x, torch.zeros_like(x)) - torch.log(1 + torch.exp(-magnitude))


def detach(theta: Params) -> Params:
    return {n: t.detach() for n, t in theta.items()}


def zeros(theta: Params) -> Params:
    """Parameters of the same shapes, all 0."""
    return {n: torch.zeros_like(t) for n, t in theta.items()}


def requires_grad(theta: Params) -> Params:
    return {n: t.detach().requires_grad_(True) for n, t in theta.items()}


def finite_rows(t: torch.Tensor) -> torch.Tensor:
    """Per-row flag that every entry of ``t`` [B, ...] is finite, [B]: ``x * 0`` is 0 for a
    finite x and NaN for an infinite or NaN one, so a row's sum of them is 0 exactly when the
    row is finite (a multiply and a row sum: about twice as fast as ``isfinite().all(1)``)."""
    return (t.reshape(t.shape[0], -1) * 0).sum(dim=1) == 0


def is_finite(theta: Params) -> torch.Tensor:
    """Per-match flag: every parameter finite, [B]."""
    return torch.stack([finite_rows(t) for t in theta.values()]).all(dim=0)
