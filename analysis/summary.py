"""Axelrod-style tournament summary of a sweep, computed from the stored match rows.

Every match row is read from both sides: (agent_a meets agent_b, reward_a) and (agent_b meets
agent_a, reward_b). A self-play row X vs X thus gives the diagonal two samples per seed.
The sample unit for confidence intervals is the seed (within its sweep): per seed, the rewards
of a pairing are averaged first; means are then taken over seeds and the 95% interval is
Student's t, ``t_{0.975, n-1} * sd / sqrt(n)`` (NaN with one seed). Diverged or failed
matches have NaN rewards and are left out of means and counts; their share is its own table.

Definitions:
- payoff matrix ``M[X, Y]``: mean final per-step reward of X when meeting Y.
- score (ranking): per seed, X's mean over its opponents of ``M[X, Y]`` for that seed; the
  ranking orders agents by the mean score over seeds.
- outcome of one match for one side: win if its reward beats the opponent's by more than
  ``draw_tol``, loss if it trails by more, draw otherwise. Self-play counts from both sides.
- opponent groups: self-play (X vs X), vs learners (an opponent with a learning rule: one that
  stores options), vs fixed (fixed strategies).
- rank interval: the 95% bootstrap interval of an agent's rank over resampled seeds
  (:func:`bootstrap_ranks`).
- cooperation rate: the discounted share of rounds in which a side plays C, from both final
  policies (:func:`analysis.game.discounted_play`); in zero-sum games the distance to the Nash
  policy instead (:class:`analysis.game.GameInfo`).
- TFT-like (games with cooperation only): a side's final policy is within ``tft_tol`` of Tit
  For Tat's, i.e. ``P(C|cc) >= 1 - tft_tol``, ``P(C|dc) >= 1 - tft_tol``, ``P(C|cd) <= tft_tol`` and
  ``P(C|dd) <= tft_tol`` (states in the side's own view, "cd": I cooperated, they defected;
  the start state is ignored).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.typing import SeriesGroupBy

from analysis.game import GameInfo, discounted_play
from sweeps.schema import COIN_SIDE_MEASURES, SIDES, STATES, STATUSES, STORED_OPTION_NAMES

DRAW_TOL = 1e-3
TFT_TOL = 0.1
SAMPLE = ["sweep", "seed"]
ALL_MATCHES = "(all matches)"
GROUPS = ("self-play", "vs learners", "vs fixed")
ALL_OPPONENTS = "all opponents"
BOOTSTRAP_DRAWS = 1000
UNSCORED = "all diverged or failed"  # an agent none of whose matches finished
# Tables shown inline (in the terminal, on the report's page) show at most this many rows.
INLINE_ROWS = 20
# Payoff matrices up to this many agents are printed and shown inline in full.
INLINE_MATRIX = 8


def _t_two_sided(t: float, dof: int) -> float:
    """P(|T| < t) for Student's t with integer ``dof`` >= 1, in closed form (Abramowitz and
    Stegun 26.7.3 and 26.7.4): with ``theta = atan(t / sqrt(dof))``, ``c = cos(theta)``,

        odd dof:  (2 / pi) [theta + sin(theta) (c + 2/3 c^3 + ... + (2 4 .. (dof-3)) /
                  (1 3 .. (dof-2)) c^(dof-2))]       (dof = 1: 2 theta / pi)
        even dof: sin(theta) [1 + 1/2 c^2 + 1 3 / (2 4) c^4 + ... + (1 3 .. (dof-3)) /
                  (2 4 .. (dof-2)) c^(dof-2)]
    """
    theta = math.atan(t / math.sqrt(dof))
    c2 = math.cos(theta) ** 2
    if dof % 2:
        term, series = math.cos(theta), 0.0
        for j in range(1, (dof - 1) // 2 + 1):  # terms c^1, c^3, .., c^(dof-2)
            series += term
            term *= c2 * (2 * j) / (2 * j + 1)
        return 2 / math.pi * (theta + math.sin(theta) * series)
    term, series = 1.0, 0.0
    for j in range(1, dof // 2 + 1):  # terms c^0, c^2, .., c^(dof-2)
        series += term
        term *= c2 * (2 * j - 1) / (2 * j)
    return math.sin(theta) * series


@functools.cache
def t_975(dof: int) -> float:
    """The 0.975 quantile of Student's t with ``dof`` degrees of freedom (NaN below 1), exact to
    about 1e-12: the root of ``P(|T| < t) = 0.95``, found by bisection."""
    if dof < 1:
        return math.nan
    low, high = 0.0, 20.0  # t_975(1) = 12.706 is the largest
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        low, high = (middle, high) if _t_two_sided(middle, dof) < 0.95 else (low, middle)
    return (low + high) / 2


def mean_ci(values: SeriesGroupBy) -> pd.DataFrame:
    """Per group: mean, 95% half-width (t interval over the group's samples) and n."""
    stats = values.agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    t = stats["n"].map(lambda n: t_975(int(n) - 1))
    stats["ci95"] = t * stats["std"] / np.sqrt(stats["n"])
    return stats[["mean", "ci95", "n"]]


def side_columns(me: str, other: str) -> dict[str, str]:
    """The long view's columns (one row per side of a match) and the stored column of the
    matches table each one comes from, in side ``me``'s view; ``side`` is the literal ``me``.
    The same mapping defines the DuckDB view ``sides`` (:mod:`analysis.query`)."""
    return {
        "sweep": "sweep",
        "game": "game",
        "match_id": "match_id",
        "side": me,
        "agent": f"agent_{me}",
        "kind": f"kind_{me}",
        "opponent": f"agent_{other}",
        "opponent_kind": f"kind_{other}",
        "seed": "seed",
        "status": "status",
        "reward": f"reward_{me}",
        "opponent_reward": f"reward_{other}",
        **{f"p_coop_{s}": f"p_coop_{me}_{s}" for s in STATES},
        **{measure: f"{measure}_{me}" for measure in COIN_SIDE_MEASURES},
        **{option: f"{option}_{me}" for option in STORED_OPTION_NAMES},
    }


SIDE_COLUMNS = tuple(side_columns("a", "b"))


def _side_measures(matches: pd.DataFrame, game: GameInfo | None) -> dict[str, dict]:
    """Per side: ``coop_rate`` (discounted share of rounds playing action 1, from both final
    policies and gamma) and, in a zero-sum game with a mixed Nash equilibrium, ``nash_distance``
    (max over states of |P(action 1 | state) - the side's Nash probability|)."""
    columns = {f"p_coop_{side}_{s}" for side in SIDES for s in STATES} | {"gamma"}
    if not columns <= set(matches.columns):
        return {side: {} for side in SIDES}
    p = {side: matches[[f"p_coop_{side}_{s}" for s in STATES]].to_numpy(float) for side in SIDES}
    play = discounted_play(p["a"], p["b"], matches["gamma"].to_numpy(float))  # [N, 4]
    measures = {
        "a": {"coop_rate": play[:, 0] + play[:, 1]},
        "b": {"coop_rate": play[:, 0] + play[:, 2]},
    }
    nash = game.nash if game is not None else None
    if nash is not None:
        for side, p_star in zip(SIDES, nash, strict=True):
            measures[side]["nash_distance"] = np.abs(p[side] - p_star).max(axis=1)
    return measures


def sides(
    matches: pd.DataFrame,
    extra: Sequence[str] = (),
    game: GameInfo | None = None,
    measures: bool = True,
) -> pd.DataFrame:
    """Each match row twice, once from each side (:func:`side_columns`), with ``learner`` and
    ``opponent_learner`` (the side stores some option: a learning rule), ``group`` (self-play,
    vs learners, vs fixed) and the measures of :func:`_side_measures`.

    ``matches`` holds match rows, or curve rows joined with their match's columns; the columns
    named in ``extra`` (e.g. ``update``) are copied to both views unchanged; columns missing
    from ``matches`` are left out, and so are the measures without ``measures``.
    """
    measures = _side_measures(matches, game) if measures else {side: {} for side in SIDES}
    learner = {
        side: matches[[f"{o}_{side}" for o in STORED_OPTION_NAMES]].notna().any(axis=1)
        for side in SIDES
    }
    views = []
    for me, other in (("a", "b"), ("b", "a")):
        view = {column: matches[column] for column in extra}
        for column, source in side_columns(me, other).items():
            if column == "side":
                view[column] = me
            elif source in matches.columns:
                view[column] = matches[source]
        view["learner"] = learner[me]
        view["opponent_learner"] = learner[other]
        view.update(measures[me])
        views.append(pd.DataFrame(view))
    rows = pd.concat(views, ignore_index=True)
    if "game" in rows.columns:
        rows["game"] = rows["game"].astype(str)
    rows["group"] = np.select(
        [rows["agent"] == rows["opponent"], rows["opponent_learner"]],
        [GROUPS[0], GROUPS[1]],
        GROUPS[2],
    )
    return rows


def _one_game(matches: pd.DataFrame) -> None:
    if matches.empty:
        raise ValueError("matches: no rows to summarise (empty sweep or filters match nothing)")
    games = sorted(matches["game"].astype(str).unique())
    if len(games) > 1:
        raise ValueError(
            f"matches: a summary is for one game, got {', '.join(games)}; filter with game="
        )


def per_seed_payoffs(side_rows: pd.DataFrame, value: str = "reward") -> pd.DataFrame:
    """Mean ``value`` of agent vs opponent per seed: agent, opponent, sweep, seed, value."""
    keys = ["agent", "opponent", *SAMPLE]
    return side_rows.groupby(keys, sort=False)[value].mean().dropna().reset_index()


def per_seed_scores(side_rows: pd.DataFrame, value: str = "reward") -> pd.Series:
    """Per agent and seed: the mean over its opponents of its per-seed mean ``value``."""
    per_seed = per_seed_payoffs(side_rows, value)
    return per_seed.groupby(["agent", *SAMPLE])[value].mean()


def payoffs(side_rows: pd.DataFrame) -> pd.DataFrame:
    """Per pairing (agent, opponent): mean, ci95 and n (seeds) of the final per-step reward."""
    per_seed = per_seed_payoffs(side_rows)
    return mean_ci(per_seed.groupby(["agent", "opponent"])["reward"]).reset_index()


def bootstrap_ranks(
    scores: pd.Series,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
    agents: Sequence[str] | None = None,
) -> pd.DataFrame:
    """95% bootstrap intervals of each agent's rank: seeds are resampled with replacement
    (the same seeds for every agent, since a seed is shared by all its matches), agents ranked
    by their mean score over the resampled seeds, and the 2.5% and 97.5% quantiles of each
    agent's rank kept. Two agents whose intervals do not overlap are told apart by the seeds.
    ``agents``: every agent to rank (default those with a score); one without a score in a
    draw ranks below those with one."""
    table = scores.reset_index().pivot_table(
        index="agent", columns=SAMPLE, values=scores.name, aggfunc="mean"
    )
    if agents is not None:
        table = table.reindex(agents)
    values = table.to_numpy(float)  # [agents, samples]
    n_samples = values.shape[1]
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_samples, size=(draws, n_samples))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an agent without any drawn seed
        means = np.nanmean(values[:, picks], axis=2)  # [agents, draws]
    means = np.where(np.isnan(means), -np.inf, means)
    ranks = (-means).argsort(axis=0, kind="stable").argsort(axis=0, kind="stable") + 1
    low, high = np.percentile(ranks, [2.5, 97.5], axis=1, method="nearest")
    return pd.DataFrame({"rank_low": low, "rank_high": high}, index=table.index)


