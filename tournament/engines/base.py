"""What an engine is, and what every engine shares.

An engine holds the state of B matches between side a and side b and advances them one update
at a time. :func:`tournament.match.play_matches` knows an engine only through :class:`Engine`:

- ``games`` and ``refusal(game, specs)``: the types of game it plays, and why it cannot play
  matches of these agents (None: it can); ``why_not`` checks both.
  ``play_matches(engine="auto")`` takes the first engine of :data:`tournament.match.ENGINES`
  that does not refuse;
- ``Engine(game, specs_a, specs_b, seeds, gamma, kw)``: the start of B matches (match seed
  ``s`` initialises side a from ``2 s`` and side b from ``2 s + 1``, :func:`side_seeds`);
- ``step()``: one simultaneous update of both sides of every match; returns the per-match flag
  [B] that it stayed finite (a match that did not keeps its previous parameters);
- ``snapshot()``: what is recorded at this update (:class:`tournament.recorder.Snapshot`);
- ``state_dict()`` and ``load_state_dict(state, update)``: all that the next update reads
  (parameters, optimiser state, the count of updates where the rollouts' streams read it), as
  named tensors, and the matches put back where such a state stood after ``update`` updates:
  play resumed from it gives, bit for bit, what uninterrupted play gives
  (:class:`tournament.recorder.BatchState`);
- ``threads()``: the context the whole run executes in (default: torch's settings as they are).

"One update" is what a learning curve counts: one exact or sampled learning step of each side,
or, for a learner updated online at every step of play, one episode of T steps. A new game
family (other observations than the five memory-one states, other stored measures) or a new
way of learning is one new module here that subclasses :class:`Engine`, plus its line in
:data:`tournament.match.ENGINES`; the rules, the recorder and the sweeps stay as they are.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from typing import ClassVar

import torch

from agents.objective import RuleParams
from agents.options import BY_NAME, flag
from agents.spec import AgentSpec
from tournament.differentiable import DifferentiableGame
from tournament.games import SWAP_VIEW, Game
from tournament.recorder import Snapshot


class Engine(ABC):
    """B matches of side a vs side b, advanced one update at a time (see the module doc)."""

    # The types of game it plays (a matrix Game, a DifferentiableGame, a new family's game).
    games: ClassVar[tuple[type, ...]] = ()

    @classmethod
    def why_not(cls, game: Game | DifferentiableGame, specs: Sequence[AgentSpec]) -> str | None:
        """Why this engine cannot play these agents in ``game``, completing ``"engine: <name>
        ..."``: a game of a type not in :attr:`games`, else its :meth:`refusal`; None where it
        can."""
        if not isinstance(game, cls.games):
            accepted = ", ".join(t.__name__ for t in cls.games)
            return f"plays {accepted} only, not {game.name}"
        return cls.refusal(game, specs)

    @classmethod
    @abstractmethod
    def refusal(cls, game: Game | DifferentiableGame, specs: Sequence[AgentSpec]) -> str | None:
        """Why this engine cannot play these agents (in a game of its types); None where it
        can."""

    @abstractmethod
    def __init__(
        self,
        game: Game | DifferentiableGame,
        specs_a: Sequence[AgentSpec],
        specs_b: Sequence[AgentSpec],
        seeds: Sequence[int],
        gamma: torch.Tensor,
        kw: dict,
    ):
        """The start of B = len(seeds) matches; ``gamma`` [B]; ``kw``: the dtype and device."""

    @abstractmethod
    def step(self) -> torch.Tensor:
        """One simultaneous update; the per-match flag [B] that it stayed finite."""

    @abstractmethod
    def snapshot(self) -> Snapshot:
        """What is recorded at the current update."""

    @abstractmethod
    def state_dict(self) -> dict[str, torch.Tensor]:
        """All that the next update reads, as named tensors (the engine's own names)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, torch.Tensor], update: int) -> None:
        """The matches put back where :meth:`state_dict` gave ``state``, after ``update``
        updates."""

    def will_play(self, updates: int) -> None:
        """Told how many updates this call plays, before the first (an engine may choose its
        fastest path from it); by default, nothing to choose."""
        return None

    @classmethod
    def threads(cls) -> AbstractContextManager:
        """The context a whole run of this engine executes in."""
        return contextlib.nullcontext()


def refuse_sampled(specs: Sequence[AgentSpec]) -> str | None:
    """The refusal of an engine that plays exact learners only, where a side is sampled."""
    if any(s.sampled for s in specs):
        return "cannot play sampled learners; use auto or sampled"
    return None


def refuse_online(specs: Sequence[AgentSpec]) -> str | None:
    """The refusal of an engine that updates once per update, where a side learns online."""
    if any(s.online for s in specs):
        return "cannot play online learners; use auto or online"
    return None


def prefixed(state: dict[str, torch.Tensor], prefix: str, device) -> dict[str, torch.Tensor]:
    """The entries of ``state`` under ``prefix``, without it, on ``device``."""
    return {k[len(prefix) :]: t.to(device) for k, t in state.items() if k.startswith(prefix)}


def learners_state(sides: dict) -> dict[str, torch.Tensor]:
    """Each learning side's parameters (``<side>.theta.<name>``) and optimiser state
    (``<side>.optimizer.<key>``); ``sides`` maps "a"/"b" to objects with ``theta`` and
    ``optimizer``."""
    state = {}
    for name, side in sides.items():
        state.update({f"{name}.theta.{n}": t for n, t in side.theta.items()})
        optimizer = side.optimizer.state_dict()
        state.update({f"{name}.optimizer.{k}": t for k, t in optimizer.items()})
    return state


def load_learner_state(name: str, side, state: dict[str, torch.Tensor], device) -> None:
    """The inverse of :func:`learners_state` for side ``name``: its ``theta`` and optimiser."""
    side.theta = prefixed(state, f"{name}.theta.", device)
    side.optimizer.load_state_dict(prefixed(state, f"{name}.optimizer.", device))


def side_seeds(seeds: Sequence[int]) -> tuple[list[int], list[int]]:
    """The seeds of side a (``2 s``) and of side b (``2 s + 1``) of the matches of ``seeds``."""
    return [2 * s for s in seeds], [2 * s + 1 for s in seeds]


def own_payoffs(game: Game) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Each side's payoffs for CC, CD, DC, DD in its own view (own action first)."""
    return game.payoffs_row, tuple(game.payoffs_col[i] for i in SWAP_VIEW)


# The per-match hyperparameters of the rules: the fields of RuleParams that are agent options.
HP_FIELDS = tuple(f.name for f in fields(RuleParams) if f.name in BY_NAME)


def rule_params(specs: Sequence[AgentSpec], kw: dict) -> RuleParams:
    """[B] tensors of every option a rule reads (lr_in resolved; integer options as integers)."""

    def column(name: str) -> torch.Tensor:
        values = [getattr(s, name) for s in specs]
        if BY_NAME[name].type in (int, flag):  # integers or bools
            return torch.tensor(values, device=kw["device"])
        return torch.tensor(values, **kw)

    return RuleParams(**{name: column(name) for name in HP_FIELDS})


def rule_params_rows(hp: RuleParams, rows) -> RuleParams:
    """The rows ``rows`` of every per-match hyperparameter."""
    return RuleParams(**{name: getattr(hp, name)[rows] for name in HP_FIELDS})
