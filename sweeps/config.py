"""The sweep file: one schema, validated in one place.

A sweep file is YAML (read with ``yaml.safe_load``); every key is listed in :data:`SCHEMA` with
its default. Example::

    name: quick                 # required; names the output directory results/<name>
    game: ipd                   # ipd, imp, stag_hunt, chicken, (differentiable games), coin
    payoffs: null               # optional: 4 (symmetric) or 8 numbers overriding the game's
    grid_size: null             # coin only: the torus's side, 2 to 32 (default 3)
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

Limits, checked before anything is planned or written (:data:`LIMITS`): the file is read by
:func:`sweeps.yamlfile.read_yaml` (at most 1 MiB and 100,000 values once aliases are expanded;
a key given twice is an error); ``name`` at most 100 characters; at most 1,000 variants and
1,000,000 matches per sweep; at most 100,000 seeds, each below 2^62; ``updates`` at most
1,000,000 and ``updates`` x matches at most 10^10; at most 10^8 recorded curve points
(matches x (updates / record_every + 1)); ``lookahead`` at most 20, HOLA's ``order`` at most 5,
POLA's ``inner_steps`` at most 20 and ``outer_steps`` at most 10,000, ``mlp:HIDDEN`` at most
1,024 hidden units, ``task_size`` at most 65,536. Booleans are not numbers, also inside ``p``.
Memory: the sampled learners' rollouts are estimated before
anything runs (:func:`side_bytes`: episodes x steps x :data:`BYTES_PER_STEP` x (lookahead + 1)
per sampled side), and one engine call (the largest match times ``task_size``, or ``seeds`` for
``match``) must fit this machine's memory (:func:`machine_memory`); an automatic task size is
capped so that every worker's task fits at once. ``lola-arena match`` validates its arguments
with the same functions (:func:`parse_match`), and refuses an option that neither side reads.
"""

from __future__ import annotations

import itertools
import math
import os
import reprlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agents.kinds import ACCEPTED_NAMES, FIXED, KINDS, check_family
from agents.options import OPTION_NAMES, OPTIONS, options_of
from agents.policies import policy_factory
from agents.spec import AgentSpec
from sweeps.yamlfile import read_yaml
from tournament.differentiable import DIFFERENTIABLE_GAMES
from tournament.engines.coin import check_coin_player
from tournament.games import COIN, DEFAULT_GRID, GAME_NAMES, Game, check_grid_size, get_game
from tournament.match import DEVICES, DTYPES, check_players

PAIRINGS = ("round_robin", "vs")
AGENT_KEYS = ("name", "kind", *OPTION_NAMES)

MAX_NAME = 100
MAX_VARIANTS = 1_000
MAX_MATCHES = 1_000_000
MAX_SEEDS = 100_000
MAX_SEED = 2**62 - 1  # side b of seed s starts from 2 s + 1, an int64
MAX_UPDATES = 1_000_000
MAX_MATCH_UPDATES = 10**10
MAX_CURVE_POINTS = 10**8
MAX_HIDDEN = 1_024
MAX_TASK_SIZE = 65_536
# Bytes a sampled side holds per episode step and per rollout it differentiates through (its
# own and, for lola-dice, one per lookahead step): rollouts, log-probabilities and the DiCE
# graph. Measured as peak RSS growth, float64 on CPU: 75 B (lola-dice, k = 1 and k = 3),
# 100 B (nl-pg); B = 4 to 8 matches of 256 episodes x 600 steps.
BYTES_PER_STEP = 100
LIMITS = {
    "name (characters)": MAX_NAME,
    "variants per sweep": MAX_VARIANTS,
    "matches per sweep": MAX_MATCHES,
    "seeds": MAX_SEEDS,
    "seed": MAX_SEED,
    "updates": MAX_UPDATES,
    "updates x matches": MAX_MATCH_UPDATES,
    "recorded curve points": MAX_CURVE_POINTS,
    **{option.name: option.maximum for option in OPTIONS if option.maximum is not None},
    "mlp hidden units": MAX_HIDDEN,
    "task_size": MAX_TASK_SIZE,
}

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 8, 8, 60, 60