def ranking(side_rows: pd.DataFrame, draws: int = BOOTSTRAP_DRAWS) -> pd.DataFrame:
    """Agents by mean score over seeds (score: mean reward over opponents in one seed), with
    the t interval of the score and the bootstrap interval of the rank. An agent none of whose
    matches finished (all diverged or failed) is kept, last, with no score and 0 seeds."""
    score = per_seed_scores(side_rows)
    kinds = side_rows.groupby("agent")["kind"].first()
    table = mean_ci(score.groupby("agent")).rename(columns={"mean": "score", "n": "seeds"})
    table = table.reindex(kinds.index)  # every agent, scored or not
    table["seeds"] = table["seeds"].fillna(0).astype("int64")
    table.insert(0, "kind", kinds)
    table = table.join(bootstrap_ranks(score, draws, agents=kinds.index))
    table = table.sort_values("score", ascending=False, kind="stable", na_position="last")
    table = table.reset_index()
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def rank_intervals(rank: pd.DataFrame, dash: str = "-") -> list[str]:
    """Each agent's bootstrap rank interval as ``low-high``, or :data:`UNSCORED` for an agent
    without a finished match (all its matches diverged or failed)."""
    return [
        f"{lo}{dash}{hi}" if seeds else UNSCORED
        for lo, hi, seeds in zip(rank["rank_low"], rank["rank_high"], rank["seeds"], strict=True)
    ]


