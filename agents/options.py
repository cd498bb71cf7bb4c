"""The options an agent takes, declared once: name, type, default, meaning and the kinds that
read it.

Torch-free on purpose: :class:`agents.spec.AgentSpec` takes its defaults from here, the stored
per-side columns of a sweep (:mod:`sweeps.schema`), the sweep file's accepted agent keys and the
``lola-arena match`` options derive from it, and ``analysis/`` reads those columns without
importing the engine. Learning rates act on the unnormalised value.

``applies_to`` says which kinds read an option; a stored option is null (not its default) for
every other kind, so ``lookahead`` is stored for ``la`` and ``lola`` only, and a fixed strategy
stores no learning option at all.
"""

from __future__ import annotations

from dataclasses import dataclass

# The learning rules of agents.rules.RULES (a test checks that both agree).
LEARNERS: tuple[str, ...] = ("nl", "la", "lola", "lola-taylor", "sos")
# The rules that model the opponent's learning step (lr_in); of those, the ones that unroll k.
MODEL_OPPONENT: tuple[str, ...] = ("la", "lola", "sos")
UNROLL: tuple[str, ...] = ("la", "lola")
# The fixed strategies that take probabilities.
WITH_P: tuple[str, ...] = ("memory1", "random")


@dataclass(frozen=True)
class Option:
    """One agent option. ``applies_to``: the kinds that read it. ``stored``: a per-side column
    (``<name>_a``, ``<name>_b``) of a sweep's matches table, null where it does not apply."""

    name: str
    type: type
    default: object
    help: str
    applies_to: tuple[str, ...]
    stored: bool = True


OPTIONS: tuple[Option, ...] = (
    Option("lr", float, 1.0, "own learning rate", LEARNERS),
    Option(
        "lr_in",
        float,
        None,
        "the opponent's learning rate that LA, LOLA and SOS assume (default: lr)",
        MODEL_OPPONENT,
    ),
    Option("lookahead", int, 1, "k, the opponent's learning steps that LA and LOLA unroll", UNROLL),
    Option("eta", float, 1.0, "LOLA-Taylor's shaping step", ("lola-taylor",)),
    Option("policy", str, "tabular", "tabular (five logits) or mlp:HIDDEN", LEARNERS),
    Option("optimizer", str, "sgd", "sgd or adam", LEARNERS),
    Option(
        "p", tuple, None, "the probabilities of memory1 (5) or random (1)", WITH_P, stored=False
    ),
)
BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}
OPTION_NAMES: tuple[str, ...] = tuple(BY_NAME)
# Options stored per side in the matches table (null where they do not apply).
STORED_OPTIONS: tuple[Option, ...] = tuple(o for o in OPTIONS if o.stored)


def default(name: str):
    """The default value of option ``name``."""
    return BY_NAME[name].default


def applies(name: str, kind: str) -> bool:
    """Whether agents of ``kind`` read option ``name``."""
    return kind in BY_NAME[name].applies_to


def options_of(kind: str) -> tuple[str, ...]:
    """The names of the options that ``kind`` reads, in declaration order."""
    return tuple(option.name for option in OPTIONS if kind in option.applies_to)