def show(value) -> str:
    """A value for an error message: its repr, shortened (a message stays one short line)."""
    return _REPR.repr(value)


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
    grid_size: int | None = None
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
    matches: int = field(default=0, compare=False, repr=False)

    def game_obj(self) -> Game:
        return get_game(self.game, self.payoffs, self.grid_size)

    def resolved(self) -> dict[str, Any]:
        """The sweep as a plain dict (defaults filled in, seeds explicit), for sweep.yaml."""
        out = asdict(self)
        out.pop("variants")
        out.pop("matches")
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
    "name": f"required string of at most {MAX_NAME} characters",
    "agents": "required non-empty list of agent entries",
    "game": f"one of {', '.join(GAME_NAMES)}",
    "payoffs": "4 or 8 numbers",
    "grid_size": "coin only: an integer in [2, 32]",
    "gamma": "number in (0, 1)",
    "updates": f"integer in [1, {MAX_UPDATES:,}]",
    "record_every": "integer >= 1",
    "seeds": f"a count up to {MAX_SEEDS:,} or a list of distinct integers in [0, 2^62)",
    "pairing": " or ".join(PAIRINGS),
    "self_play": "true or false",
    "vs": "list of [agent name, agent name] pairs",
    "dtype": " or ".join(DTYPES),
    "device": " or ".join(DEVICES),
    "task_size": f"integer in [1, {MAX_TASK_SIZE:,}] or auto",
}


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file; every problem is a one-line ``ValueError``."""
    return parse_sweep(read_yaml(path, "sweep file"))


def parse_sweep(raw: Any) -> SweepConfig:
    """Validate a sweep given as a mapping (the parsed YAML)."""
    if not isinstance(raw, dict):
        raise ValueError(
            f"sweep file: must be a mapping of keys ({', '.join(SCHEMA)}), got {type(raw).__name__}"
        )
    unknown = [k for k in raw if k not in SCHEMA]
    if unknown:
        raise ValueError(f"{_key(unknown[0])}: unknown key; accepted: {', '.join(SCHEMA)}")
    name = _name(raw.get("name"))
    defaults = SweepConfig(name=name, agents=[])
    values = {k: raw.get(k, getattr(defaults, k)) for k in SCHEMA if k not in ("name", "agents")}
    settings = _parse_settings(values)
    pairing = _choice("pairing", values["pairing"], PAIRINGS)
    self_play = values["self_play"]
    if not isinstance(self_play, bool):
        raise ValueError(f"self_play: must be true or false, got {show(self_play)}")
    game, payoffs = settings["game"], settings["payoffs"]
    agents, variants = _parse_agents(raw.get("agents"), game, payoffs)
    _check_episode_lengths(variants)
    vs = _parse_vs(values["vs"], pairing, [a["name"] for a in agents])
    symmetric = get_game(game, payoffs, settings["grid_size"]).symmetric
    pairings = count_pairings(variants, pairing, self_play, vs, symmetric)
    matches = pairings * len(settings["seeds"])
    _check_size(matches, settings["updates"], settings["record_every"])
    task_size = _task_size(values["task_size"])
    per_call = 1 if task_size == "auto" else task_size  # auto: capped by memory (sweeps.runner)
    where = {a["name"]: f"agents[{i}]" for i, a in enumerate(agents)}
    _check_memory(variants, where, per_call, "a smaller task_size")
    return SweepConfig(
        name=name,
        agents=agents,
        pairing=pairing,
        self_play=self_play,
        vs=vs,
        task_size=task_size,
        variants=variants,
        matches=matches,
        **settings,
    )


@dataclass(frozen=True)
class MatchConfig:
    """The validated arguments of ``lola-arena match``: one pairing over several seeds."""

    spec_a: AgentSpec
    spec_b: AgentSpec
    game: Game
    seeds: list[int]
    updates: int
    gamma: float
    dtype: str
    device: str


def parse_match(agent_a: str, agent_b: str, options: dict[str, Any], **settings) -> MatchConfig:
    """Validate ``lola-arena match``'s arguments with the sweep file's checks: ``agent_a`` and
    ``agent_b`` are agent names (``memory1:P0,...``, ``random:P``), ``options`` the agent options
    given (None: not given): each side takes those its kind reads, and one that neither side
    reads is refused as in a sweep file; ``settings`` the sweep keys ``game``, ``payoffs``,
    ``gamma``, ``updates``, ``seeds`` (a count), ``dtype``, ``device``."""
    defaults = SweepConfig(name="match", agents=[])
    values = {k: settings.get(k, getattr(defaults, k)) for k in _SETTINGS}
    if values["payoffs"] is not None:
        values["payoffs"] = list(values["payoffs"])
    values["record_every"] = values["updates"]
    parsed = _parse_settings(values)
    game, payoffs = parsed["game"], parsed["payoffs"]
    entries = {"agent_a": _agent_entry(agent_a), "agent_b": _agent_entry(agent_b)}
    given = {k: v for k, v in options.items() if v is not None}
    read = {k for entry in entries.values() for k in options_of(entry["kind"])}
    unread = [k for k in given if k not in read]
    specs = []
    for where, entry in entries.items():
        # each side takes the options its kind reads; one that neither side reads goes to
        # side a, whose check (the sweep file's) refuses it
        takes = [*options_of(entry["kind"]), *(unread if where == "agent_a" else ())]
        entry.update({k: v for k, v in given.items() if k in takes})
        variants = _expand(where, entry, game, payoffs, budget=1)
        specs.append(variants[0].spec)
    _check_size(len(parsed["seeds"]), parsed["updates"], parsed["updates"])
    sides = [Variant(where, spec) for where, spec in zip(entries, specs, strict=True)]
    _check_memory(sides, {w: w for w in entries}, len(parsed["seeds"]), "fewer seeds")
    return MatchConfig(
        specs[0],
        specs[1],
        get_game(game, payoffs, parsed["grid_size"]),
        parsed["seeds"],
        parsed["updates"],
        parsed["gamma"],
        parsed["dtype"],
        parsed["device"],
    )


def count_pairings(
    variants, pairing: str, self_play: bool, vs: list[list[str]], symmetric: bool
) -> int:
    """The number of pairings :func:`sweeps.plan.plan_matches` plays, without listing them."""
    if pairing == "vs":
        per_entry: dict[str, int] = {}
        for v in variants:
            per_entry[v.entry] = per_entry.get(v.entry, 0) + 1
        unique = {tuple(pair) for pair in vs}
        return sum(per_entry[a] * per_entry[b] for a, b in unique)
    n = len(variants)
    pairs = n * (n - 1) // 2 * (1 if symmetric else 2)
    return pairs + (n if self_play else 0)


_SETTINGS = (
    "game",
    "payoffs",
    "grid_size",
    "gamma",
    "updates",
    "record_every",
    "seeds",
    "dtype",
    "device",
)


def _parse_settings(values: dict) -> dict:
    """The settings a sweep and ``match`` share, validated: ``values`` holds each of
    ``_SETTINGS``."""
    game = _choice("game", values["game"], GAME_NAMES)
    payoffs = values["payoffs"]
    if payoffs is not None:
        if not isinstance(payoffs, list) or not all(_is_number(x) for x in payoffs):
            raise ValueError(
                f"payoffs: must be a list of 4 or 8 finite numbers, got {show(payoffs)}"
            )
        payoffs = [float(x) for x in payoffs]
        get_game(game, payoffs)
    grid_size = values["grid_size"]
    if grid_size is not None:
        check_grid_size(grid_size)
        get_game(game, payoffs, grid_size)
    gamma = values["gamma"]
    if not _is_number(gamma) or not 0 < gamma < 1:
        raise ValueError(f"gamma: must be a number in (0, 1), got {show(gamma)}")
    return {
        "game": game,
        "payoffs": payoffs,
        "grid_size": grid_size,
        "gamma": float(gamma),
        "updates": _int("updates", values["updates"], high=MAX_UPDATES),
        "record_every": _int("record_every", values["record_every"]),
        "seeds": _parse_seeds(values["seeds"]),
        "dtype": _choice("dtype", values["dtype"], tuple(DTYPES)),
        "device": _choice("device", values["device"], DEVICES),
    }


def _check_size(matches: int, updates: int, record_every: int) -> None:
    """The sweep's total work and stored curve points within :data:`LIMITS`."""
    if matches == 0:
        raise ValueError(
            "agents: the pairing plays no match (one variant and self_play: false); add "
            "agents or set self_play: true"
        )
    if matches > MAX_MATCHES:
        raise ValueError(
            f"agents: {matches:,} matches planned (pairings x seeds); at most "
            f"{MAX_MATCHES:,} per sweep: split the sweep or sweep fewer options"
        )
    if matches * updates > MAX_MATCH_UPDATES:
        raise ValueError(
            f"updates: {updates:,} updates x {matches:,} matches = {matches * updates:,}; at most "
            f"{MAX_MATCH_UPDATES:,}: fewer updates, seeds or agents"
        )
    points = matches * (updates // record_every + 2)
    if points > MAX_CURVE_POINTS:
        raise ValueError(
            f"record_every: {record_every} records about {points:,} curve points; at most "
            f"{MAX_CURVE_POINTS:,}: record less often"
        )


def side_bytes(spec: AgentSpec) -> int:
    """The memory a side's rollouts take in one match: 0 for an exact learner or a fixed
    strategy; E x T x :data:`BYTES_PER_STEP` x (lookahead + 1) for a sampled one."""
    if not spec.sampled:
        return 0
    rollouts = spec.lookahead + 1 if "lookahead" in options_of(spec.kind) else 1
    return spec.episodes * spec.steps * BYTES_PER_STEP * rollouts


def machine_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = Path(path).read_text().strip()
        except OSError:
            continue
        if limit.isdigit():
            total = min(total, int(limit))
    return total


def _check_memory(variants, where: dict[str, str], per_call: int, fewer: str) -> None:
    """The largest match (the largest side against itself) times ``per_call`` matches in one
    engine call must fit :func:`machine_memory`; ``where`` names each entry's field, ``fewer``
    what makes an engine call smaller."""
    largest = max(variants, key=lambda v: side_bytes(v.spec))
    spec = largest.spec
    estimate = 2 * side_bytes(spec) * per_call
    limit = machine_memory()
    if estimate > limit:
        rollouts = side_bytes(spec) // (spec.episodes * spec.steps * BYTES_PER_STEP)
        calls = f" x {per_call:,} matches per engine call" if per_call > 1 else ""
        raise ValueError(
            f"{where[largest.entry]}.episodes: {spec.label()} needs about {_bytes(estimate)} "
            f"({spec.episodes:,} episodes x {spec.steps:,} steps x {BYTES_PER_STEP} B x "
            f"{rollouts} rollouts x 2 sides{calls}); this machine has {_bytes(limit)}: fewer "
            f"episodes or steps{' or ' + fewer if per_call > 1 else ''}"
        )


def _bytes(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:,.0f} {unit}"
        count /= 1024
    return f"{count:,.1f} TiB"


def _name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name: must be a non-empty string, got {show(name)}")
    if len(name) > MAX_NAME:
        raise ValueError(f"name: at most {MAX_NAME} characters, got {len(name):,}")
    if "/" in name or "\\" in name or name.startswith(".") or not name.isprintable():
        raise ValueError(
            f"name: names the output folder: no '/', '\\\\', control characters or leading "
            f"'.', got {show(name)}"
        )
    return name


def _key(key) -> str:
    """A mapping key as a field name in messages (shortened, quoted when it is odd)."""
    plain = isinstance(key, str) and key.isprintable() and 0 < len(key) <= 40
    return key if plain else show(key)


def _is_number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _int(field_name: str, value, low: int = 1, high: int | None = None) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if not ok or (high is not None and value > high):
        accepted = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high:,}]"
        raise ValueError(f"{field_name}: must be {accepted}, got {show(value)}")
    return value


