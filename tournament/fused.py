"""The closed-form engine's fused path: a rule's whole update as a few compiled CPU kernels.

Eagerly, one update of a tabular rule is a fixed sequence of about a thousand elementwise
operations on [B]-sized tensors (the 4 x 4 solve of :mod:`tournament.values` entry by entry, its
closed-form gradients, autograd's backward through them for LOLA's second-order term); at large
B each reads and writes memory. ``torch.compile`` (inductor, C++) fuses each stretch between two
``torch.autograd.grad`` calls, and autograd's backward through it, into a few loops over the
batch, each an OpenMP parallel loop on the process's torch threads (:data:`OPTIONS`).

Same bits as eager, so the fused path is an optimisation, not another engine. Inductor builds
its C++ without fast-math reassociation or contraction (``-fno-unsafe-math-optimizations
-ffp-contract=off``), so every ``+ - * /`` rounds as eagerly, in the same order; only ``exp``
differs (inductor calls SLEEF where ATen calls MKL), so inside a compiled region
:func:`tournament.values.sigmoid` calls ATen's ``exp`` as an opaque operator
(:func:`eager_exp`). The tests check the fused path against eager bit for bit, over
updates, batch sizes and positions in the batch.

Where it pays: a group of a rule in :data:`KINDS` whose sides x updates (of one
``play_matches`` call) reach :data:`MIN_SIDE_UPDATES`. The first compile of the two rules costs
minutes on 2 cores (a few graphs each, forward and backward); inductor keeps its kernels in
an on-disk cache (``TORCHINDUCTOR_CACHE_DIR``, by default ``~/.cache/lola-arena/inductor``), so
another process (a Ray worker, the next run) loads them in about 15 s. ``LOLA_ARENA_COMPILE``:
``auto`` (default), ``always`` (any size: the tests, the benchmark), ``never``. Where
compiling fails (no C++ compiler), one warning line and the run goes on eager: the same
numbers, slower.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch

# The rules that run fused: the benchmark's. LA and LOLA-Taylor give eager's bits too, but each
# adds a minute of first compile (and of tests); SOS's retained graph is refused by AOTAutograd's
# donated buffers, HOLA differentiates twice through a compiled backward (unsupported).
KINDS = ("nl", "lola")
# Sides x updates of one rule group from which the fused path repays loading its kernels from
# the cache (about 15 s; it saves 0.15 us (NL) to 1.2 us (LOLA k = 3) per side-update): e.g.
# 16,384 self-play matches (32,768 sides) x 1,500 updates.
MIN_SIDE_UPDATES = 50_000_000
MODES = ("auto", "always", "never")
# Every kernel loops over the batch in an OpenMP parallel region: inductor otherwise decides
# serial or parallel from the batch size of the call that compiled the graph, and the on-disk
# cache then hands a graph compiled at B = 64 (a test) to B = 16,384 (1.6x slower at LOLA k = 3
# on 2 cores). Elementwise per side, so how the loop is split does not change a bit.
OPTIONS = {"cpp.dynamic_threads": True}
CACHE_DIR = Path.home() / ".cache" / "lola-arena" / "inductor"

log = logging.getLogger(__name__)


@torch.library.custom_op("lola_arena::eager_exp", mutates_args=())
def eager_exp(x: torch.Tensor) -> torch.Tensor:
    """ATen's ``exp``, opaque to the compiler, so that a compiled region rounds as eager does."""
    return torch.exp(x)


@eager_exp.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def _exp_setup(ctx, inputs, output):
    ctx.save_for_backward(output)


def _exp_backward(ctx, grad_output):
    """d exp(x) = exp(x) dx: ``grad * result``, as eager autograd's ``ExpBackward``."""
    (result,) = ctx.saved_tensors
    return grad_output * result


eager_exp.register_autograd(_exp_backward, setup_context=_exp_setup)


def mode() -> str:
    """``LOLA_ARENA_COMPILE`` (see the module doc); a clear error for another value."""
    value = os.environ.get("LOLA_ARENA_COMPILE", "auto")
    if value not in MODES:
        raise ValueError(f"LOLA_ARENA_COMPILE: must be one of {', '.join(MODES)}, got {value!r}")
    return value


def pays(kind: str, side_updates: int) -> bool:
    """Whether a group of rule ``kind`` that plays ``side_updates`` (sides x updates) runs
    fused."""
    if kind not in KINDS or _failed:
        return False
    return {"auto": side_updates >= MIN_SIDE_UPDATES, "always": True, "never": False}[mode()]


_failed: list[str] = []  # the first failure's message: compiling is off for this process


class Fused:
    """``fn`` compiled (dynamic batch size: one compile for every B), falling back to ``fn``
    itself, with one warning line, for the rest of the process where compiling fails. ``fn``
    must be pure (a retry recomputes it)."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.compiled = None

    def __call__(self, *args):
        if _failed:
            return self.fn(*args)
        try:
            if self.compiled is None:
                os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(CACHE_DIR))
                # The graph breaks (each autograd.grad, the batch's largest k) are by design:
                # dynamo's warning about each is noise to a user.
                logging.getLogger("torch._dynamo").setLevel(logging.ERROR)
                self.compiled = torch.compile(self.fn, dynamic=True, options=OPTIONS)
            return self.compiled(*args)
        except Exception as error:  # noqa: BLE001 - any compiler failure: fall back, say so once
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            _failed.append(reason)
            log.warning("torch.compile failed (%s); the closed-form engine runs eager", reason)
            return self.fn(*args)


def fused_rules(rules: dict[str, Callable]) -> dict[str, Fused]:
    """The rules of :data:`KINDS`, each compiled on its own (each keeps its own compiled
    variants: dtype, which inputs require grad)."""
    return {kind: Fused(rules[kind]) for kind in KINDS}
