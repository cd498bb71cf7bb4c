"""What an agent is: a validated spec naming a learning rule or a fixed strategy, and options.

Agent names: the learners ``nl``, ``la``, ``lola``, ``lola-taylor``, ``sos`` (see
:mod:`agents.rules`); the fixed strategies of :mod:`agents.strategies`; ``random`` or
``random:P``; and ``memory1:P0,PCC,PCD,PDC,PDD``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from agents.optim import OPTIMIZERS
from agents.options import applies, default
from agents.policies import policy_factory
from agents.rules import RULES
from agents.strategies import STRATEGIES

LEARNERS = tuple(RULES)
FIXED = (*STRATEGIES, "random", "memory1")
KINDS = (*LEARNERS, *FIXED)
ACCEPTED_NAMES = ", ".join([*LEARNERS, *STRATEGIES, "random[:P]", "memory1:P0,PCC,PCD,PDC,PDD"])


@dataclass(frozen=True)
class AgentSpec:
    """An agent kind with its options, declared (meaning, defaults) in :mod:`agents.options`.

    lr: own step; lr_in: the opponent's step that LA/LOLA/SOS assume (None: same as lr);
    lookahead: k, the opponent's unrolled steps (LA, LOLA); eta: LOLA-Taylor's shaping step;
    policy: ``tabular``, ``mlp:HIDDEN``, or (from Python) any zero-argument callable that
    builds an ``nn.Module`` mapping the one-hot states [5, 5] to logits;
    optimizer: ``sgd`` or ``adam``;
    p: the probabilities of ``memory1`` (5) or ``random`` (1).
    """

    kind: str
    lr: float = default("lr")
    lr_in: float | None = default("lr_in")
    lookahead: int = default("lookahead")
    eta: float = default("eta")
    policy: str | Callable[[], nn.Module] = default("policy")
    optimizer: str = default("optimizer")
    p: tuple[float, ...] | None = default("p")

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"agent: unknown {self.kind!r}; accepted: {ACCEPTED_NAMES}")
        for name in ("lr", "lr_in", "eta"):
            value = getattr(self, name)
            if value is None and name == "lr_in":
                continue
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"{name}: must be a number, got {value!r}")
            low_ok = value >= 0 if name == "eta" else value > 0
            if not (math.isfinite(value) and low_ok):
                bound = ">= 0" if name == "eta" else "> 0"
                raise ValueError(f"{name}: must be finite and {bound}, got {value}")
        if not isinstance(self.lookahead, int) or isinstance(self.lookahead, bool):
            raise ValueError(f"lookahead: must be an integer >= 1, got {self.lookahead!r}")
        if self.lookahead < 1:
            raise ValueError(f"lookahead: must be an integer >= 1, got {self.lookahead}")
        policy_factory(self.policy)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer: unknown {self.optimizer!r}; accepted: {', '.join(OPTIMIZERS)}"
            )
        self._check_p()

    def _check_p(self):
        want = {"memory1": 5, "random": 1}.get(self.kind)
        if want is None:
            if self.p is not None:
                raise ValueError(f"p: only memory1 and random take probabilities, not {self.kind}")
            return
        if self.p is None and self.kind == "random":
            object.__setattr__(self, "p", (0.5,))
        p = tuple(self.p or ())
        if len(p) != want or not all(isinstance(x, int | float) and 0 <= x <= 1 for x in p):
            raise ValueError(
                f"p: {self.kind} needs {want} probabilit{'ies' if want > 1 else 'y'} in [0, 1], "
                f"got {self.p!r}"
            )
        object.__setattr__(self, "p", tuple(float(x) for x in p))

    @property
    def learner(self) -> bool:
        return self.kind in LEARNERS

    @property
    def inner_lr(self) -> float:
        return self.lr if self.lr_in is None else self.lr_in

    def structure(self) -> tuple:
        """What must be equal for agents to share one batched engine call (all but the rates)."""
        return (self.kind, self.lookahead, self.policy, self.optimizer, self.p)

    def label(self) -> str:
        """A short human-readable name, e.g. ``lola(lr=1,lr_in=1,k=1)`` or ``tft``."""
        if not self.learner:
            if self.kind == "memory1":
                return "memory1:" + ",".join(f"{x:g}" for x in self.p)
            return f"random:{self.p[0]:g}" if self.kind == "random" else self.kind
        opts = [f"lr={self.lr:g}"]
        if applies("lr_in", self.kind):
            opts.append(f"lr_in={self.inner_lr:g}")
        if applies("lookahead", self.kind):
            opts.append(f"k={self.lookahead}")
        if applies("eta", self.kind):
            opts.append(f"eta={self.eta:g}")
        if self.policy != "tabular":
            opts.append(getattr(self.policy, "__name__", str(self.policy)))
        if self.optimizer != "sgd":
            opts.append(self.optimizer)
        return f"{self.kind}({','.join(opts)})"


def parse_agent(name: str, **options) -> AgentSpec:
    """An agent from its command-line name (``memory1:...``/``random:P`` carry ``p``)."""
    kind, _, arg = name.partition(":")
    if arg and kind in ("memory1", "random"):
        try:
            options["p"] = tuple(float(x) for x in arg.split(","))
        except ValueError:
            raise ValueError(f"agent: cannot read probabilities in {name!r}") from None
    elif arg:
        raise ValueError(f"agent: unknown {name!r}; accepted: {ACCEPTED_NAMES}")
    return AgentSpec(kind, **options)
