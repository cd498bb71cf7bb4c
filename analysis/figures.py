"""The figures of a tournament: seaborn on matplotlib ``Figure`` objects, saved as PNG and SVG.

Figures are built without pyplot (``matplotlib.figure.Figure``), so they render headless with
the Agg canvas, do not touch global state, and show in a notebook via ``display(fig)``.
Colours come from seaborn's colour-blind palette; heatmaps use viridis.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.figure import Figure

from analysis.summary import TournamentSummary, mean_ci, per_seed_payoffs, sides
from sweeps.schema import STATES

PALETTE = "colorblind"
HEATMAP_CMAP = "viridis"
LOLA_KINDS = ("la", "lola", "lola-taylor", "sos")
LINESTYLES = ("-", "--", ":", "-.")


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1):
    fig = Figure(figsize=(width, height), layout="constrained")
    with sns.axes_style("whitegrid"):
        axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


@contextmanager
def _quiet_seaborn_boxplot():
    """seaborn 0.13 passes ``vert=`` to matplotlib >= 3.11, which warns; the plot is right."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "vert: bool", MatplotlibDeprecationWarning)
        yield


def _colours(n: int) -> list:
    return sns.color_palette(PALETTE, n)


def save(fig: Figure, out_dir: str | Path, name: str) -> list[Path]:
    """Write ``name.png`` (150 dpi) and ``name.svg`` into ``out_dir``; return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1])
    return paths


def payoff_heatmap(summary: TournamentSummary) -> Figure:
    """Mean final per-step reward of the row agent against the column agent."""
    n = len(summary.agents)
    fig, axes = _figure(max(6.0, 0.9 * n + 4), max(4.5, 0.6 * n + 3))
    sns.heatmap(
        summary.payoff_matrix,
        ax=axes[0, 0],
        cmap=HEATMAP_CMAP,
        annot=n <= 12,
        fmt=".2f",
        square=n <= 12,
        linewidths=0.5,
        cbar_kws={"label": "mean reward per step (row agent)"},
    )
    ax = axes[0, 0]
    ax.set_title("Payoff matrix: row agent vs column agent")
    ax.set_xlabel("opponent")
    ax.set_ylabel("agent")
    ax.tick_params(axis="x", labelrotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    return fig


def ranking_bars(summary: TournamentSummary) -> Figure:
    """Score (mean reward over opponents) per agent with its 95% CI over seeds, best on top."""
    rank = summary.ranking
    n = len(rank)
    fig, axes = _figure(8, max(3.0, 0.45 * n + 1.5))
    ax = axes[0, 0]
    y = np.arange(n)
    ax.barh(y, rank["score"], xerr=rank["ci95"].fillna(0), color=_colours(n), capsize=3)
    ax.set_yticks(y, rank["agent"])
    ax.invert_yaxis()
    ax.set_xlabel("mean reward per step over opponents (95% CI over seeds)")
    ax.set_title("Ranking")
    ax.grid(axis="y", visible=False)
    return fig


def learning_curves(
    curves: pd.DataFrame, matches: pd.DataFrame, order: Sequence[str] | None = None
) -> Figure | None:
    """Per-step reward vs update: one panel per learning agent (a side with an ``lr``), one
    line per opponent, mean and 95% CI over seeds (self-play: both sides averaged per match).
    Panels and colours follow ``order``; None when no agent learns."""
    meta = matches[["match_id", *(c for c in matches.columns if c not in curves.columns)]]
    side_rows = sides(curves.merge(meta, on="match_id", how="inner"), extra=["update"])
    long = side_rows[side_rows["lr"].notna()]  # learners: the sides with a learning rate
    if long.empty:
        return None
    per_match = long.groupby(["agent", "opponent", "match_id", "update"])["reward"].mean()
    stats = mean_ci(per_match.groupby(["agent", "opponent", "update"])).reset_index()
    everyone = list(order or sorted(set(matches["agent_a"]) | set(matches["agent_b"])))
    learners = [a for a in everyone if a in set(long["agent"])]
    colours = _colours(min(len(everyone), 10))
    style = {
        agent: (colours[i % len(colours)], LINESTYLES[(i // len(colours)) % len(LINESTYLES)])
        for i, agent in enumerate(everyone)
    }
    ncols = min(3, len(learners))
    nrows = -(-len(learners) // ncols)
    fig, axes = _figure(5 * ncols + 1, 3.6 * nrows + 1.2, ncols=ncols, nrows=nrows)
    for ax in axes.flat[len(learners) :]:
        ax.set_visible(False)
    for ax, agent in zip(axes.flat, learners, strict=False):
        mine = stats[stats["agent"] == agent]
        for opponent in [o for o in everyone if o in set(mine["opponent"])]:
            line = mine[mine["opponent"] == opponent]
            colour, dash = style[opponent]
            ax.plot(line["update"], line["mean"], color=colour, linestyle=dash, label=opponent)
            half = line["ci95"].fillna(0)
            low, high = line["mean"] - half, line["mean"] + half
            ax.fill_between(line["update"], low, high, color=colour, alpha=0.15)
        ax.set_title(agent, fontsize="medium")
        ax.set_xlabel("update")
        ax.set_ylabel("reward per step")
    handles = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    labels = [a for a in everyone if a in handles]
    fig.legend(
        [handles[a] for a in labels],
        labels,
        title="opponent",
        loc="outside lower center",
        ncols=min(4, len(labels)),
        fontsize="small",
        frameon=False,
    )
    fig.suptitle("Learning curves of each learning agent (mean and 95% CI over seeds)")
    return fig


def cooperation_by_state(summary: TournamentSummary) -> Figure:
    """Final P(C | state) per agent, one box and its points per agent in each state."""
    columns = [f"p_coop_{s}" for s in STATES]
    long = summary.side_rows.melt(
        id_vars=["agent"], value_vars=columns, var_name="state", value_name="P(C | state)"
    ).dropna()
    long["state"] = long["state"].str.removeprefix("p_coop_")
    n = len(summary.agents)
    fig, axes = _figure(max(8.0, 1.2 * n + 4), 5.5)
    ax = axes[0, 0]
    common = dict(
        data=long, x="state", y="P(C | state)", hue="agent", hue_order=summary.agents, ax=ax
    )
    with _quiet_seaborn_boxplot():
        sns.boxplot(**common, order=list(STATES), palette=PALETTE, fliersize=0, linewidth=0.8)
    sns.stripplot(**common, order=list(STATES), palette=PALETTE, dodge=True, size=2.5, legend=False)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("state (own view: cd = I cooperated, the opponent defected)")
    ax.set_title("Final probability of cooperation per state")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), fontsize="small", title=None)
    return fig


def hyperparameter_table(side_rows: pd.DataFrame) -> pd.DataFrame:
    """LOLA-type sides: mean final reward and cooperation per kind, lr and lookahead.

    cooperation: the mean over the five states of the final P(C | state).
    """
    rows = side_rows[side_rows["kind"].isin(LOLA_KINDS)].copy()
    rows["cooperation"] = rows[[f"p_coop_{s}" for s in STATES]].mean(axis=1, skipna=False)
    keys = ["kind", "lr", "lookahead"]
    table = rows.groupby(keys)[["reward", "cooperation"]].mean()
    table["matches"] = rows.groupby(keys).size()
    return table.reset_index()


def hyperparameter_heatmaps(side_rows: pd.DataFrame) -> Figure | None:
    """lr x lookahead heatmaps of final reward and cooperation for each LOLA-type kind that
    was swept over more than one lr or lookahead; None when there is none."""
    table = hyperparameter_table(side_rows)
    kinds = [
        kind
        for kind, group in table.groupby("kind")
        if group["lr"].nunique() > 1 or group["lookahead"].nunique() > 1
    ]
    if not kinds:
        return None
    fig, axes = _figure(11, 4 * len(kinds), ncols=2, nrows=len(kinds))
    for row, kind in enumerate(kinds):
        group = table[table["kind"] == kind]
        for col, (value, label) in enumerate(
            (("reward", "final reward per step"), ("cooperation", "final mean P(C | state)"))
        ):
            grid = group.pivot(index="lr", columns="lookahead", values=value)
            ax = axes[row, col]
            sns.heatmap(
                grid,
                ax=ax,
                cmap=HEATMAP_CMAP,
                annot=True,
                fmt=".2f",
                vmin=0 if value == "cooperation" else None,
                vmax=1 if value == "cooperation" else None,
                cbar_kws={"label": label},
            )
            ax.set_title(f"{kind}: {label}")
            ax.set_xlabel("lookahead k")
            ax.set_ylabel("learning rate")
    return fig


def seed_scores(summary: TournamentSummary) -> pd.DataFrame:
    """Per agent and seed: the agent's mean reward over its opponents (its score)."""
    per_seed = per_seed_payoffs(summary.side_rows)
    return per_seed.groupby(["agent", "sweep", "seed"])["reward"].mean().reset_index()