def outcomes(side_rows: pd.DataFrame, draw_tol: float = DRAW_TOL) -> pd.DataFrame:
    """Wins, draws and losses of agent against opponent (finished matches only)."""
    finished = side_rows.dropna(subset=["reward", "opponent_reward"])
    margin = finished["reward"] - finished["opponent_reward"]
    counts = pd.DataFrame(
        {
            "agent": finished["agent"],
            "opponent": finished["opponent"],
            "wins": margin > draw_tol,
            "draws": margin.abs() <= draw_tol,
            "losses": margin < -draw_tol,
        }
    )
    table = counts.groupby(["agent", "opponent"]).sum().astype("int64")
    table["matches"] = table.sum(axis=1)
    return table.reset_index()


def outcome_totals(outcome_table: pd.DataFrame) -> pd.DataFrame:
    """Wins, draws and losses of each agent over all its opponents."""
    columns = ["wins", "draws", "losses", "matches"]
    return outcome_table.groupby("agent", sort=False)[columns].sum().reset_index()


def tft_like(side_rows: pd.DataFrame, tft_tol: float = TFT_TOL) -> pd.Series:
    """Per side row: is its final policy within ``tft_tol`` of Tit For Tat's (module doc)."""
    near = 1 - tft_tol
    return (
        (side_rows["p_coop_cc"] >= near)
        & (side_rows["p_coop_dc"] >= near)
        & (side_rows["p_coop_cd"] <= tft_tol)
        & (side_rows["p_coop_dd"] <= tft_tol)
    )


