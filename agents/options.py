"""The options an agent takes, declared once: name, type, default, bounds, meaning, label.

Torch-free on purpose: :class:`agents.spec.AgentSpec` takes its defaults and bounds from here,
the stored per-side columns of a sweep (:mod:`sweeps.schema`) and the ``lola-arena match``
options derive from it, and ``analysis/`` reads those columns without importing the engine.
Which kinds read an option is declared by the kinds (:mod:`agents.kinds`).
Learning rates act on the unnormalised value.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.kinds import KINDS


def flag(value) -> bool:
    """A yes/no option: a bool, or (from the command line) true/false, yes/no, 1/0."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise ValueError(f"must be true or false, got {value!r}")


@dataclass(frozen=True)
class Option:
    """One agent option. ``minimum`` (with ``exclusive``) and ``maximum`` (inclusive): the
    bounds of a number (a learner's own range, or where a larger one would exhaust the engine's
    memory). ``label``: its name in agent labels (None: not shown; with ``labelled_at_default``
    false, shown only where the value is not the default). ``stored``: a per-side column
    (``<name>_a``, ``<name>_b``) of a sweep's matches table, null where a kind does not read it."""

    name: str
    type: type
    default: object
    help: str
    minimum: float | None = None
    exclusive: bool = False
    label: str | None = None
    stored: bool = True
    choices: tuple[str, ...] | None = None
    maximum: float | None = None
    labelled_at_default: bool = True

    @property
    def applies_to(self) -> tuple[str, ...]:
        """The kinds that read this option."""
        return tuple(name for name, kind in KINDS.items() if self.name in kind.options)


OPTIONS: tuple[Option, ...] = (
    Option("lr", float, 1.0, "own learning rate", 0, True, "lr"),
    Option(
        "lr_in",
        float,
        None,
        "the opponent's learning rate assumed by LA, LOLA, SOS, CGD, HOLA, LOLA-DiCE, LOLA-PG, "
        "POLA; EG's extrapolation step (default: lr)",
        0,
        True,
        "lr_in",
    ),
    Option(
        "lookahead",
        int,
        1,
        "k, the opponent's steps that LA, LOLA, LOLA-DiCE unroll",
        1,
        label="k",
        maximum=20,  # the engine's memory grows linearly in k
    ),
    Option("eta", float, 1.0, "LOLA-Taylor's shaping step", 0, False, "eta"),
    Option("gamma_co", float, 1.0, "consensus optimisation's weight of |xi|^2 / 2", 0, False, "g"),
    Option(
        "order",
        int,
        2,
        "HOLA's order n (order 1 is LOLA with k = 1)",
        1,
        label="n",
        maximum=5,  # HOLA-n nests n levels of differentiation
    ),
    Option(
        "beta_in",
        float,
        1.0,
        "POLA's inner proximal weight: the opponent's step is penalised by beta_in times the KL "
        "divergence from its current policy (pola, pola-dice)",
        0,
        False,
        "b_in",
    ),
    Option(
        "beta_out",
        float,
        1.0,
        "POLA's outer proximal weight: own step penalised by beta_out times the KL divergence "
        "from its current policy (pola, pola-dice)",
        0,
        False,
        "b_out",
    ),
    Option(
        "inner_steps",
        int,
        1,
        "K, the opponent's proximal gradient steps that POLA differentiates through",
        1,
        label="K",
        maximum=20,  # the engine's memory grows linearly in K, as in k
    ),
    Option(
        "outer_steps",
        int,
        50,
        "M, POLA's own proximal gradient steps of size lr per update",
        1,
        label="M",
        maximum=10_000,  # the time per update grows linearly in M
    ),
    Option(
        "lss_lambda",
        float,
        0.1,
        "LSS's damping lambda of (H^T H + lambda I) v = H^T xi (0: v = H^-1 xi)",
        0,
        False,
        "lam",
    ),
    Option("episodes", int, 64, "E, episodes per sampled rollout (sampled learners)", 1, label="E"),
    Option(
        "steps",
        int,
        150,
        "T, steps per episode (of a sampled rollout: the sampled learners; of play between two "
        "updates: the online learners)",
        1,
        False,
        "T",
    ),
    Option(
        "baseline",
        str,
        "mean",
        "variance reduction of the sampled learners: mean (each step's discounted reward minus its "
        "mean over the other episodes) or none",
        label="baseline",
        choices=("mean", "none"),
    ),
    Option(
        "opponent_model",
        flag,
        False,
        "lola-dice, lola-pg: fit a tabular model of the opponent's policy to its sampled "
        "actions each update and look ahead with it, instead of reading its parameters "
        "(LOLA-OM)",
        label="om",
    ),
    Option(
        "init",
        float,
        1.0,
        "scale of the initial policy: tabular logits ~ init x N(0, 1) (0: every logit 0, "
        "P(C) = 1/2), an mlp's default draws times init",
        0,
        False,
        "init",
        labelled_at_default=False,
    ),
    Option(
        "alpha",
        float,
        0.01,
        "the online learners' Q step size alpha in (0, 1], decayed as "
        "1 / (1/alpha + t alpha_decay)",
        0,
        True,
        "a",
        maximum=1,
    ),
    Option("alpha_decay", float, 1e-4, "the decay of alpha per step t", 0, False, "ad"),
    Option(
        "epsilon",
        float,
        0.05,
        "q, jal-q: probability in [0, 1] of flipping the greedy action",
        0,
        False,
        "eps",
        maximum=1,
    ),
    Option(
        "delta",
        float,
        5e-5,
        "phc: policy step delta in (0, 1], decayed as 1 / (1/delta + t delta_decay)",
        0,
        True,
        "d",
        maximum=1,
    ),
    Option("delta_decay", float, 1.0, "phc: the decay of delta per step t", 0, False, "dd"),
    Option(
        "delta_win",
        float,
        0.01,
        "wolf-phc: policy step when winning, in (0, 1] (twice it when losing), decayed as "
        "1 / (1/delta_win + t delta_win_decay)",
        0,
        True,
        "dw",
        maximum=1,
    ),
    Option(
        "delta_win_decay",
        float,
        5e-5,
        "wolf-phc: the decay of delta_win per step t",
        0,
        False,
        "dwd",
    ),
    Option(
        "policy",
        str,
        "tabular",
        "tabular (five logits) or mlp:HIDDEN; in the Coin Game mlp:H, conv:C or gru:H",
    ),
    Option("optimizer", str, "sgd", "sgd or adam"),
    Option("p", tuple, None, "the probabilities of memory1 (5) or random (1)", stored=False),
)
BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}
OPTION_NAMES: tuple[str, ...] = tuple(BY_NAME)
# Options of learners, stored per side in the matches table.
STORED_OPTIONS: tuple[Option, ...] = tuple(o for o in OPTIONS if o.stored)


def default(name: str):
    """The default value of option ``name``."""
    return BY_NAME[name].default


def applies(name: str, kind: str) -> bool:
    """Whether agents of ``kind`` read option ``name``."""
    return name in KINDS[kind].options


def options_of(kind: str) -> tuple[str, ...]:
    """The names of the options that ``kind`` reads, in declaration order."""
    return tuple(option.name for option in OPTIONS if option.name in KINDS[kind].options)