def _task_size(value) -> int | str:
    if value == "auto":
        return value
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_TASK_SIZE
    if not ok:
        raise ValueError(
            f"task_size: must be an integer in [1, {MAX_TASK_SIZE:,}] or auto, got {show(value)}"
        )
    return value


def _choice(field_name: str, value, accepted: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in accepted:
        raise ValueError(f"{field_name}: unknown {show(value)}; accepted: {', '.join(accepted)}")
    return value


def _parse_seeds(seeds) -> list[int]:
    accepted = (
        f"seeds: must be a count in [1, {MAX_SEEDS:,}] or a list of at most {MAX_SEEDS:,} "
        f"distinct integers in [0, 2^62), got"
    )
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if not 1 <= seeds <= MAX_SEEDS:
            raise ValueError(f"{accepted} {seeds:,}")
        return list(range(seeds))
    if not isinstance(seeds, list) or not 1 <= len(seeds) <= MAX_SEEDS:
        what = f"a list of {len(seeds):,}" if isinstance(seeds, list) else show(seeds)
        raise ValueError(f"{accepted} {what}")
    for s in seeds:
        if not (isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED):
            raise ValueError(f"{accepted} {show(s)}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: must be distinct; {show(seeds)} repeats a seed")
    return list(seeds)


def _agent_entry(name: str) -> dict[str, Any]:
    """A ``match`` agent name (``memory1:P0,...``, ``random:P``, or a kind) as a sweep entry."""
    kind, _, arg = name.partition(":")
    if kind not in KINDS or (arg and kind not in ("memory1", "random")):
        raise ValueError(f"agent: unknown {show(name)}; accepted: {ACCEPTED_NAMES}")
    entry: dict[str, Any] = {"kind": kind}
    if arg:
        try:
            p = [float(x) for x in arg.split(",")]
        except ValueError:
            raise ValueError(f"agent: cannot read probabilities in {show(name)}") from None
        if kind == "random" and len(p) != 1:
            raise ValueError(f"agent: random takes one probability, got {show(name)}")
        entry["p"] = p if kind == "memory1" else p[0]
    return entry


def _parse_agents(entries, game: str, payoffs) -> tuple[list[dict], tuple[Variant, ...]]:
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"agents: must be a non-empty list of agent entries, got {show(entries)}")
    if len(entries) > MAX_VARIANTS:
        raise ValueError(f"agents: {len(entries):,} entries; at most {MAX_VARIANTS:,} variants")
    resolved, variants, names, labels = [], [], set(), {}
    for i, entry in enumerate(entries):
        where = f"agents[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: must be a mapping with a kind, got {show(entry)}")
        name = entry.get("name", entry.get("kind"))
        expanded = _expand(where, entry, game, payoffs, budget=MAX_VARIANTS - len(variants))
        if name in names:
            raise ValueError(
                f"{where}.name: {show(name)} is used twice; give each entry its own name"
            )
        names.add(name)
        for variant in expanded:
            if variant.label in labels:
                raise ValueError(
                    f"{where}: variant {variant.label!r} repeats {labels[variant.label]}; an "
                    f"option that {variant.spec.kind} ignores may be swept, or two entries "
                    f"coincide"
                )
            labels[variant.label] = where
            variants.append(variant)
        options = {k: v for k, v in entry.items() if k not in ("name", "kind")}
        resolved.append({"name": name, "kind": entry["kind"], **options})
    return resolved, tuple(variants)


