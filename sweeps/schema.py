"""The stored schema of a sweep, the contract between ``sweeps/`` (writes) and ``analysis/``
(reads): the states, both tables' columns and types, and the builders of their rows.

Needs pyarrow and numpy only (no torch, no Ray), so ``analysis/`` reads with it without the
engine. Two tables, each a Parquet dataset hive-partitioned by ``game`` (:data:`PARTITION_SCHEMA`;
the partition column is not in the files):

- ``matches``, one row per match (:data:`MATCHES_SCHEMA`): the sweep and match id, gamma, each
  side's label, kind and options (``<option>_a``, ``<option>_b``: the stored options of
  :mod:`agents.options`, null where the side's kind does not read the option, so all null
  for fixed strategies), the seed and number of updates, each
  side's final per-step reward and P(C | state), a differentiable game's parameters, the
  sampled reward per step of each side (:data:`SAMPLED_COLUMNS`: the sampled engine's
  evaluation rollout, null in matches without a sampled learner), the Coin Game's measures
  (:data:`COIN_COLUMNS`, null in the other games; there P(C | state) is null), the status
  (:data:`STATUSES`), the error of a failed match, the engine seconds per match and the
  lola-arena version.
- ``curves``, one row per match and recorded update (:data:`CURVES_SCHEMA`): the per-step
  rewards and P(C | state) of both sides, the parameters, the sampled rewards and the Coin
  Game's measures.

States are egocentric: ``start``, then (own, other) ``cc``, ``cd``, ``dc``, ``dd``.

Beside the tables, ``sweep.yaml`` holds the sweep as resolved and :data:`PROVENANCE`
(``provenance.yaml``) what analysis needs to know of the game and how the results came about::

    game: {name, payoffs_row, payoffs_col}   payoffs of CC, CD, DC, DD in the row's (side a's) view
          {name, grid_size}                  the Coin Game
    runs:                                    one entry per run on the directory, oldest first
      - {started, finished, wall_s, matches, seeds, lola_arena, python, torch, ray, numpy,
         pyarrow, git_commit, hostname, platform, cpus, device, cluster}
"""

from __future__ import annotations

import importlib.metadata
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from agents.options import STORED_OPTIONS, applies, flag

if TYPE_CHECKING:
    from sweeps.plan import Task
    from tournament.recorder import MatchResults

STATES = ("start", "cc", "cd", "dc", "dd")
PROVENANCE = "provenance.yaml"
# The version of the stored layout and tables, written to sweep.yaml (``schema``): raise it when
# a change makes stored parts unreadable to, or unwritable beside, the previous version's; a
# resume refuses a directory of another version. 2: the init option's, POLA's options' and the
# Coin Game's columns.
SCHEMA_VERSION = 2
STATUSES = ("ok", "diverged", "failed")
SIDES = ("a", "b")


def p_coop_columns(side: str) -> list[str]:
    """The five ``p_coop_<side>_<state>`` columns of one side."""
    return [f"p_coop_{side}_{state}" for state in STATES]


P_COOP_COLUMNS = [column for side in SIDES for column in p_coop_columns(side)]
# What a match or a curve point measures; NaN for a diverged or failed match (P(C | state) is
# NaN in a differentiable game, where the reward is -loss).
RESULT_COLUMNS = ["reward_a", "reward_b", *P_COOP_COLUMNS]
# A differentiable game's parameters of each side (lists); null in the iterated 2x2 games.
PARAMS_COLUMNS = [f"params_{side}" for side in SIDES]
PARAMS_TYPE = pa.list_(pa.float64())
# The sampled discounted reward per step of each side, beside the exact reward: matches with a
# sampled learner (the sampled kinds of agents.kinds) only, else null.
SAMPLED_COLUMNS = [f"sampled_reward_{side}" for side in SIDES]
# The Coin Game (null in the other games): of each side, the share of its own colour among the
# coins it picked up (NaN where it picked none) and the coins it picked up per step; of the
# pair, the total reward per step (reward_a + reward_b). Its rewards are sampled (the
# discounted reward per step of an evaluation rollout) and its P(C | state) columns null.
COIN_SIDE_MEASURES = ("own_coin_share", "pickups")
COIN_COLUMNS = [
    *(f"{measure}_{side}" for measure in COIN_SIDE_MEASURES for side in SIDES),
    "total_reward",
]

