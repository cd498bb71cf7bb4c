"""The figures of a tournament, designed for 10 to 200 agents: matplotlib ``Figure`` objects
saved as PNG (150 dpi) and SVG.

Every figure is bounded (:data:`MAX_INCHES` a side, under 3000 px at :data:`DPI`) whatever the
number of agents: row heights and fonts shrink with the count, labels give way to kind labels
when they would be unreadable, and agents are grouped and coloured by kind (:class:`Palette`:
one hue per learning rule, shades by hyperparameter; fixed strategies in greys). Figures are
built without pyplot, so they render headless with the Agg canvas, touch no global state and
show in a notebook via ``display(fig)``. Kinds are never named here: learners are the sides that
store options, and the options a kind sweeps are read from the stored columns.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap, to_rgb
from matplotlib.figure import Figure

from agents.options import BY_NAME
from analysis.curves import curve_lines
from analysis.summary import (
    ALL_OPPONENTS,
    DRAW_TOL,
    GROUPS,
    TournamentSummary,
    rank_intervals,
    swept_options,
)
from sweeps.schema import STORED_OPTION_NAMES

DPI = 150
MAX_INCHES = 19.5  # 2925 px at 150 dpi
FIXED_HUE = "#707070"
FIXED = "fixed strategies"
SEQUENTIAL = "viridis"
DIVERGING = "RdBu"
LINESTYLES = ("-", "--", ":", "-.")
MIN_FONT = 4.5  # points: agents get their own tick labels down to this size, else kind labels
TOP_ECOSYSTEM = 10


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kwargs):
    """A constrained-layout figure, each side at most :data:`MAX_INCHES`."""
    size = (min(width, MAX_INCHES), min(height, MAX_INCHES))
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def _row_inches(n: int, base: float = 1.6, per_row: float = 0.2) -> float:
    return min(MAX_INCHES, base + per_row * n)


def _font_for(rows: int, inches: float) -> float:
    """A tick-label font size (points) that fits ``rows`` labels into ``inches``."""
    return float(min(9.0, 72 * inches / max(rows, 1) * 0.75))


def save(fig: Figure, out_dir: str | Path, name: str) -> list[Path]:
    """Write ``name.png`` (:data:`DPI`) and ``name.svg`` into ``out_dir``; return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=DPI)
    fig.savefig(paths[1])
    return paths


def learner_hues(n: int) -> list[tuple[float, float, float]]:
    """``n`` hues for ``n`` learner kinds: evenly spaced around the perceptually uniform HUSL
    circle (seaborn's ``husl_palette``), so any number of kinds stays distinct; saturated and
    mid-light, apart from the greys of the fixed strategies."""
    return [tuple(c) for c in sns.husl_palette(n, s=0.9, l=0.55)]


def _shades(hue, n: int) -> list[tuple[float, float, float]]:
    """``n`` shades of one hue, light to dark."""
    h, lightness, s = colorsys.rgb_to_hls(*to_rgb(hue))
    if n == 1:
        return [to_rgb(hue)]
    levels = np.linspace(min(0.75, lightness + 0.22), max(0.22, lightness - 0.2), n)
    return [colorsys.hls_to_rgb(h, level, s) for level in levels]


class Palette:
    """Colours by kind: each learner kind its own hue, its agents shades of it ordered by their
    options (darker: larger values); fixed strategies share greys. ``block`` groups agents for
    separators and legends: a learner's kind, or :data:`FIXED`."""

    def __init__(self, summary: TournamentSummary):
        kind_of, learners = summary.kind_of, summary.learners
        learner_kinds = summary.learner_kinds
        self.hue = dict(zip(learner_kinds, learner_hues(len(learner_kinds)), strict=True))
        self.hue[FIXED] = FIXED_HUE
        self.block = {a: kind_of[a] if a in learners else FIXED for a in summary.agents}
        self.blocks = [*learner_kinds, *([FIXED] if FIXED in self.block.values() else [])]
        options = summary.side_rows.drop_duplicates("agent").set_index("agent")
        self.colour = {}
        for block in self.blocks:
            members = [a for a in summary.agents if self.block[a] == block]
            if block != FIXED:
                members = sorted(members, key=lambda a: _option_key(options.loc[a]))
            shades = _shades(self.hue[block], len(members))
            if block == FIXED:  # neighbours in rank get far-apart greys
                shades = shades[::2] + shades[1::2]
            for agent, shade in zip(members, shades, strict=True):
                self.colour[agent] = shade

    def handles(self) -> list:
        """Legend handles: one marker per block in its base hue."""
        from matplotlib.lines import Line2D

        return [
            Line2D([], [], marker="o", linestyle="", color=self.hue[b], label=b, markersize=7)
            for b in self.blocks
        ]

    def order(self, agents: Sequence[str]) -> list[str]:
        """``agents`` in blocks (learner kinds by best rank, then fixed strategies), each in
        the given order."""
        position = {b: i for i, b in enumerate(self.blocks)}
        return sorted(agents, key=lambda a: (position[self.block[a]], list(agents).index(a)))