def _expand(where: str, entry: dict, game: str, payoffs, budget: int) -> list[Variant]:
    """An agent entry's variants (the product of its swept options), at most ``budget``."""
    unknown = [k for k in entry if k not in AGENT_KEYS]
    if unknown:
        raise ValueError(
            f"{where}.{_key(unknown[0])}: unknown key; accepted: {', '.join(AGENT_KEYS)}"
        )
    kind = entry.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"{where}.kind: unknown {show(kind)}; accepted: {', '.join(KINDS)}")
    name = entry.get("name", kind)
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise ValueError(
            f"{where}.name: must be a string of 1 to {MAX_NAME} characters, got {show(name)}"
        )
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
        for v in values:
            _check_option(f"{where}.{key}", key, v)
        grid[key] = values
    count = math.prod(len(values) for values in grid.values())
    if count > budget:
        sizes = " x ".join(str(len(values)) for values in grid.values())
        before = f", {MAX_VARIANTS - budget:,} before this entry" if budget < MAX_VARIANTS else ""
        raise ValueError(
            f"{where}: {count:,} variants ({sizes}{before}); at most {MAX_VARIANTS:,} per sweep"
        )
    if kind == "extort2":
        _check_fixed_in_game(where, kind, game, payoffs)
    variants = []
    for combo in itertools.product(*grid.values()):
        opts = dict(zip(grid, combo, strict=True))
        if "p" in opts:
            opts["p"] = tuple(opts["p"])
        try:
            spec = AgentSpec(kind, **opts)
            if game == COIN:
                check_coin_player(spec, DEFAULT_GRID)
            else:
                check_family(kind, coin=False, game=game)
                if spec.learner:
                    policy_factory(spec.policy)
            if game in DIFFERENTIABLE_GAMES:
                check_players(DIFFERENTIABLE_GAMES[game], [spec])
        except ValueError as error:
            raise ValueError(f"{where}.{error}") from None
        except TypeError as error:
            raise ValueError(f"{where}: {error}") from None
        variants.append(Variant(name, spec))
    return variants