# The options stored per side (``<name>_a``, ``<name>_b``), null where a kind does not read one.
STORED_OPTION_NAMES = tuple(option.name for option in STORED_OPTIONS)
_ARROW_TYPES = {float: pa.float64(), int: pa.int64(), str: pa.string(), flag: pa.bool_()}
OPTION_COLUMNS = [
    (f"{option.name}_{side}", _ARROW_TYPES[option.type])
    for option in STORED_OPTIONS
    for side in SIDES
]

MATCHES_SCHEMA = pa.schema(
    [
        ("sweep", pa.string()),
        ("match_id", pa.string()),
        ("gamma", pa.float64()),
        ("agent_a", pa.string()),
        ("agent_b", pa.string()),
        ("kind_a", pa.string()),
        ("kind_b", pa.string()),
        *OPTION_COLUMNS,
        ("seed", pa.int64()),
        ("updates", pa.int64()),
        *[(c, pa.float64()) for c in RESULT_COLUMNS],
        *[(c, PARAMS_TYPE) for c in PARAMS_COLUMNS],
        *[(c, pa.float64()) for c in SAMPLED_COLUMNS],
        *[(c, pa.float64()) for c in COIN_COLUMNS],
        ("status", pa.string()),
        ("error", pa.string()),
        ("elapsed_s", pa.float64()),
        ("version", pa.string()),
    ]
)

CURVES_SCHEMA = pa.schema(
    [
        ("match_id", pa.string()),
        ("update", pa.int64()),
        *[(c, pa.float64()) for c in RESULT_COLUMNS],
        *[(c, PARAMS_TYPE) for c in PARAMS_COLUMNS],
        *[(c, pa.float64()) for c in SAMPLED_COLUMNS],
        *[(c, pa.float64()) for c in COIN_COLUMNS],
    ]
)

# The hive partition of both datasets: ``game=<game>/`` folders.
GAME = pa.field("game", pa.string())
PARTITION_SCHEMA = pa.schema([GAME])


def match_tables(task: Task, settings: dict, results: MatchResults) -> tuple[pa.Table, pa.Table]:
    """The matches and curves tables of a task from its engine results."""
    n = len(task.matches)
    final = {
        "reward_a": results.reward_a[:, -1],
        "reward_b": results.reward_b[:, -1],
        **_p_coop(results.p_coop_a[:, -1], results.p_coop_b[:, -1], _is_coin(results)),
        **_params(results, n, final=True),
        **_sampled(results, n, final=True),
        **_coin(results, n, final=True),
    }
    matches = _matches_table(
        task,
        settings,
        final,
        status=results.status,
        error=[None] * n,
        elapsed_s=results.elapsed_s / n,
    )
    records = len(results.updates)
    curves = {
        "match_id": np.repeat([m.match_id for m in task.matches], records),
        "update": np.tile(results.updates.astype(np.int64), n),
        "reward_a": results.reward_a.reshape(-1),
        "reward_b": results.reward_b.reshape(-1),
        **_p_coop(
            results.p_coop_a.reshape(-1, 5), results.p_coop_b.reshape(-1, 5), _is_coin(results)
        ),
        **_params(results, n * records, final=False),
        **_sampled(results, n * records, final=False),
        **_coin(results, n * records, final=False),
    }
    return matches, pa.Table.from_pydict(curves, schema=CURVES_SCHEMA)


def failed_matches_table(task: Task, settings: dict, error: str) -> pa.Table:
    """The matches table of a task that failed: status ``failed``, NaN results."""
    n = len(task.matches)
    nan = np.full(n, np.nan)
    final = {
        **dict.fromkeys(RESULT_COLUMNS, nan),
        **dict.fromkeys([*PARAMS_COLUMNS, *SAMPLED_COLUMNS, *COIN_COLUMNS], [None] * n),
    }
    return _matches_table(task, settings, final, ["failed"] * n, [error] * n, float("nan"))


