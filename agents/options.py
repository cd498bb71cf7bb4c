"""The options an agent takes, declared once: name, type, default and meaning.

Torch-free on purpose: :class:`agents.spec.AgentSpec` takes its defaults from here, the stored
per-side columns of a sweep (:mod:`sweeps.schema`) and the ``lola-arena match`` options derive
from it, and ``analysis/`` reads those columns without importing the engine.
Learning rates act on the unnormalised value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    """One agent option. ``stored``: a per-side column (``<name>_a``, ``<name>_b``) of a sweep's
    matches table, set for learners and empty for fixed strategies."""

    name: str
    type: type
    default: object
    help: str
    stored: bool = True


OPTIONS: tuple[Option, ...] = (
    Option("lr", float, 1.0, "own learning rate"),
    Option(
        "lr_in",
        float,
        None,
        "the opponent's learning rate that LA, LOLA and SOS assume (default: lr)",
    ),
    Option("lookahead", int, 1, "k, the opponent's learning steps that LA and LOLA unroll"),
    Option("eta", float, 1.0, "LOLA-Taylor's shaping step"),
    Option("policy", str, "tabular", "tabular (five logits) or mlp:HIDDEN"),
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