def reward_distribution(summary: TournamentSummary) -> Figure:
    """Distribution across seeds of each agent's score, best agent on top."""
    scores = seed_scores(summary)
    n = len(summary.agents)
    fig, axes = _figure(8, max(3.0, 0.45 * n + 1.5))
    ax = axes[0, 0]
    common = dict(data=scores, x="reward", y="agent", order=summary.agents, ax=ax)
    with _quiet_seaborn_boxplot():
        sns.boxplot(
            **common,
            hue="agent",
            hue_order=summary.agents,
            palette=PALETTE,
            fliersize=0,
            legend=False,
        )
    sns.stripplot(**common, color="black", size=3, alpha=0.6)
    ax.set_xlabel("mean reward per step over opponents, one point per seed")
    ax.set_ylabel("")
    ax.set_title("Reward distribution across seeds")
    return fig


def ecosystem_stackplot(shares: pd.DataFrame) -> Figure:
    """Population shares over replicator turns (see :mod:`analysis.ecology`)."""
    fig, axes = _figure(10, 5)
    ax = axes[0, 0]
    colours = _colours(shares.shape[1])
    ax.stackplot(shares.index, shares.T.to_numpy(), labels=list(shares.columns), colors=colours)
    ax.set_xlim(shares.index[0], shares.index[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel("turn")
    ax.set_ylabel("population share")
    ax.set_title("Ecosystem: replicator dynamics over the payoff matrix")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    return fig


def write_figures(
    summary: TournamentSummary,
    out_dir: str | Path,
    *,
    matches: pd.DataFrame | None = None,
    curves: pd.DataFrame | None = None,
    shares: pd.DataFrame | None = None,
) -> dict[str, list[Path]]:
    """Every figure that the data allows, as PNG and SVG in ``out_dir``, by name.

    Learning curves need ``curves``, ``matches`` and a learning agent; the ecosystem plot needs
    ``shares``;
    the hyperparameter heatmaps need LOLA-type agents swept over lr or lookahead.
    """
    figures = {
        "payoff_heatmap": payoff_heatmap(summary),
        "ranking": ranking_bars(summary),
        "cooperation_by_state": cooperation_by_state(summary),
        "reward_distribution": reward_distribution(summary),
    }
    if curves is not None and matches is not None and not curves.empty:
        curve_figure = learning_curves(curves, matches, summary.agents)
        if curve_figure is not None:
            figures["learning_curves"] = curve_figure
    sensitivity = hyperparameter_heatmaps(summary.side_rows)
    if sensitivity is not None:
        figures["hyperparameters"] = sensitivity
    if shares is not None:
        figures["ecosystem"] = ecosystem_stackplot(shares)
    return {name: save(fig, out_dir, name) for name, fig in figures.items()}