def _params(results: MatchResults, rows: int, final: bool) -> dict[str, list]:
    """The params_* columns: each side's final (or every recorded) parameters, else nulls."""
    if results.params_a is None:
        return dict.fromkeys(PARAMS_COLUMNS, [None] * rows)
    arrays = (results.params_a, results.params_b)
    if final:
        return {c: p[:, -1].tolist() for c, p in zip(PARAMS_COLUMNS, arrays, strict=True)}
    return {c: p.reshape(rows, -1).tolist() for c, p in zip(PARAMS_COLUMNS, arrays, strict=True)}


def _sampled(results: MatchResults, rows: int, final: bool) -> dict[str, list | np.ndarray]:
    """The sampled_reward_* columns: each side's final (or every recorded) sampled reward per
    step, else nulls."""
    if results.sampled_reward_a is None:
        return dict.fromkeys(SAMPLED_COLUMNS, [None] * rows)
    arrays = (results.sampled_reward_a, results.sampled_reward_b)
    pick = (lambda a: a[:, -1]) if final else (lambda a: a.reshape(-1))
    return {c: pick(a) for c, a in zip(SAMPLED_COLUMNS, arrays, strict=True)}


def _coin(results: MatchResults, rows: int, final: bool) -> dict[str, list | np.ndarray]:
    """The Coin Game's columns: each side's final (or every recorded) own-coin share and
    pickups per step and the pair's total reward per step; nulls in the other games."""
    if results.own_coin_share_a is None:
        return dict.fromkeys(COIN_COLUMNS, [None] * rows)
    pick = (lambda a: a[:, -1]) if final else (lambda a: a.reshape(-1))
    arrays = {
        "own_coin_share_a": results.own_coin_share_a,
        "own_coin_share_b": results.own_coin_share_b,
        "pickups_a": results.pickups_a,
        "pickups_b": results.pickups_b,
        "total_reward": results.reward_a + results.reward_b,
    }
    return {c: pick(arrays[c]) for c in COIN_COLUMNS}


def _is_coin(results: MatchResults) -> bool:
    return results.own_coin_share_a is not None


def _p_coop(p_a: np.ndarray, p_b: np.ndarray, coin: bool = False) -> dict[str, np.ndarray]:
    """[N, 5] arrays of both sides -> the ten p_coop_* columns (nulls in the Coin Game)."""
    if coin:
        return dict.fromkeys(P_COOP_COLUMNS, [None] * len(p_a))
    columns = {}
    for side, p in zip(SIDES, (p_a, p_b), strict=True):
        for i, column in enumerate(p_coop_columns(side)):
            columns[column] = p[:, i]
    return columns


def _matches_table(task: Task, settings: dict, final: dict, status, error, elapsed_s) -> pa.Table:
    n = len(task.matches)
    columns = {
        "sweep": [settings["sweep"]] * n,
        "match_id": [m.match_id for m in task.matches],
        "gamma": [settings["gamma"]] * n,
    }
    for side in SIDES:
        variants = [getattr(m, side) for m in task.matches]
        columns[f"agent_{side}"] = [v.label for v in variants]
        columns[f"kind_{side}"] = [v.spec.kind for v in variants]
        for option in STORED_OPTIONS:
            columns[f"{option.name}_{side}"] = [_option(v.spec, option.name) for v in variants]
    columns.update(
        seed=[m.seed for m in task.matches],
        updates=[settings["updates"]] * n,
        **final,
        status=list(status),
        error=list(error),
        elapsed_s=[elapsed_s] * n,
        version=[_version()] * n,
    )
    return pa.Table.from_pydict(columns, schema=MATCHES_SCHEMA)


def _option(spec, name: str):
    """An option as stored; None where the spec's kind does not read it
    (:func:`agents.options.applies`)."""
    return getattr(spec, name) if applies(name, spec.kind) else None


def _version() -> str:
    return importlib.metadata.version("lola-arena")
