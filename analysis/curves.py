"""Learning curves of learners, per seed and as lines with confidence intervals.

:func:`curve_samples` reads the stored curves (one row per match and recorded update) of the
matches in which a learner plays, pushing the match filter down to Parquet, and turns them into
one value per learner, opponent set, seed and update, the sample unit of
:mod:`analysis.summary`:

- ``self-play``: the mean of both sides of the learner's match against itself;
- ``all opponents``: per opponent the mean over the seed's matches, then the mean over opponents
  (the learning curve of the ranking's score).

Curves are read column by column into integer-coded arrays (no per-row Python objects), so a
sweep of 14,000 matches x 21 records takes well under a second and a few tens of MB.

:func:`curve_lines` averages samples into lines (mean and 95% t interval over seeds, clipped to
a feasible range), one line per agent or per group of agents.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from analysis.game import GameInfo
from analysis.load import SweepDirs, as_dirs, iter_batches, read_table
from analysis.summary import ALL_OPPONENTS, GROUPS, SAMPLE, t_975
from sweeps.schema import SIDES, STATES

CURVE_VALUES = ("reward", *(f"p_coop_{s}" for s in STATES))
OPPONENT_SETS = (GROUPS[0], ALL_OPPONENTS)


def curve_values(game: GameInfo | None) -> tuple[str, ...]:
    """The reward and what describes a policy (:attr:`GameInfo.policy_columns`)."""
    if game is None:
        return CURVE_VALUES
    return ("reward", *(column for column, _ in game.policy_columns))


def _stored(value: str, me: str) -> str:
    """The curves table's column of ``value`` for side ``me``."""
    if value.startswith("p_coop_"):
        return f"p_coop_{me}_{value[7:]}"
    return f"{value}_{me}"


def curve_samples(
    sweep_dirs: SweepDirs, side_rows: pd.DataFrame, game: GameInfo | None = None
) -> pd.DataFrame:
    """Per learner, opponent set (``self-play``, ``all opponents``), sweep, seed and update:
    the reward and P(C | state) (module doc; the Coin Game: the own-coin share and pickups per
    step). ``side_rows``: the final side rows of the matches (:func:`analysis.summary.sides`),
    which say who plays which match."""
    values = list(curve_values(game))
    if not side_rows["learner"].any():
        return pd.DataFrame(columns=["agent", "opponents", *SAMPLE, "update", *values])
    agents = pd.Index(sorted(set(side_rows["agent"])))
    samples = side_rows[SAMPLE].drop_duplicates().reset_index(drop=True)
    parts = []
    for sweep_dir in as_dirs(sweep_dirs):
        stored = read_table(sweep_dir, "matches", [], columns=["match_id"]).column("match_id")
        rows = side_rows[side_rows["match_id"].isin(stored.to_pandas())]
        ids = pd.unique(rows.loc[rows["learner"], "match_id"])
        if len(ids):
            parts.append(_read_sides(sweep_dir, rows, ids, agents, samples, values))
    coded = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    updates, update_code = np.unique(coded["update"], return_inverse=True)
    n_agents, n_samples, n_updates = len(agents), len(samples), len(updates)
    # the mean per (agent, opponent, sample, update): a self-play match gives two sides
    pair_key = (coded["agent"] * n_agents + coded["opponent"]) * n_samples + coded["sample"]
    pair_key = pair_key * n_updates + update_code
    pairs, pair_means = _means(pair_key, [coded[v] for v in values])
    rest, update_of_pair = np.divmod(pairs, n_updates)
    rest, sample_of_pair = np.divmod(rest, n_samples)
    agent_of_pair, opponent_of_pair = np.divmod(rest, n_agents)
    # all opponents: the mean over opponents of the pair means
    key = (agent_of_pair * n_samples + sample_of_pair) * n_updates + update_of_pair
    overall, overall_means = _means(key, pair_means)
    self_play = agent_of_pair == opponent_of_pair
    frames = []
    for opponents, keys, means in (
        (GROUPS[0], key[self_play], [m[self_play] for m in pair_means]),
        (ALL_OPPONENTS, overall, overall_means),
    ):
        rest, update = np.divmod(keys, n_updates)
        agent, sample = np.divmod(rest, n_samples)
        frame = {"agent": agents[agent], "opponents": opponents}
        for column in SAMPLE:
            frame[column] = samples[column].to_numpy()[sample]
        frame["update"] = updates[update]
        frame.update(zip(values, means, strict=True))
        frames.append(pd.DataFrame(frame))
    return pd.concat(frames, ignore_index=True)