def cooperation_by_group(
    side_rows: pd.DataFrame, game: GameInfo, tft_tol: float = TFT_TOL
) -> pd.DataFrame:
    """Per agent and opponent group (:data:`GROUPS` and ``all opponents``): the mean final
    P(C | state), the game's measure (``game.measure``), the share of TFT-like final policies
    (games with cooperation only) and the number of final policies averaged (a self-play
    match gives two)."""
    p_columns = [column for column, _ in game.policy_columns]
    finished = side_rows.dropna(subset=p_columns, how="all").copy()
    measure = game.measure[0]
    values = list(dict.fromkeys([*p_columns, measure]))
    if game.has_cooperation:
        finished["tft_like"] = tft_like(finished, tft_tol).astype(float)
        values.append("tft_like")
    grouped = finished.groupby(["agent", "group"])[values].mean()
    grouped["policies"] = finished.groupby(["agent", "group"]).size()
    overall = finished.groupby("agent")[values].mean()
    overall["policies"] = finished.groupby("agent").size()
    overall = pd.concat({ALL_OPPONENTS: overall}, names=["group"]).swaplevel()
    return pd.concat([grouped, overall]).reset_index()


def cooperation_table(by_group: pd.DataFrame, game: GameInfo) -> pd.DataFrame:
    """One row per agent: the game's measure per opponent group, and the TFT-like share."""
    measure = game.measure[0]
    table = by_group.pivot(index="agent", columns="group", values=measure)
    table = table.reindex(columns=[g for g in (*GROUPS, ALL_OPPONENTS) if g in table.columns])
    table.columns = [f"{measure} {g}" for g in table.columns]
    if "tft_like" in by_group.columns:
        overall = by_group[by_group["group"] == ALL_OPPONENTS].set_index("agent")
        table["tft_like"] = overall["tft_like"]
    table.columns.name = None
    return table.reset_index()