def _option_key(row: pd.Series) -> tuple:
    return tuple(
        (0, str(v)) if isinstance(v, str) else (1, float(v)) if pd.notna(v) else (2, "")
        for v in (row.get(o) for o in STORED_OPTION_NAMES)
    )


def _short(agent: str, kind: str) -> str:
    """An agent's label without its kind: ``lola(lr=1,k=2)`` -> ``lr=1,k=2``."""
    if agent.startswith(f"{kind}(") and agent.endswith(")"):
        return agent[len(kind) + 1 : -1]
    return agent


def _block_spans(order: Sequence[str], palette: Palette) -> list[tuple[str, int, int]]:
    """(block, first index, end index) of each run of one block in ``order``."""
    spans, start = [], 0
    for i in range(1, len(order) + 1):
        if i == len(order) or palette.block[order[i]] != palette.block[order[start]]:
            spans.append((palette.block[order[start]], start, i))
            start = i
    return spans


def _agent_axis(ax, order: Sequence[str], palette: Palette, axis: str, inches: float) -> None:
    """Tick labels of agents along ``axis`` (x or y) coloured by kind when they fit in
    ``inches`` at :data:`MIN_FONT` or more; else one label per block at its centre (no labels
    when the blocks are not contiguous runs)."""
    n = len(order)
    set_ticks = ax.set_yticks if axis == "y" else ax.set_xticks
    font = _font_for(n, inches)
    if font >= MIN_FONT:
        set_ticks(np.arange(n), list(order), fontsize=font)
        labels = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
        for label, agent in zip(labels, order, strict=True):
            label.set_color(_darker(palette.colour[agent]))
    else:
        spans = _block_spans(order, palette)
        if len(spans) == len(palette.blocks):
            centres = [(a + b - 1) / 2 for _, a, b in spans]
            set_ticks(centres, [s for s, _, _ in spans], fontsize=8)
        else:
            set_ticks([])
    if axis == "x":
        ax.tick_params(axis="x", labelrotation=90)


def _darker(colour) -> tuple[float, float, float]:
    h, lightness, s = colorsys.rgb_to_hls(*to_rgb(colour))
    return colorsys.hls_to_rgb(h, min(lightness, 0.45), s)


def _separators(ax, order: Sequence[str], palette: Palette, axis: str = "both") -> None:
    for _, start, _ in _block_spans(order, palette)[1:]:
        if axis in ("both", "y"):
            ax.axhline(start - 0.5, color="white", linewidth=1.5)
        if axis in ("both", "x"):
            ax.axvline(start - 0.5, color="white", linewidth=1.5)


def ranking(summary: TournamentSummary) -> Figure:
    """Each agent's score (mean reward per step over opponents) with its 95% CI over seeds,
    best on top, coloured by kind; reference lines from the game's payoffs; the bootstrap rank
    interval on the right."""
    rank, game = summary.ranking, summary.game
    palette = Palette(summary)
    n = len(rank)
    height = _row_inches(n, base=2.2, per_row=0.19)
    fig, axes = _figure(9.5, height)
    ax = axes[0, 0]
    y = np.arange(n)
    size = float(np.clip(120 / max(n, 1) ** 0.7, 2.5, 7))
    for block in palette.blocks:
        mine = rank[[palette.block[a] == block for a in rank["agent"]]]
        ax.errorbar(
            mine["score"],
            y[mine.index],
            xerr=mine["ci95"].fillna(0),
            fmt="none",
            ecolor=[palette.colour[a] for a in mine["agent"]],
            elinewidth=1,
        )
        ax.scatter(
            mine["score"],
            y[mine.index],
            s=size**2,
            color=[palette.colour[a] for a in mine["agent"]],
            edgecolor="black",
            linewidth=0.3,
            zorder=3,
        )
    handles = palette.handles()
    for (label, value), style in zip(game.references(), LINESTYLES[1:], strict=False):
        handles.append(
            ax.axvline(
                value, color="0.3", linestyle=style, linewidth=1, label=f"{label} ({value:g})"
            )
        )
    _agent_axis(ax, list(rank["agent"]), palette, "y", height)
    ax.set_ylim(n - 0.5, -0.5)
    ax.grid(axis="x", color="0.9")
    ax.set_axisbelow(True)
    ax.set_xlabel("score: mean reward per step over opponents (95% CI over seeds)")
    if _font_for(n, height) >= MIN_FONT and {"rank_low", "rank_high"} <= set(rank.columns):
        right = ax.secondary_yaxis("right")
        right.set_yticks(
            y,
            rank_intervals(rank, dash="–"),
            fontsize=_font_for(n, height),
        )
        right.set_ylabel("rank (95% bootstrap interval)", fontsize=8)
    ax.set_title(f"Ranking of {n} agents")
    fig.legend(handles=handles, loc="outside upper center", ncols=min(5, len(handles)), fontsize=8)
    return fig