def _means(key: np.ndarray, columns: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct keys and, per column, the mean of its finite values per key (NaN if none)."""
    unique, inverse = np.unique(key, return_inverse=True)
    means = []
    for column in columns:
        finite = np.isfinite(column)
        total = np.bincount(inverse, weights=np.where(finite, column, 0.0), minlength=len(unique))
        count = np.bincount(inverse, weights=finite, minlength=len(unique))
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append(total / count)
    return unique, means


def _read_sides(sweep_dir, rows: pd.DataFrame, ids, agents: pd.Index, samples, values) -> dict:
    """The curves of matches ``ids`` of one directory, one entry per learner side and update:
    integer codes of agent, opponent and (sweep, seed) sample, the update and the values."""
    by_side = {
        side: rows[rows["side"] == side].drop_duplicates("match_id").set_index("match_id")
        for side in SIDES
    }
    meta = by_side["a"]
    sample_of = pd.MultiIndex.from_frame(samples).get_indexer(
        pd.MultiIndex.from_frame(meta[SAMPLE])
    )
    codes = {}
    for me, other in (("a", "b"), ("b", "a")):
        mine, theirs = by_side[me].loc[meta.index], by_side[other].loc[meta.index]
        codes[me] = (
            mine["learner"].to_numpy(),
            agents.get_indexer(mine["agent"]),
            agents.get_indexer(theirs["agent"]),
        )
    out = {k: [] for k in ("agent", "opponent", "sample", "update", *values)}
    terms = [pc.field("match_id").isin(list(ids))]
    for batch in iter_batches(sweep_dir, "curves", terms):
        position = meta.index.get_indexer(batch.column("match_id").to_pandas())
        keep = position >= 0  # a match of these rows
        position = position[keep]
        update = batch.column("update").to_numpy()[keep]
        for me in SIDES:
            learner, agent, opponent = codes[me]
            mine = learner[position]
            picked = position[mine]
            out["agent"].append(agent[picked])
            out["opponent"].append(opponent[picked])
            out["sample"].append(sample_of[picked])
            out["update"].append(update[mine])
            for value in values:
                column = batch.column(_stored(value, me)).to_numpy(zero_copy_only=False)
                out[value].append(column.astype(float)[keep][mine])
    coded = {k: np.concatenate(v) for k, v in out.items()}
    for k in ("agent", "opponent", "sample"):
        coded[k] = coded[k].astype(np.int64)
    return coded


def curve_lines(
    samples: pd.DataFrame,
    value: str,
    line_of: Mapping[str, str],
    clip: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Lines of ``value`` per opponent set, line and update: ``mean``, ``low``, ``high`` (95% t
    interval over seeds, clipped to ``clip``) and ``n`` seeds. ``line_of`` maps each agent to
    its line; the agents of one line are averaged per seed first."""
    rows = samples[samples["agent"].isin(list(line_of))]
    rows = rows.assign(line=rows["agent"].map(line_of))
    per_seed = rows.groupby(["opponents", "line", *SAMPLE, "update"], sort=False)[value].mean()
    stats = per_seed.groupby(["opponents", "line", "update"], sort=False).agg(
        ["mean", "std", "count"]
    )
    t = np.array([t_975(int(n) - 1) for n in stats["count"]])
    half = t * stats["std"].to_numpy() / np.sqrt(stats["count"].to_numpy())
    half = np.where(np.isnan(half), 0.0, half)
    low, high = stats["mean"] - half, stats["mean"] + half
    if clip is not None:
        low, high = low.clip(*clip), high.clip(*clip)
    lines = pd.DataFrame(
        {"mean": stats["mean"], "low": low, "high": high, "n": stats["count"]}
    ).reset_index()
    return lines.sort_values(["opponents", "line", "update"], ignore_index=True)
