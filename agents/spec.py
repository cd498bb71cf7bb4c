"""What an agent is: a validated spec naming a kind (:mod:`agents.kinds`) and its options
(:mod:`agents.options`).

Agent names: :data:`agents.kinds.ACCEPTED_NAMES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from agents.coin_policies import ACCEPTED as COIN_ACCEPTED
from agents.coin_policies import coin_policy_factory
from agents.dice import MAX_ROLLOUTS
from agents.kinds import ACCEPTED_NAMES, KINDS
from agents.optim import OPTIMIZERS
from agents.options import OPTIONS, applies, default, flag
from agents.policies import policy_factory


@dataclass(frozen=True)
class AgentSpec:
    """An agent kind with its options, declared (meaning, defaults, bounds) in
    :mod:`agents.options`; a kind reads only its own options (:mod:`agents.kinds`), the others
    keep their defaults. ``lr_in`` left None becomes ``lr`` here, the one place that resolves
    it (labels, match ids, stored columns and the engines read the resolved value). ``policy``
    also takes (from Python) any zero-argument callable that builds an ``nn.Module`` mapping
    the one-hot states [5, 5] to logits.
    """

    kind: str
    lr: float = default("lr")
    lr_in: float | None = default("lr_in")
    lookahead: int = default("lookahead")
    eta: float = default("eta")
    gamma_co: float = default("gamma_co")
    order: int = default("order")
    beta_in: float = default("beta_in")
    beta_out: float = default("beta_out")
    inner_steps: int = default("inner_steps")
    outer_steps: int = default("outer_steps")
    lss_lambda: float = default("lss_lambda")
    episodes: int = default("episodes")
    steps: int = default("steps")
    baseline: str = default("baseline")
    opponent_model: bool = default("opponent_model")
    init: float = default("init")
    alpha: float = default("alpha")
    alpha_decay: float = default("alpha_decay")
    epsilon: float = default("epsilon")
    delta: float = default("delta")
    delta_decay: float = default("delta_decay")
    delta_win: float = default("delta_win")
    delta_win_decay: float = default("delta_win_decay")
    policy: str | Callable[[], nn.Module] = default("policy")
    optimizer: str = default("optimizer")
    p: tuple[float, ...] | None = default("p")

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"agent: unknown {self.kind!r}; accepted: {ACCEPTED_NAMES}")
        if self.lr_in is None:  # the assumed opponent's learning rate defaults to the own one
            object.__setattr__(self, "lr_in", self.lr)
        for option in OPTIONS:
            if option.minimum is not None:
                _check_number(option, getattr(self, option.name))
            if option.type is flag and not isinstance(getattr(self, option.name), bool):
                raise ValueError(
                    f"{option.name}: must be true or false, got {getattr(self, option.name)!r}"
                )
            if option.choices is not None and getattr(self, option.name) not in option.choices:
                raise ValueError(
                    f"{option.name}: unknown {getattr(self, option.name)!r}; accepted: "
                    f"{', '.join(option.choices)}"
                )
        _check_policy(self.policy)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer: unknown {self.optimizer!r}; accepted: {', '.join(OPTIMIZERS)}"
            )
        accepted = KINDS[self.kind].optimizers or tuple(OPTIMIZERS)
        if self.optimizer not in accepted:
            raise ValueError(
                f"optimizer: {self.kind} takes its own gradient steps; accepted: "
                f"{', '.join(accepted)}, got {self.optimizer!r}"
            )
        rollouts = (self.inner_steps + 1) * self.outer_steps
        if self.kind == "pola-dice" and rollouts > MAX_ROLLOUTS - 1:
            raise ValueError(
                f"outer_steps: pola-dice plays (inner_steps + 1) x outer_steps <= "
                f"{MAX_ROLLOUTS - 1} rollouts per update, got {rollouts}"
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
        return KINDS[self.kind].learner

    @property
    def online(self) -> bool:
        """Learns online, step by step (:data:`agents.kinds.ONLINE`)."""
        return KINDS[self.kind].online

    @property
    def sampled(self) -> bool:
        """Learns from sampled episodes (:data:`agents.kinds.SAMPLED`)."""
        return KINDS[self.kind].sampled

    def structure(self) -> tuple:
        """What must be equal for agents to share one batched engine call (all but the numbers,
        which the engines take per match). An online learner's episodes: its steps T. A sampled
        learner's rollouts are [B, E, T] tensors, one per lookahead (or POLA inner and outer)
        step: its episodes, steps, baseline and those steps too (a batch could mix depths, but
        every match would pay for the deepest one's rollouts)."""
        sampling = ()
        if self.online:
            sampling = (self.steps,)
        if self.sampled:
            rollouts = ("lookahead", "opponent_model", "inner_steps", "outer_steps")
            sampling = (
                self.episodes,
                self.steps,
                self.baseline,
                *(getattr(self, name) if applies(name, self.kind) else None for name in rollouts),
            )
        return (self.kind, self.policy, self.optimizer, self.p, *sampling)

    def label(self) -> str:
        """A short human-readable name, e.g. ``lola(lr=1,lr_in=1,k=1)`` or ``tft``: the options
        the kind reads, by their labels (a string option only where it is not its default, a
        yes/no option by its label where it is yes)."""
        if not self.learner:
            if self.kind == "memory1":
                return "memory1:" + ",".join(f"{x:g}" for x in self.p)
            return f"random:{self.p[0]:g}" if self.kind == "random" else self.kind
        opts = [
            f"{o.label}={getattr(self, o.name):g}"
            for o in OPTIONS
            if o.label and o.type not in (str, flag) and applies(o.name, self.kind)
            if o.labelled_at_default or getattr(self, o.name) != o.default
        ]
        opts += [
            f"{o.label}={getattr(self, o.name)}"
            for o in OPTIONS
            if o.label and o.type is str and applies(o.name, self.kind)
            if getattr(self, o.name) != o.default
        ]
        opts += [
            o.label
            for o in OPTIONS
            if o.label and o.type is flag and applies(o.name, self.kind) and getattr(self, o.name)
        ]
        if self.policy != "tabular":
            opts.append(getattr(self.policy, "__name__", str(self.policy)))
        if self.optimizer != "sgd":
            opts.append(self.optimizer)
        return f"{self.kind}({','.join(opts)})"


def _check_policy(policy) -> None:
    """A policy of either game family (the engines check that it fits their game)."""
    try:
        policy_factory(policy)
    except ValueError:
        try:
            coin_policy_factory(policy, 3)  # the grid size shapes the module, not the parse
        except ValueError:
            raise ValueError(
                f"policy: unknown {policy!r}; accepted: tabular, mlp:HIDDEN (matrix games); "
                f"{COIN_ACCEPTED} (the Coin Game)"
            ) from None


def _check_number(option, value) -> None:
    """A number within the option's declared bound (None allowed where it is the default)."""
    if value is None and option.default is None:
        return
    integer = option.type is int
    bound = f"{'>' if option.exclusive else '>='} {option.minimum:g}"
    if option.maximum is not None:
        bound = f"in {'(' if option.exclusive else '['}{option.minimum:g}, {option.maximum:g}]"
    what = f"an integer {bound}" if integer else f"finite and {bound}"
    number = isinstance(value, int) if integer else isinstance(value, int | float)
    if not number or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{option.name}: must be {what}, got {value!r}")
    low = value > option.minimum if option.exclusive else value >= option.minimum
    if not low or (option.maximum is not None and value > option.maximum):
        raise ValueError(f"{option.name}: must be {what}, got {value:,}")
