"""From a sweep to matches with stable ids, grouped into tasks of one batched engine call each.

Pairing: ``round_robin`` plays every unordered pair of variants (and each variant against
itself when ``self_play``); in a game that is not symmetric (e.g. ``imp``) both orders of a
pair are played, since sides differ. ``vs`` plays every variant of the first named entry
against every variant of the second. In an unordered pair, side a is the variant with the
smaller canonical key, so the plan does not depend on the order of the agents in the file.

Match id: the first 16 hex digits of the SHA-256 of the canonical JSON of both specs (all
options, floats as floats), the seed, the game (name and payoffs), gamma, the number of
updates, ``record_every`` and ``dtype``. Not in it: the sweep name, the device, the task size,
list order. Equal ids mean equal stored rows (up to float rounding of the batched engine).

Tasks: matches are grouped by the structure of both sides (kind, lookahead, policy, optimizer,
p) so that each task is one ``play_matches`` call; within a group, matches are sorted by id
and cut into chunks of at most ``task_size``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from itertools import combinations

from agents.spec import AgentSpec
from sweeps.config import SweepConfig, Variant


@dataclass(frozen=True)
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
    """All options of a spec, canonical (floats as floats, lr_in resolved)."""
    key = asdict(spec)
    key.update(lr=float(spec.lr), lr_in=float(spec.inner_lr), eta=float(spec.eta))
    key["p"] = None if spec.p is None else [float(x) for x in spec.p]
    return key


def match_id(config: SweepConfig, a: AgentSpec, b: AgentSpec, seed: int) -> str:
    game = config.game_obj()
    return _digest(
        {
            "a": spec_key(a),
            "b": spec_key(b),
            "seed": seed,
            "game": [game.name, list(game.payoffs_row), list(game.payoffs_col)],
            "gamma": float(config.gamma),
            "updates": config.updates,
            "record_every": config.record_every,
            "dtype": config.dtype,
        }
    )


def plan_matches(config: SweepConfig) -> list[PlannedMatch]:
    """Every match of the sweep, sorted by id."""
    matches = [
        PlannedMatch(match_id(config, a.spec, b.spec, seed), a, b, seed)
        for a, b in _pairs(config)
        for seed in config.seeds
    ]
    return sorted(matches, key=lambda m: m.match_id)


def plan_tasks(matches: list[PlannedMatch], task_size: int) -> list[Task]:
    """Group matches by both sides' structure, then chunk each group by ``task_size``."""
    groups: dict[tuple, list[PlannedMatch]] = {}
    for match in sorted(matches, key=lambda m: m.match_id):
        key = (match.a.spec.structure(), match.b.spec.structure())
        groups.setdefault(key, []).append(match)
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


def _digest(obj) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