def _agent_heatmap(ax, values: np.ndarray, order, palette: Palette, side: float, **imshow):
    """Agents (rows) against opponents (columns) in kind blocks with separators, agent labels
    on both axes, the values written up to 12 agents; returns the image."""
    image = ax.imshow(values, aspect="auto", interpolation="none", **imshow)
    _agent_axis(ax, order, palette, "y", side)
    _agent_axis(ax, order, palette, "x", side)
    _separators(ax, order, palette)
    if len(order) <= 12:
        _annotate(ax, values, image)
    ax.set_xlabel("opponent")
    ax.set_ylabel("agent")
    return image


def payoff_matrix(summary: TournamentSummary) -> Figure:
    """Mean final reward of the row agent against the column agent, agents in kind blocks
    (by rank within a block) with separators, next to the kind x kind means."""
    palette = Palette(summary)
    order = palette.order(summary.agents)
    matrix = summary.payoff_matrix.reindex(index=order, columns=order).to_numpy(float)
    by_kind = summary.kind_matrix()
    kinds = list(by_kind.index)
    n, k = len(order), len(kinds)
    side = float(np.clip(3 + 0.2 * n, 6, 12.5))
    kind_side = float(np.clip(2 + 0.38 * k, 4, 7.5))
    fig, axes = _figure(
        side + kind_side + 1.5, max(side, kind_side) + 1.2, ncols=2, width_ratios=[side, kind_side]
    )
    finite = matrix[np.isfinite(matrix)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    cmap = _with_bad(SEQUENTIAL)
    ax = axes[0, 0]
    image = _agent_heatmap(ax, matrix, order, palette, side, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_title(f"Payoff matrix, {n} agents in kind blocks")
    ax = axes[0, 1]
    grid = by_kind.to_numpy(float)
    image = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="none")
    ax.set_xticks(np.arange(k), kinds, rotation=90, fontsize=_font_for(k, kind_side))
    ax.set_yticks(np.arange(k), kinds, fontsize=_font_for(k, kind_side))
    if k <= 16:
        _annotate(ax, grid, image, fontsize=7 if k > 10 else 8)
    ax.set_title("Mean over the agents of each kind")
    ax.set_xlabel("opponent kind")
    fig.colorbar(image, ax=list(axes.flat), shrink=0.6, label="mean reward per step (row agent)")
    return fig


def payoff_difference(summary: TournamentSummary) -> Figure:
    """Axelrod's pdplot: ``M[X, Y] - M[Y, X]``, how much more the row agent gets than the
    column agent when they meet, agents in kind blocks; red: the row loses, blue: it wins."""
    palette = Palette(summary)
    order = palette.order(summary.agents)
    matrix = summary.payoff_matrix.reindex(index=order, columns=order).to_numpy(float)
    difference = matrix - matrix.T  # [N, N], antisymmetric
    n = len(order)
    side = float(np.clip(3 + 0.2 * n, 6, 14))
    fig, axes = _figure(side + 2.2, side + 0.8)
    ax = axes[0, 0]
    finite = np.abs(difference[np.isfinite(difference)])
    limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    cmap = _with_bad(DIVERGING)
    image = _agent_heatmap(ax, difference, order, palette, side, cmap=cmap, vmin=-limit, vmax=limit)
    ax.set_title("Payoff difference: row agent's reward minus the column agent's when they meet")
    fig.colorbar(image, ax=ax, shrink=0.6, label="reward per step, row minus column")
    return fig


def wins(summary: TournamentSummary) -> Figure:
    """Axelrod's winplot: for each agent (by rank, coloured by kind), the share of its matches
    it won (its reward beats the opponent's by more than ``DRAW_TOL``), one value per seed,
    as a box over seeds."""
    palette = Palette(summary)
    order = summary.agents
    rows = summary.side_rows[summary.side_rows["status"] == "ok"]
    won = rows["reward"] > rows["opponent_reward"] + DRAW_TOL
    per_seed = rows.assign(won=won).groupby(["agent", "seed"])["won"].mean()
    shares = [per_seed.get(agent, pd.Series(dtype=float)).to_numpy() for agent in order]
    n = len(order)
    height = _row_inches(n, base=1.6, per_row=0.2)
    fig, axes = _figure(8.5, height)
    ax = axes[0, 0]
    boxes = ax.boxplot(
        shares,
        orientation="horizontal",
        positions=range(n),
        widths=0.6,
        patch_artist=True,
        showfliers=False,
        medianprops={"color": "black"},
    )
    for patch, agent in zip(boxes["boxes"], order, strict=True):
        patch.set_facecolor(palette.colour[agent])
    ax.set_ylim(n - 0.5, -0.5)
    _agent_axis(ax, order, palette, "y", height)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("share of its matches an agent won, one value per seed")
    ax.set_title(f"Wins of {n} agents (Axelrod's winplot)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _with_bad(name: str) -> ListedColormap:
    from matplotlib import colormaps

    return colormaps[name].with_extremes(bad="0.85")


def _annotate(ax, grid: np.ndarray, image, fontsize: float = 8) -> None:
    for (i, j), value in np.ndenumerate(grid):
        if np.isfinite(value):
            r, g, b, _ = image.cmap(image.norm(value))
            colour = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
            text = f"{value:.2f}".replace("-0.00", "0.00")
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=colour)


def cooperation(summary: TournamentSummary) -> Figure | None:
    """Final P(C | state) per agent (rows, in kind blocks) and state, one panel per opponent
    group; zero-sum games centre the colours on the Nash policy."""
    game = summary.game
    palette = Palette(summary)
    order = palette.order(summary.agents)
    table = summary.cooperation_by_group
    groups = [g for g in GROUPS if (table["group"] == g).any()]
    columns = [column for column, _ in game.policy_columns]
    if not groups or table[columns].isna().all().all():
        return None  # no policy over states (a differentiable game)
    n = len(order)
    height = _row_inches(n, base=2.2, per_row=0.19)
    fig, axes = _figure(3.4 + 2.3 * len(groups), height, ncols=len(groups), sharey=True)
    nash = game.nash
    if nash is not None and nash[0] == nash[1]:
        norm = {
            "vmin": nash[0] - max(nash[0], 1 - nash[0]),
            "vmax": nash[0] + max(nash[0], 1 - nash[0]),
        }
        cmap = _with_bad(DIVERGING)
    else:
        norm, cmap = {"vmin": 0.0, "vmax": 1.0}, _with_bad(SEQUENTIAL)
    for ax, group in zip(axes.flat, groups, strict=True):
        grid = table[table["group"] == group].set_index("agent")[columns].reindex(order)
        values = grid.to_numpy(float)
        image = ax.imshow(values, cmap=cmap, aspect="auto", interpolation="none", **norm)
        policies = int(table.loc[table["group"] == group, "policies"].sum())
        ax.set_title(f"{group}\n({policies} final policies)", fontsize=10)
        labels = [label for _, label in game.policy_columns]
        if game.coin:  # two columns: the labels on two lines each
            labels = [label.replace(" ", "\n", 1) for label in labels]
        ax.set_xticks(np.arange(len(columns)), labels)
        _separators(ax, order, palette, axis="y")
        if n <= 15:
            _annotate(ax, values, image, fontsize=7)
    _agent_axis(axes[0, 0], order, palette, "y", height)
    fig.supxlabel(f"{'measure' if game.coin else 'state'} ({game.state_note})", fontsize=9)
    fig.colorbar(
        image,
        ax=list(axes.flat),
        location="bottom",
        shrink=0.5,
        aspect=40,
        label=f"final {game.p_label}",
    )
    return fig


@dataclass
class LinePlan:
    """How the agents of one learner kind are drawn as lines: ``line_of`` maps each agent to
    its line's label, ``styles`` each line to (colour, line style); ``averaged``: the swept
    options averaged within a line."""

    line_of: dict[str, str]
    lines: list[str]
    styles: dict[str, tuple]
    averaged: list[str]


def _line_plans(summary: TournamentSummary) -> dict[str, LinePlan]:
    """Per learner kind: colour shade by its first swept option, line style by the second
    (if it takes at most 4 values); further options are averaged within a line."""
    swept = swept_options(summary.side_rows)
    options = summary.side_rows.drop_duplicates("agent").set_index("agent")
    palette = Palette(summary)
    plans = {}
    for kind in summary.learner_kinds:
        agents = [a for a in summary.agents if summary.kind_of[a] == kind]
        names = swept.get(kind, [])
        keys = names[:2]
        if len(keys) == 2 and options.loc[agents, keys[1]].nunique() > len(LINESTYLES):
            keys = keys[:1]
        levels = [sorted(options.loc[agents, o].unique()) for o in keys]
        shades = _shades(palette.hue[kind], len(levels[0]) if keys else 1)
        line_of, styles, order = {}, {}, {}
        for agent in agents:
            values = [options.at[agent, o] for o in keys]
            line = ",".join(
                f"{_option_short(o)}={_value_text(v)}" for o, v in zip(keys, values, strict=True)
            )
            line = line or _short(agent, kind)
            index = [level.index(v) for level, v in zip(levels, values, strict=True)]
            line_of[agent] = line
            order[line] = tuple(index)
            styles[line] = (
                shades[index[0] if index else 0],
                LINESTYLES[index[1] if len(index) > 1 else 0],
            )
        lines = sorted(order, key=order.get)
        plans[kind] = LinePlan(line_of, lines, styles, [o for o in names if o not in keys])
    return plans


def _option_short(option: str) -> str:
    """An option's name in agent labels (:attr:`agents.options.Option.label`)."""
    return BY_NAME[option].label or option


def learning_curves(summary: TournamentSummary, samples: pd.DataFrame) -> Figure | None:
    """Reward per step over updates, one column per learner kind, in self-play (top) and
    averaged over all opponents (bottom); mean and 95% CI over seeds, clipped to the rewards
    the game allows. None without learners."""
    plans = _line_plans(summary)
    if not plans or samples.empty:
        return None
    game = summary.game
    kinds = list(plans)
    sets = [s for s in (GROUPS[0], ALL_OPPONENTS) if (samples["opponents"] == s).any()]
    ncols = len(kinds)
    fig, axes = _figure(
        1.2 + 3.6 * ncols,
        1.6 + 3.2 * len(sets),
        nrows=len(sets),
        ncols=ncols,
        sharey=True,
        sharex=True,
    )
    for col, kind in enumerate(kinds):
        plan = plans[kind]
        lines = curve_lines(samples, "reward", plan.line_of, clip=game.reward_range)
        for row, opponents in enumerate(sets):
            ax = axes[row, col]
            mine = lines[lines["opponents"] == opponents]
            _draw_lines(ax, mine, plan)
            for (_, value), style in zip(game.references(), LINESTYLES[1:], strict=False):
                ax.axhline(value, color="0.5", linestyle=style, linewidth=0.8)
            ax.set_title(f"{kind}, {opponents}", fontsize=10)
            ax.grid(color="0.92")
            if row == len(sets) - 1:
                ax.set_xlabel("update")
            if col == 0:
                ax.set_ylabel("reward per step")
        _line_legend(axes[-1, col], plan)
    styles = ("dashed", "dotted")
    references = "; ".join(
        f"{style}: {label} {value:g}"
        for (label, value), style in zip(game.references(), styles, strict=False)
    )
    fig.suptitle(
        "Reward per step over updates, mean and 95% CI over seeds"
        + (f" ({references})" if references else "")
    )
    return fig


def _draw_lines(ax, lines: pd.DataFrame, plan: LinePlan) -> None:
    for line in plan.lines:
        points = lines[lines["line"] == line]
        if points.empty:
            continue
        colour, style = plan.styles[line]
        ax.plot(
            points["update"],
            points["mean"],
            color=colour,
            linestyle=style,
            linewidth=1.4,
            label=line,
        )
        ax.fill_between(
            points["update"], points["low"], points["high"], color=colour, alpha=0.12, linewidth=0
        )


def _line_legend(ax, plan: LinePlan) -> None:
    title = f"mean over {', '.join(plan.averaged)}" if plan.averaged else None
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        ncols=2 if len(plan.lines) > 4 else 1,
        fontsize=7,
        title=title,
        title_fontsize=7,
        frameon=False,
    )


