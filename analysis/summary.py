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
- TFT-like: a side's final policy is within ``tft_tol`` of Tit For Tat's, i.e.
  ``P(C|cc) >= 1 - tft_tol``, ``P(C|dc) >= 1 - tft_tol``, ``P(C|cd) <= tft_tol`` and
  ``P(C|dd) <= tft_tol`` (states in the side's own view, "cd": I cooperated, they defected;
  the start state is ignored).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.typing import SeriesGroupBy

from sweeps.schema import STATES, STATUSES

DRAW_TOL = 1e-3
TFT_TOL = 0.1
SAMPLE = ["sweep", "seed"]
ALL_MATCHES = "(all matches)"


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


def sides(matches: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    """Each row twice, once from each side: agent, opponent, reward, opponent_reward, p_coop.

    ``matches`` holds match rows, or curve rows joined with their match's columns; the
    columns named in ``extra`` (e.g. ``update``) are copied to both views unchanged.
    """
    views = []
    for me, other in (("a", "b"), ("b", "a")):
        view = pd.DataFrame(
            {
                **{column: matches[column] for column in extra},
                "sweep": matches["sweep"],
                "game": matches["game"].astype(str),
                "match_id": matches["match_id"],
                "seed": matches["seed"],
                "status": matches["status"],
                "side": me,
                "agent": matches[f"agent_{me}"],
                "kind": matches[f"kind_{me}"],
                "lr": matches[f"lr_{me}"],
                "lookahead": matches[f"lookahead_{me}"],
                "opponent": matches[f"agent_{other}"],
                "reward": matches[f"reward_{me}"],
                "opponent_reward": matches[f"reward_{other}"],
                **{f"p_coop_{s}": matches[f"p_coop_{me}_{s}"] for s in STATES},
            }
        )
        views.append(view)
    return pd.concat(views, ignore_index=True)


def _one_game(matches: pd.DataFrame) -> None:
    if matches.empty:
        raise ValueError("matches: no rows to summarise (empty sweep or filters match nothing)")
    games = sorted(matches["game"].astype(str).unique())
    if len(games) > 1:
        raise ValueError(
            f"matches: a summary is for one game, got {', '.join(games)}; filter with game="
        )


def per_seed_payoffs(side_rows: pd.DataFrame) -> pd.DataFrame:
    """Mean reward of agent vs opponent per seed: agent, opponent, sweep, seed, reward."""
    keys = ["agent", "opponent", *SAMPLE]
    return side_rows.groupby(keys, sort=False)["reward"].mean().dropna().reset_index()


def payoffs(side_rows: pd.DataFrame) -> pd.DataFrame:
    """Per pairing (agent, opponent): mean, ci95 and n (seeds) of the final per-step reward."""
    per_seed = per_seed_payoffs(side_rows)
    return mean_ci(per_seed.groupby(["agent", "opponent"])["reward"]).reset_index()


def ranking(side_rows: pd.DataFrame) -> pd.DataFrame:
    """Agents by mean score over seeds (score: mean reward over opponents in one seed)."""
    per_seed = per_seed_payoffs(side_rows)
    score = per_seed.groupby(["agent", *SAMPLE])["reward"].mean()
    table = mean_ci(score.groupby("agent")).rename(columns={"mean": "score", "n": "seeds"})
    kinds = side_rows.groupby("agent")["kind"].first()
    table.insert(0, "kind", kinds.reindex(table.index))
    table = table.sort_values("score", ascending=False, kind="stable").reset_index()
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


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


def tft_like(side_rows: pd.DataFrame, tft_tol: float = TFT_TOL) -> pd.Series:
    """Per side row: is its final policy within ``tft_tol`` of Tit For Tat's (module doc)."""
    near = 1 - tft_tol
    return (
        (side_rows["p_coop_cc"] >= near)
        & (side_rows["p_coop_dc"] >= near)
        & (side_rows["p_coop_cd"] <= tft_tol)
        & (side_rows["p_coop_dd"] <= tft_tol)
    )


def cooperation(side_rows: pd.DataFrame, tft_tol: float = TFT_TOL) -> pd.DataFrame:
    """Per agent: mean final P(C | state) over its matches, and the fraction TFT-like.

    ``policies`` counts the final policies averaged (a self-play match gives two).
    """
    finished = side_rows.dropna(subset=[f"p_coop_{s}" for s in STATES])
    table = finished.groupby("agent")[[f"p_coop_{s}" for s in STATES]].mean()
    table["tft_like"] = tft_like(finished, tft_tol).groupby(finished["agent"]).mean()
    table["policies"] = finished.groupby("agent").size()
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


@dataclass
class TournamentSummary:
    """The tables of one tournament; agents are ordered by rank everywhere."""

    ranking: pd.DataFrame
    payoffs: pd.DataFrame
    payoff_matrix: pd.DataFrame
    outcomes: pd.DataFrame
    cooperation: pd.DataFrame
    status: pd.DataFrame
    side_rows: pd.DataFrame

    @property
    def agents(self) -> list[str]:
        return list(self.ranking["agent"])

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables written by :func:`write_tables`, by file stem."""
        return {
            "ranking": self.ranking,
            "payoff_matrix": self.payoff_matrix.reset_index(),
            "payoffs": self.payoffs,
            "outcomes": self.outcomes,
            "cooperation": self.cooperation,
            "status": self.status,
        }


def summarize(
    matches: pd.DataFrame, draw_tol: float = DRAW_TOL, tft_tol: float = TFT_TOL
) -> TournamentSummary:
    """All tables of the module doc for the matches of one game."""
    _one_game(matches)
    side_rows = sides(matches)
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
    return TournamentSummary(
        ranking=rank,
        payoffs=pairs,
        payoff_matrix=matrix,
        outcomes=by_rank(outcomes(side_rows, draw_tol), "agent", "opponent"),
        cooperation=by_rank(cooperation(side_rows, tft_tol), "agent"),
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
