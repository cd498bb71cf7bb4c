"""From a sweep to matches with stable ids, grouped into tasks of one batched engine call each.

Pairing: ``round_robin`` plays every unordered pair of variants (and each variant against
itself when ``self_play``); in a game that is not symmetric (e.g. ``imp``) both orders of a
pair are played, since sides differ. ``vs`` plays every variant of the first named entry
against every variant of the second. In an unordered pair, side a is the variant with the
smaller canonical key, so the plan does not depend on the order of the agents in the file.

Match id: the first 16 hex digits of the SHA-256 of the canonical JSON of both specs (all
options, floats as floats), the seed, the game (name and payoffs), gamma, the number of
updates, ``record_every``, ``dtype`` and the engine version (``tournament.match.ENGINE_VERSION``:
results of another engine or initialisation never share an id). Not in it: the sweep name, the
device, the task size, list order. Equal ids mean bit-for-bit equal stored rows on one machine.

Tasks: every match whose learners all have tabular policies, in an iterated 2x2 game, runs on
the closed-form engine, which batches any mix of kinds, fixed strategies and options; those
matches form one group. Every match with an online learner runs on the online engine, which
batches any mix of online kinds and opponents whose online learners play episodes of one length;
those matches form one group per episode length.
Other matches are grouped by the structure of both sides (kind, lookahead, policy, optimizer,
p). Each task is one ``play_matches`` call; within a group, matches are sorted by id and cut
into chunks of at most ``task_size`` (:func:`auto_task_size` by default).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from itertools import combinations

from agents.spec import AgentSpec
from sweeps.config import SweepConfig, Variant
from tournament.differentiable import DifferentiableGame
from tournament.engines.closed_form import on_closed_form
from tournament.games import CoinGame, Game
from tournament.match import ENGINE_VERSION

# Auto task size: one task per worker, up to a cap. The engine's cost per update is mostly fixed
# at sweep sizes (grand.yaml: 3,515 matches take 3.3 s, 7,030 take 3.9 s), so fewer, larger
# tasks win; the cap bounds a task's memory and keeps huge sweeps resumable in pieces.
TASKS_PER_WORKER = 1
AUTO_TASK_SIZE = (256, 16384)


@dataclass(frozen=True, slots=True)
class PlannedMatch:
    match_id: str
    a: Variant
    b: Variant
    seed: int


@dataclass(frozen=True)
class Task:
    """Matches that share both sides' structure: one batched engine call."""

    matches: tuple[PlannedMatch, ...]

    @property
    def task_id(self) -> str:
        """Names the task's files: a hash of its match ids, so a rerun overwrites them."""
        return _digest(sorted(m.match_id for m in self.matches))


def spec_key(spec: AgentSpec) -> dict:
    """All options of a spec, canonical (floats as floats)."""
    key = asdict(spec)
    key.update(lr=float(spec.lr), lr_in=float(spec.lr_in), eta=float(spec.eta))
    key["p"] = None if spec.p is None else [float(x) for x in spec.p]
    return key


def match_id(config: SweepConfig, a: AgentSpec, b: AgentSpec, seed: int) -> str:
    return _seeded_id(_pairing_key(config, a, b), seed)


def _pairing_key(config: SweepConfig, a: AgentSpec, b: AgentSpec) -> str:
    """Canonical JSON of everything in a match id but the seed."""
    game = config.game_obj()
    return _canonical_json(
        {
            "a": spec_key(a),
            "b": spec_key(b),
            "game": game_key(game),
            "gamma": float(config.gamma),
            "updates": config.updates,
            "record_every": config.record_every,
            "dtype": config.dtype,
            "engine": ENGINE_VERSION,
        }
    )


def game_key(game: Game | DifferentiableGame) -> list:
    """What identifies a game in a match id: its name and payoffs (or its size and init)."""
    if isinstance(game, DifferentiableGame):
        return [game.name, game.dims, game.init_std]
    if isinstance(game, CoinGame):
        return [game.name, game.grid_size]
    return [game.name, list(game.payoffs_row), list(game.payoffs_col)]


def _seeded_id(pairing_key: str, seed: int) -> str:
    return hashlib.sha256(f"{pairing_key}seed={seed}".encode()).hexdigest()[:16]


def plan_matches(config: SweepConfig) -> list[PlannedMatch]:
    """Every match of the sweep, sorted by id."""
    matches = []
    for a, b in _pairs(config):
        key = _pairing_key(config, a.spec, b.spec)
        matches.extend(PlannedMatch(_seeded_id(key, seed), a, b, seed) for seed in config.seeds)
    return sorted(matches, key=lambda m: m.match_id)


def auto_task_size(matches: int, workers: int) -> int:
    """``TASKS_PER_WORKER`` tasks per worker, within ``AUTO_TASK_SIZE``."""
    low, high = AUTO_TASK_SIZE
    return min(high, max(low, -(-matches // (TASKS_PER_WORKER * max(workers, 1)))))


def engine_group(match: PlannedMatch, game: Game | DifferentiableGame) -> tuple:
    """Matches with equal keys can share one engine call (see the module docstring)."""
    specs = (match.a.spec, match.b.spec)
    if on_closed_form(game, specs):
        return ("closed_form",)
    online = {s.steps for s in specs if s.online}
    if online:
        return ("online", *sorted(online))
    return tuple(s.structure() for s in specs)


def plan_tasks(
    matches: list[PlannedMatch], task_size: int, game: Game | DifferentiableGame
) -> list[Task]:
    """Group matches by :func:`engine_group`, then chunk each group by ``task_size``."""
    groups: dict[tuple, list[PlannedMatch]] = {}
    for match in sorted(matches, key=lambda m: m.match_id):
        groups.setdefault(engine_group(match, game), []).append(match)
    tasks = []
    for group in groups.values():
        for start in range(0, len(group), task_size):
            tasks.append(Task(tuple(group[start : start + task_size])))
    return tasks


def _pairs(config: SweepConfig) -> list[tuple[Variant, Variant]]:
    variants = sorted(config.variants, key=_canonical)
    if config.pairing == "vs":
        by_entry: dict[str, list[Variant]] = {}
        for v in variants:
            by_entry.setdefault(v.entry, []).append(v)
        pairs = [
            (a, b)
            for name_a, name_b in config.vs
            for a in by_entry[name_a]
            for b in by_entry[name_b]
        ]
    else:
        pairs = list(combinations(variants, 2))
        if not config.game_obj().symmetric:
            pairs += [(b, a) for a, b in pairs]
        if config.self_play:
            pairs += [(v, v) for v in variants]
    seen, unique = set(), []
    for a, b in pairs:
        if (a.label, b.label) not in seen:
            seen.add((a.label, b.label))
            unique.append((a, b))
    return unique


def _canonical(variant: Variant) -> str:
    return json.dumps(spec_key(variant.spec), sort_keys=True)


def _canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _digest(obj) -> str:
    return hashlib.sha256(_canonical_json(obj).encode()).hexdigest()[:16]