def policy_curves(summary: TournamentSummary, samples: pd.DataFrame) -> Figure | None:
    """P(C | state) over updates in self-play, one row per learner kind and one column per
    state; mean and 95% CI over seeds (the LOLA paper's picture). None without self-play."""
    plans = _line_plans(summary)
    self_play = samples[samples["opponents"] == GROUPS[0]] if not samples.empty else samples
    policy_columns = summary.game.policy_columns
    states = [c for c, _ in policy_columns if c in self_play.columns]
    if not plans or self_play.empty or not states or self_play[states].isna().all().all():
        return None
    game = summary.game
    kinds = [k for k in plans if self_play["agent"].isin(list(plans[k].line_of)).any()]
    if not kinds:
        return None
    fig, axes = _figure(
        2.3 + 2.6 * len(policy_columns),
        1.2 + 2.3 * len(kinds),
        nrows=len(kinds),
        ncols=len(policy_columns),
        sharex=True,
        sharey=True,
    )
    for row, kind in enumerate(kinds):
        plan = plans[kind]
        for col, (column, label) in enumerate(policy_columns):
            ax = axes[row, col]
            lines = curve_lines(self_play, column, plan.line_of, clip=(0.0, 1.0))
            _draw_lines(ax, lines, plan)
            if game.nash is not None:
                ax.axhline(game.nash[0], color="0.5", linestyle="--", linewidth=0.8)
            ax.set_ylim(-0.03, 1.03)
            ax.grid(color="0.92")
            if row == 0:
                ax.set_title(label if game.coin else f"state {label}", fontsize=10)
            if col == 0:
                ax.set_ylabel(kind if game.coin else f"{kind}\n{game.p_label}", fontsize=9)
            if row == len(kinds) - 1:
                ax.set_xlabel("update")
        axes[row, -1].legend(
            loc="center left",
            bbox_to_anchor=(1.02, 0.5),
            fontsize=7,
            frameon=False,
            title=f"mean over {', '.join(plan.averaged)}" if plan.averaged else None,
            title_fontsize=7,
        )
    note = " (dashed: Nash)" if game.nash is not None else ""
    title = f"{game.p_label} over updates in self-play"
    fig.suptitle(
        f"{title},\nmean and 95% CI over seeds{note}"
        if game.coin
        else f"{title}, mean and 95% CI over seeds{note}"
    )
    return fig