def _check_option(where: str, key: str, value) -> None:
    """What :class:`agents.spec.AgentSpec` does not bound: booleans in ``p``, the largest
    hidden size; a short message for any value."""
    if key == "p":
        if len(value) > 5 or not all(_is_number(x) for x in value):
            raise ValueError(
                f"{where}: must be probabilities (numbers in [0, 1]), got {show(value)}"
            )
    elif key == "policy":
        kind, _, hidden = value.partition(":") if isinstance(value, str) else ("", "", "")
        if kind in ("mlp", "conv", "gru") and hidden.isdigit() and int(hidden) > MAX_HIDDEN:
            size, units = ("CHANNELS", "channels") if kind == "conv" else ("HIDDEN", "hidden units")
            raise ValueError(
                f"{where}: {kind}:{size} takes at most {MAX_HIDDEN:,} {units}, got {show(value)}"
            )
        if not isinstance(value, str) or len(value) > MAX_NAME:
            raise ValueError(
                f"{where}: unknown {show(value)}; accepted: tabular, tabular:STD, mlp:HIDDEN"
            )
    elif isinstance(value, str) and len(value) > MAX_NAME:
        raise ValueError(f"{where}: unknown {show(value)}")


def _check_episode_lengths(variants) -> None:
    """Two online learners in one match play one episode length: a sweep's online learners
    share ``steps``."""
    online = [v for v in variants if v.spec.online]
    for v in online[1:]:
        if v.spec.steps != online[0].spec.steps:
            raise ValueError(
                f"agents: the online learners of a sweep play episodes of one length; "
                f"{online[0].entry} has steps {online[0].spec.steps}, {v.entry} {v.spec.steps}"
            )


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
        raise ValueError(
            f"vs: pairing vs needs a non-empty list of [name, name] pairs, got {show(vs)}"
        )
    pairs = []
    for i, pair in enumerate(vs):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ValueError(f"vs[{i}]: must be a pair [agent name, agent name], got {show(pair)}")
        for name in pair:
            if not isinstance(name, str) or name not in names:
                raise ValueError(
                    f"vs[{i}]: unknown agent {show(name)}; accepted: {', '.join(names)}"
                )
        pairs.append(list(pair))
    return pairs