def status_shares(matches: pd.DataFrame, side_rows: pd.DataFrame) -> pd.DataFrame:
    """Per agent and over all matches: number of matches and the share ok/diverged/failed."""

    def shares(status: pd.Series) -> dict:
        row = {"matches": len(status)}
        row.update({s: float((status == s).mean()) for s in STATUSES})
        return row

    # A self-play match appears twice among the side rows; count it once per agent.
    once = side_rows.drop_duplicates(["sweep", "match_id", "agent"])
    rows = {agent: shares(group["status"]) for agent, group in once.groupby("agent")}
    rows[ALL_MATCHES] = shares(matches["status"])
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "agent"
    return table.reset_index()


def swept_options(side_rows: pd.DataFrame) -> dict[str, list[str]]:
    """Per learner kind, the stored options that take more than one value among its agents
    and are not determined by the options before them (options a kind does not read are
    null, so they are never swept)."""
    learners = side_rows[side_rows["learner"]].drop_duplicates("agent")
    swept = {}
    for kind, group in learners.groupby("kind", sort=False):
        options = []
        for option in STORED_OPTION_NAMES:
            if group[option].dropna().nunique() < 2:
                continue
            # left out when the options kept so far determine it (lr_in swept as lr is)
            if options and (group.groupby(options)[option].nunique(dropna=False) <= 1).all():
                continue
            options.append(option)
        if options:
            swept[kind] = options
    return swept


def hyperparameter_table(side_rows: pd.DataFrame, game: GameInfo) -> pd.DataFrame:
    """Each learner of a kind swept over some option: its swept options, and per opponent
    set (``self-play``, ``all opponents``) the mean over seeds of its final reward and of the
    game's measure (``game.measure``), with their 95% CI and the number of seeds.

    All opponents: per seed, the mean over opponents (the ranking's score for the reward).
    """
    swept = swept_options(side_rows)
    if not swept:
        return pd.DataFrame()
    measure = game.measure[0]
    rows = side_rows[side_rows["kind"].isin(list(swept))]
    options = [o for o in STORED_OPTION_NAMES if any(o in v for v in swept.values())]
    base = rows.drop_duplicates("agent").set_index("agent")[["kind", *options]]
    tables = []
    for opponents, subset in (
        ("self-play", rows[rows["group"] == GROUPS[0]]),
        (ALL_OPPONENTS, rows),
    ):
        if subset.empty:
            continue
        stats = {}
        for value in ("reward", measure):
            summary = mean_ci(per_seed_scores(subset, value).groupby("agent"))
            stats[value] = summary["mean"]
            stats[f"{value}_ci95"] = summary["ci95"]
            stats["seeds"] = summary["n"]
        # left: an agent whose matches all diverged or failed keeps its row, without values
        agents = base.index.intersection(subset["agent"].unique())
        table = base.loc[agents].join(pd.DataFrame(stats), how="left")
        table["seeds"] = table["seeds"].fillna(0).astype("int64")
        table.insert(1, "opponents", opponents)
        tables.append(table)
    return pd.concat(tables).reset_index()