def hyperparameter_maps(summary: TournamentSummary) -> Figure | None:
    """For each learner kind swept over some option: final reward and the game's measure over
    the swept options (two on the axes, any others averaged), in self-play and against all
    opponents. One colour scale per metric across all panels; a cell of one agent shows its
    mean ± 95% CI over seeds."""
    table = summary.hyperparameters
    if table.empty:
        return None
    game = summary.game
    swept = swept_options(summary.side_rows)
    kinds = [k for k in Palette(summary).blocks if k in swept]
    measure, measure_label = game.measure
    sets = [s for s in (GROUPS[0], ALL_OPPONENTS) if (table["opponents"] == s).any()]
    metrics = [("reward", "final reward per step"), (measure, measure_label)]
    panels = [(value, label, opponents) for value, label in metrics for opponents in sets]
    scales = {}
    for value, _ in metrics:
        finite = table[value].dropna()
        scales[value] = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    fig, axes = _figure(
        1.6 + 3.2 * len(panels), 1.6 + 2.4 * len(kinds), nrows=len(kinds), ncols=len(panels)
    )
    images = {}
    for row, kind in enumerate(kinds):
        rows = table[table["kind"] == kind]
        names = sorted(swept[kind], key=lambda o: -rows[o].nunique())
        x_option, y_option = names[0], (names[1] if len(names) > 1 else None)
        averaged = names[2:]
        for col, (value, label, opponents) in enumerate(panels):
            ax = axes[row, col]
            mine = rows[rows["opponents"] == opponents]
            means, halves, counts, x_values, y_values = _option_grid(
                mine, value, x_option, y_option
            )
            image = ax.imshow(
                means,
                cmap=_with_bad(SEQUENTIAL),
                vmin=scales[value][0],
                vmax=scales[value][1],
                aspect="auto",
                origin="lower",
            )
            images[value] = image
            for (i, j), mean in np.ndenumerate(means):
                if not np.isfinite(mean):
                    if counts[i, j]:  # agents there, none with a finished match
                        ax.text(j, i, "diverged\nor failed", ha="center", va="center", fontsize=7)
                    continue
                text = f"{mean:.2f}"
                if counts[i, j] == 1 and np.isfinite(halves[i, j]):
                    text += f"\n±{halves[i, j]:.2f}"
                r, g, b, _ = image.cmap(image.norm(mean))
                colour = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
            ax.set_xticks(np.arange(len(x_values)), [_value_text(v) for v in x_values])
            ax.set_xlabel(_option_label(x_option), fontsize=9)
            if y_option is None:
                ax.set_yticks([])
            else:
                ax.set_yticks(np.arange(len(y_values)), [_value_text(v) for v in y_values])
                ax.set_ylabel(_option_label(y_option), fontsize=9)
            if col == 0:
                ax.set_ylabel(
                    f"{kind}\n{_option_label(y_option)}" if y_option else kind, fontsize=10
                )
            seeds = int(mine["seeds"].max()) if len(mine) else 0
            note = f", mean over {', '.join(averaged)}" if averaged else ""
            ax.set_title(f"{label}\n{opponents}, {seeds} seeds{note}", fontsize=8)
    for value, label in metrics:
        columns = [
            axes[r, c] for r in range(len(kinds)) for c, p in enumerate(panels) if p[0] == value
        ]
        fig.colorbar(
            images[value], ax=columns, location="bottom", shrink=0.6, aspect=40, label=label
        )
    return fig


