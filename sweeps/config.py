"""The sweep file: one schema, validated in one place.

A sweep file is YAML (read with ``yaml.safe_load``); every key is listed in :data:`SCHEMA` with
its default. Example::

    name: quick                 # required; names the output directory results/<name>
    game: ipd                   # ipd, imp, stag_hunt, chicken
    payoffs: null               # optional: 4 (symmetric) or 8 numbers overriding the game's
    gamma: 0.96                 # discount, in (0, 1)
    updates: 200                # learning steps per match
    record_every: 10            # learning-curve resolution (update 0 and the last always kept)
    seeds: 5                    # a count (seeds 0..4) or a list of distinct integers >= 0
    pairing: round_robin        # round_robin (every pair of variants) or vs (the pairs in `vs`)
    self_play: true             # round_robin: also each variant against itself
    vs: []                      # pairing vs: [[agent name a, agent name b], ...]
    dtype: float64              # float32 or float64
    device: cpu                 # cpu or cuda (the command line's --device overrides)
    task_size: auto             # matches per Ray task (one engine call); auto: a few per worker
    agents:                     # each entry: kind, optional name, options (a list is swept)
      - {kind: lola, lr: [0.5, 1], lookahead: [1, 2]}
      - {kind: memory1, name: tft-like, p: [1, 1, 0, 1, 0]}
      - {kind: tft}

Each agent entry expands into variants, one per combination of its list-valued options
(memory1's ``p`` is a list of five probabilities, so it is swept as a list of lists;
random's ``p`` is one probability). A variant is an
:class:`agents.spec.AgentSpec`, named by its ``label()``; two variants with the same label are an
error. An entry takes only the options its kind reads (``agents.options.applies_to``): fixed
strategies take no learning options, ``eta`` is LOLA-Taylor's only. An entry's ``name``
(default: its kind) is what ``vs`` pairs refer to.

Every error is a ``ValueError`` with one line naming the field and what is accepted, e.g.
``agents[2].lr: must be > 0, got -0.1``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agents.options import OPTION_NAMES, options_of
from agents.spec import FIXED, KINDS, AgentSpec
from tournament.differentiable import DIFFERENTIABLE_GAMES
from tournament.games import GAME_NAMES, Game, get_game
from tournament.match import DEVICES, DTYPES, check_players

PAIRINGS = ("round_robin", "vs")
AGENT_KEYS = ("name", "kind", *OPTION_NAMES)


@dataclass(frozen=True)
class Variant:
    """One agent of the sweep: the entry it came from and its validated spec."""

    entry: str
    spec: AgentSpec

    @property
    def label(self) -> str:
        return self.spec.label()


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep. ``agents`` holds the entries as written (resolved defaults aside);
    ``variants`` their expansion, in file order."""

    name: str
    agents: list[dict[str, Any]]
    game: str = "ipd"
    payoffs: list[float] | None = None
    gamma: float = 0.96
    updates: int = 200
    record_every: int = 10
    seeds: list[int] = field(default_factory=lambda: list(range(5)))
    pairing: str = "round_robin"
    self_play: bool = True
    vs: list[list[str]] = field(default_factory=list)
    dtype: str = "float64"
    device: str = "cpu"
    task_size: int | str = "auto"
    variants: tuple[Variant, ...] = field(default=(), compare=False, repr=False)

    def game_obj(self) -> Game:
        return get_game(self.game, self.payoffs)

    def resolved(self) -> dict[str, Any]:
        """The sweep as a plain dict (defaults filled in, seeds explicit), for sweep.yaml."""
        out = asdict(self)
        out.pop("variants")
        return out

    def with_overrides(self, device: str | None = None, task_size: int | None = None):
        """A copy with the command line's --device/--task-size applied and validated."""
        raw = self.resolved()
        if device is not None:
            raw["device"] = device
        if task_size is not None:
            raw["task_size"] = task_size
        return parse_sweep(raw)