@dataclass
class TournamentSummary:
    """The tables of one tournament; agents are ordered by rank everywhere."""

    game: GameInfo
    ranking: pd.DataFrame
    payoffs: pd.DataFrame
    payoff_matrix: pd.DataFrame
    outcomes: pd.DataFrame
    outcome_totals: pd.DataFrame
    cooperation: pd.DataFrame
    cooperation_by_group: pd.DataFrame
    hyperparameters: pd.DataFrame
    status: pd.DataFrame
    side_rows: pd.DataFrame

    @property
    def agents(self) -> list[str]:
        return list(self.ranking["agent"])

    @property
    def kind_of(self) -> dict[str, str]:
        return dict(zip(self.ranking["agent"], self.ranking["kind"], strict=True))

    @property
    def kinds(self) -> list[str]:
        """Kinds ordered by their best agent's rank."""
        return list(dict.fromkeys(self.ranking["kind"]))

    @property
    def learners(self) -> set[str]:
        return set(self.side_rows.loc[self.side_rows["learner"], "agent"])

    @property
    def learner_kinds(self) -> list[str]:
        """The kinds with a learning rule, by their best agent's rank."""
        learners = self.learners
        return [k for k in self.kinds if any(self.kind_of[a] == k for a in learners)]

    @property
    def kind_order(self) -> list[str]:
        """Learner kinds by best rank, then the fixed strategies' kinds by rank."""
        learner_kinds = self.learner_kinds
        return [*learner_kinds, *(k for k in self.kinds if k not in learner_kinds)]

    def kind_matrix(self) -> pd.DataFrame:
        """Mean over agents of the payoff matrix per pair of kinds (:attr:`kind_order`)."""
        kind_of = self.kind_of
        payoffs = self.payoffs.assign(
            row=self.payoffs["agent"].map(kind_of), column=self.payoffs["opponent"].map(kind_of)
        )
        matrix = payoffs.groupby(["row", "column"])["mean"].mean().unstack("column")
        matrix = matrix.reindex(index=self.kind_order, columns=self.kind_order)
        matrix.index.name, matrix.columns.name = "kind", "opponent kind"
        return matrix

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables written by :func:`write_tables`, by file stem."""
        tables = {
            "ranking": self.ranking,
            "payoff_matrix": self.payoff_matrix.reset_index(),
            "payoff_matrix_by_kind": self.kind_matrix().reset_index(),
            "payoffs": self.payoffs,
            "outcomes": self.outcomes,
            "outcome_totals": self.outcome_totals,
            "cooperation": self.cooperation,
            "cooperation_by_group": self.cooperation_by_group,
            "status": self.status,
        }
        if not self.hyperparameters.empty:
            tables["hyperparameters"] = self.hyperparameters
        return tables


def summarize(
    matches: pd.DataFrame,
    game: GameInfo | None = None,
    draw_tol: float = DRAW_TOL,
    tft_tol: float = TFT_TOL,
) -> TournamentSummary:
    """All tables of the module doc for the matches of one game (``game``: its payoffs, which
    decide the measures and labels; default an unknown game of the matches' name)."""
    _one_game(matches)
    if game is None:
        game = GameInfo(str(matches["game"].iloc[0]))
    side_rows = sides(matches, game=game)
    rank = ranking(side_rows)
    order = list(rank["agent"])
    position = {agent: i for i, agent in enumerate(order)}

    def by_rank(table: pd.DataFrame, *columns: str) -> pd.DataFrame:
        keys = [table[c].map(position) for c in columns]
        sort = pd.DataFrame({f"k{i}": k for i, k in enumerate(keys)})
        return table.loc[sort.sort_values(list(sort.columns)).index].reset_index(drop=True)

    pairs = by_rank(payoffs(side_rows), "agent", "opponent")
    matrix = pairs.pivot(index="agent", columns="opponent", values="mean")
    matrix = matrix.reindex(index=order, columns=order)
    matrix.index.name, matrix.columns.name = "agent", "opponent"
    status = status_shares(matches, side_rows)
    status = pd.concat(
        [
            by_rank(status[status["agent"] != ALL_MATCHES], "agent"),
            status[status["agent"] == ALL_MATCHES],
        ],
        ignore_index=True,
    )
    outcome_table = by_rank(outcomes(side_rows, draw_tol), "agent", "opponent")
    by_group = cooperation_by_group(side_rows, game, tft_tol)
    hyper = hyperparameter_table(side_rows, game)
    if not hyper.empty:
        hyper = by_rank(hyper, "agent")
    return TournamentSummary(
        game=game,
        ranking=rank,
        payoffs=pairs,
        payoff_matrix=matrix,
        outcomes=outcome_table,
        outcome_totals=by_rank(outcome_totals(outcome_table), "agent"),
        cooperation=by_rank(cooperation_table(by_group, game), "agent"),
        cooperation_by_group=by_rank(by_group, "agent"),
        hyperparameters=hyper,
        status=status,
        side_rows=side_rows,
    )


def _cell(value) -> str:
    if isinstance(value, float | np.floating):
        return "–" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub Markdown table (floats to 3 decimals, NaN as a dash), without the index."""
    header = [str(c) for c in table.columns]
    rows = [[_cell(v) for v in row] for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ranking_text(ranking: pd.DataFrame) -> pd.DataFrame:
    """The ranking's columns as shown, the bootstrap rank interval as ``lo-hi``."""
    table = ranking[["rank", "agent", "kind", "score", "ci95", "seeds"]].copy()
    if {"rank_low", "rank_high"} <= set(ranking.columns):
        table["rank 95%"] = rank_intervals(ranking)
    return table


def numbered_matrix(summary: TournamentSummary, with_ci: bool = True) -> pd.DataFrame:
    """The payoff matrix with columns named by rank (rows "1 label"), cells "mean ± ci"."""
    ci = summary.payoffs.pivot(index="agent", columns="opponent", values="ci95")
    ci = ci.reindex(index=summary.agents, columns=summary.agents)
    cells = {}
    for j, opponent in enumerate(summary.agents, start=1):
        column = []
        for agent in summary.agents:
            mean, half = summary.payoff_matrix.at[agent, opponent], ci.at[agent, opponent]
            text = _cell(float(mean))
            if with_ci and not math.isnan(half):
                text += f" ± {half:.3f}"
            column.append(text)
        cells[str(j)] = column
    rows = [f"{i} {agent}" for i, agent in enumerate(summary.agents, start=1)]
    return pd.DataFrame({"agent (row) vs opponent (column)": rows, **cells})


def write_tables(summary: TournamentSummary, out_dir: str | Path) -> dict[str, Path]:
    """Each table as CSV and Markdown in ``out_dir/tables``; returns the CSV paths by name."""
    tables_dir = Path(out_dir) / "tables"
    tables_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, table in summary.tables().items():
        markdown = numbered_matrix(summary) if name == "payoff_matrix" else table
        written[name] = write_table(table, tables_dir, name, markdown)
    return written


def write_table(
    table: pd.DataFrame, tables_dir: Path, name: str, markdown: pd.DataFrame | None = None
) -> Path:
    """``tables_dir/name.csv`` and ``name.md`` (of ``markdown``, default the table itself)."""
    csv = tables_dir / f"{name}.csv"
    table.to_csv(csv, index=False)
    (tables_dir / f"{name}.md").write_text(
        to_markdown(table if markdown is None else markdown) + "\n"
    )
    return csv