def _option_grid(rows: pd.DataFrame, value: str, x_option: str, y_option: str | None):
    """Means, CI half-widths and agent counts of ``value`` on a (y, x) grid of option values."""
    keys = [x_option] + ([y_option] if y_option else [])
    cells = rows.groupby(keys)[[value, f"{value}_ci95"]].mean()
    cells["count"] = rows.groupby(keys).size()
    x_values = sorted(rows[x_option].unique())
    y_values = sorted(rows[y_option].unique()) if y_option else [None]
    shape = (len(y_values), len(x_values))
    means, halves, counts = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape)
    for key, cell in cells.iterrows():
        x, y = (key, None) if y_option is None else key
        i, j = y_values.index(y), x_values.index(x)
        means[i, j], halves[i, j], counts[i, j] = cell[value], cell[f"{value}_ci95"], cell["count"]
    return means, halves, counts, x_values, y_values


def _value_text(value) -> str:
    return f"{value:g}" if isinstance(value, float | int | np.number) else str(value)


def _option_label(option: str) -> str:
    """An option on an axis: its name, and its label where that differs (``lookahead k``)."""
    short = _option_short(option)
    return option if short == option else f"{option} {short}"


def ecosystem(shares: pd.DataFrame, summary: TournamentSummary, top: int = TOP_ECOSYSTEM) -> Figure:
    """Population shares over generations of replicator dynamics (:mod:`analysis.ecology`):
    the ``top`` agents by final share, the rest as one "other" band."""
    palette = Palette(summary)
    final = shares.iloc[-1].sort_values(ascending=False)
    keep = list(final.index[:top])
    rest = [a for a in shares.columns if a not in keep]
    bands = shares[keep].copy()
    colours = [palette.colour[a] for a in keep]
    labels = [f"{a} ({final[a]:.0%})" for a in keep]
    if rest:
        bands[f"other ({len(rest)} agents)"] = shares[rest].sum(axis=1)
        colours.append((0.88, 0.88, 0.88))
        labels.append(f"other {len(rest)} agents ({final[rest].sum():.0%})")
    fig, axes = _figure(11, 5.5)
    ax = axes[0, 0]
    ax.stackplot(
        bands.index,
        bands.T.to_numpy(),
        labels=labels,
        colors=colours,
        edgecolor="white",
        linewidth=0.3,
    )
    ax.set_xlim(bands.index[0], bands.index[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel("generation")
    ax.set_ylabel("population share")
    ax.set_title(
        "Ecosystem: replicator dynamics over the payoff matrix, "
        f"top {len(keep)} of {shares.shape[1]} agents"
    )
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=8,
        frameon=False,
        title="share at the end",
        title_fontsize=8,
    )
    return fig