# key -> what it accepts; the single list of accepted top-level keys (defaults: SweepConfig).
SCHEMA: dict[str, str] = {
    "name": "required string",
    "agents": "required non-empty list of agent entries",
    "game": f"one of {', '.join(GAME_NAMES)}",
    "payoffs": "4 or 8 numbers",
    "gamma": "number in (0, 1)",
    "updates": "integer >= 1",
    "record_every": "integer >= 1",
    "seeds": "a positive integer or a list of distinct integers >= 0",
    "pairing": " or ".join(PAIRINGS),
    "self_play": "true or false",
    "vs": "list of [agent name, agent name] pairs",
    "dtype": " or ".join(DTYPES),
    "device": " or ".join(DEVICES),
    "task_size": "integer >= 1 or auto",
}


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file; every problem is a one-line ``ValueError``."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"sweep file: cannot read {str(path)!r}: {error.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ValueError(f"sweep file: invalid YAML{where}: {problem}") from None
    return parse_sweep(raw)


def parse_sweep(raw: Any) -> SweepConfig:
    """Validate a sweep given as a mapping (the parsed YAML)."""
    if not isinstance(raw, dict):
        raise ValueError(
            f"sweep file: must be a mapping of keys ({', '.join(SCHEMA)}), got {type(raw).__name__}"
        )
    unknown = [k for k in raw if k not in SCHEMA]
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown key; accepted: {', '.join(SCHEMA)}")
    if "name" not in raw or not isinstance(raw["name"], str) or not raw["name"].strip():
        raise ValueError(f"name: must be a non-empty string, got {raw.get('name')!r}")
    name = raw["name"]
    if "/" in name or name.startswith("."):
        raise ValueError(f"name: must not contain '/' or start with '.', got {name!r}")

    defaults = SweepConfig(name=name, agents=[])
    values = {k: raw.get(k, getattr(defaults, k)) for k in SCHEMA if k not in ("name", "agents")}
    game = _choice("game", values["game"], GAME_NAMES)
    payoffs = values["payoffs"]
    if payoffs is not None:
        if not isinstance(payoffs, list) or not all(_is_number(x) for x in payoffs):
            raise ValueError(f"payoffs: must be a list of 4 or 8 numbers, got {payoffs!r}")
        payoffs = [float(x) for x in payoffs]
        get_game(game, payoffs)
    gamma = values["gamma"]
    if not _is_number(gamma) or not 0 < gamma < 1:
        raise ValueError(f"gamma: must be a number in (0, 1), got {gamma!r}")
    pairing = _choice("pairing", values["pairing"], PAIRINGS)
    self_play = values["self_play"]
    if not isinstance(self_play, bool):
        raise ValueError(f"self_play: must be true or false, got {self_play!r}")

    agents, variants = _parse_agents(raw.get("agents"), game, payoffs)
    vs = _parse_vs(values["vs"], pairing, [a["name"] for a in agents])
    config = SweepConfig(
        name=name,
        agents=agents,
        game=game,
        payoffs=payoffs,
        gamma=float(gamma),
        updates=_int("updates", values["updates"]),
        record_every=_int("record_every", values["record_every"]),
        seeds=_parse_seeds(values["seeds"]),
        pairing=pairing,
        self_play=self_play,
        vs=vs,
        dtype=_choice("dtype", values["dtype"], tuple(DTYPES)),
        device=_choice("device", values["device"], DEVICES),
        task_size=_task_size(values["task_size"]),
        variants=variants,
    )
    return config


def _is_number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _int(field_name: str, value, low: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{field_name}: must be an integer >= {low}, got {value!r}")
    return value


def _task_size(value) -> int | str:
    if value == "auto":
        return value
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"task_size: must be an integer >= 1 or auto, got {value!r}")
    return value


def _choice(field_name: str, value, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise ValueError(f"{field_name}: unknown {value!r}; accepted: {', '.join(accepted)}")
    return value


def _parse_seeds(seeds) -> list[int]:
    message = (
        f"seeds: must be a positive integer or a list of distinct integers >= 0, got {seeds!r}"
    )
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(message)
        return list(range(seeds))
    if not isinstance(seeds, list) or not seeds:
        raise ValueError(message)
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ValueError(message)
    if len(set(seeds)) != len(seeds):
        raise ValueError(message)
    return list(seeds)


def _parse_agents(entries, game: str, payoffs) -> tuple[list[dict], tuple[Variant, ...]]:
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"agents: must be a non-empty list of agent entries, got {entries!r}")
    resolved, variants, names, labels = [], [], set(), {}
    for i, entry in enumerate(entries):
        where = f"agents[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: must be a mapping with a kind, got {entry!r}")
        unknown = [k for k in entry if k not in AGENT_KEYS]
        if unknown:
            raise ValueError(
                f"{where}.{unknown[0]}: unknown key; accepted: {', '.join(AGENT_KEYS)}"
            )
        kind = entry.get("kind")
        if kind not in KINDS:
            raise ValueError(f"{where}.kind: unknown {kind!r}; accepted: {', '.join(KINDS)}")
        name = entry.get("name", kind)
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}.name: must be a non-empty string, got {name!r}")
        if name in names:
            raise ValueError(f"{where}.name: {name!r} is used twice; give each entry its own name")
        names.add(name)
        options = {k: v for k, v in entry.items() if k not in ("name", "kind")}
        extra = [k for k in options if k not in options_of(kind)]
        if extra:
            accepted = ", ".join(["name", "kind", *options_of(kind)])
            what = f"does not read {extra[0]}"
            if kind in FIXED:
                what = "is a fixed strategy and takes no learning options"
            raise ValueError(f"{where}.{extra[0]}: {kind} {what}; accepted: {accepted}")
        grid = {}
        for key, value in options.items():
            # p is one vector for memory1 (swept as a list of lists), one number for random
            swept = isinstance(value, list) and (
                key != "p" or kind == "random" or _is_list_of_lists(value)
            )
            values = value if swept else [value]
            if key == "p":  # one probability (random) or five (memory1) per variant
                values = [v if isinstance(v, list) else [v] for v in values]
            if not values:
                raise ValueError(f"{where}.{key}: an empty list sweeps nothing; give >= 1 value")
            grid[key] = values
        for combo in itertools.product(*grid.values()):
            opts = dict(zip(grid, combo, strict=True))
            if "p" in opts and isinstance(opts["p"], list):
                opts["p"] = tuple(opts["p"])
            if kind == "extort2":
                _check_fixed_in_game(where, kind, game, payoffs)
            try:
                spec = AgentSpec(kind, **opts)
                if game in DIFFERENTIABLE_GAMES:
                    check_players(DIFFERENTIABLE_GAMES[game], [spec])
            except ValueError as error:
                raise ValueError(f"{where}.{error}") from None
            except TypeError as error:
                raise ValueError(f"{where}: {error}") from None
            variant = Variant(name, spec)
            if variant.label in labels:
                raise ValueError(
                    f"{where}: variant {variant.label!r} repeats {labels[variant.label]}; "
                    f"an option that {kind} ignores may be swept, or two entries coincide"
                )
            labels[variant.label] = where
            variants.append(variant)
        resolved.append({"name": name, "kind": kind, **options})
    return resolved, tuple(variants)


def _is_list_of_lists(value) -> bool:
    return bool(value) and all(isinstance(v, list) for v in value)


def _check_fixed_in_game(where: str, kind: str, game: str, payoffs) -> None:
    """Strategies that derive their probabilities from the payoffs must accept this game."""
    from agents.strategies import fixed_p_coop

    try:
        fixed_p_coop(kind, get_game(game, payoffs).payoffs_row)
    except ValueError as error:
        raise ValueError(f"{where}.kind: {error}") from None


def _parse_vs(vs, pairing: str, names: list[str]) -> list[list[str]]:
    if pairing != "vs":
        if vs:
            raise ValueError("vs: only used with pairing: vs; remove it or set pairing: vs")
        return []
    if not isinstance(vs, list) or not vs:
        raise ValueError(f"vs: pairing vs needs a non-empty list of [name, name] pairs, got {vs!r}")
    pairs = []
    for i, pair in enumerate(vs):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ValueError(f"vs[{i}]: must be a pair [agent name, agent name], got {pair!r}")
        for name in pair:
            if name not in names:
                raise ValueError(f"vs[{i}]: unknown agent {name!r}; accepted: {', '.join(names)}")
        pairs.append(list(pair))
    return pairs
