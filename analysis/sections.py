"""The sections of a sweep's report, declared once, in page order (:data:`SECTIONS`).

Each :class:`Section` holds its key (the page anchor and the figure's file name), its heading
and one-line caption in the game's words, the function that draws its figure with the data it
takes (:class:`ReportData` fields, by name), its short tables, and the games it applies to. The
report's page (:func:`page_sections`), its figures (:func:`write_figures`) and its progress
steps derive from this list (:func:`analysis.report.write_report`).

Adding a figure: a draw function in :mod:`analysis.figures` (bounded with ``_figure``, coloured
by ``Palette``), one record here, and its test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml
from matplotlib.figure import Figure

from analysis import figures
from analysis.figures import save
from analysis.game import GameInfo, load_provenance
from analysis.load import load_sweep_config
from analysis.summary import ALL_MATCHES, INLINE_MATRIX, INLINE_ROWS, numbered_matrix, ranking_text

if TYPE_CHECKING:
    from analysis.summary import TournamentSummary

PROVENANCE_RUNS = 3  # runs shown in the provenance table (all are in provenance.yaml)
PROVENANCE_COLUMNS = (
    "started",
    "finished",
    "wall_s",
    "matches",
    "lola_arena",
    "python",
    "torch",
    "ray",
    "git_commit",
    "hostname",
    "cpus",
    "device",
    "cluster",
)

# A table of a section: the rows shown inline, the name of its full CSV (None: none), its rows.
Table = tuple[pd.DataFrame, str | None, int]


@dataclass(frozen=True)
class ReportData:
    """What the sections draw and tabulate. ``samples``: the curve samples
    (:func:`analysis.curves.curve_samples`; None without stored curves); ``shares``: the
    ecosystem (:func:`analysis.ecology.replicator`); ``comparison``: several sweeps side by
    side (:func:`analysis.report.compare_rankings`; None for one sweep)."""

    dirs: list[Path]
    summary: TournamentSummary
    samples: pd.DataFrame | None
    shares: pd.DataFrame
    comparison: pd.DataFrame | None

    @property
    def game(self) -> GameInfo:
        return self.summary.game


def _every_game(game: GameInfo) -> bool:
    return True


def _no_tables(data: ReportData) -> list[Table]:
    return []


@dataclass(frozen=True)
class Section:
    """One section of the report. ``heading`` and ``caption``: text, or the text from the data.
    ``draw``: its figure from the :class:`ReportData` fields named in ``needs``, in that order
    (None: nothing to show, and the section is left out). A section is left out when one of
    its ``needs`` is None or ``games`` refuses the game. ``details``: a collapsed block of
    preformatted text."""

    key: str
    heading: str | Callable[[ReportData], str]
    caption: str | Callable[[ReportData], str]
    draw: Callable[..., Figure | None] | None = None
    needs: tuple[str, ...] = ("summary",)
    tables: Callable[[ReportData], list[Table]] = _no_tables
    details: Callable[[ReportData], str] | None = None
    games: Callable[[GameInfo], bool] = _every_game

    def applies(self, data: ReportData) -> bool:
        return self.games(data.game) and all(getattr(data, n) is not None for n in self.needs)

    def figure(self, data: ReportData) -> Figure | None:
        return self.draw(*(getattr(data, name) for name in self.needs))

    def text(self, data: ReportData) -> tuple[str, str]:
        """The heading and the caption."""
        return tuple(v(data) if callable(v) else v for v in (self.heading, self.caption))


def inline(table: pd.DataFrame, csv: str | None) -> Table:
    """The first :data:`INLINE_ROWS` rows of ``table``, its CSV name and its row count."""
    return table.head(INLINE_ROWS), csv, len(table)


def ecosystem_table(shares: pd.DataFrame) -> pd.DataFrame:
    """Population shares at the first, middle and last generation, largest at the end first."""
    generations = [shares.index[0], shares.index[len(shares) // 2], shares.index[-1]]
    table = shares.loc[generations].T
    table.columns = [f"generation {g}" for g in generations]
    table = table.sort_values(table.columns[-1], ascending=False)
    return table.rename_axis("agent").reset_index()


def _settings_caption(data: ReportData) -> str:
    game = data.game
    return (
        f"Game {game.name}"
        + (f", payoffs (CC, CD, DC, DD) row {game.payoffs_row}" if game.known else "")
        + (f", column {game.payoffs_col}" if game.known and not game.symmetric else "")
        + f"; the runs that wrote the results below (the last {PROVENANCE_RUNS} of each sweep; "
        "all in provenance.yaml)."
    )


def provenance_table(dirs: list[Path]) -> pd.DataFrame:
    """The runs of ``provenance.yaml``, one column per run (the last :data:`PROVENANCE_RUNS`
    of each sweep), one row per recorded field: a narrow table however long its values (a
    40-digit commit, timestamps)."""
    columns = {}
    for d in dirs:
        runs = load_provenance(d)
        for number, run in list(enumerate(runs, start=1))[-PROVENANCE_RUNS:]:
            name = f"run {number}" if len(dirs) == 1 else f"{d.name} run {number}"
            columns[name] = ["–" if run.get(c) is None else str(run[c]) for c in PROVENANCE_COLUMNS]
    if not columns:
        return pd.DataFrame()
    return pd.DataFrame({"field": list(PROVENANCE_COLUMNS), **columns})


def _provenance(data: ReportData) -> list[Table]:
    table = provenance_table(data.dirs)
    return [(table, None, len(table))] if not table.empty else []


def _settings(data: ReportData) -> str:
    """The resolved sweep file of one sweep; of several, a mapping from directory to each."""
    dirs = data.dirs
    settings = (
        load_sweep_config(dirs[0])
        if len(dirs) == 1
        else {str(d): load_sweep_config(d) for d in dirs}
    )
    if not settings:
        return "(no sweep.yaml)"
    return yaml.safe_dump(settings, sort_keys=False, default_flow_style=None)


def _ranking_caption(data: ReportData) -> str:
    ranking, game = data.summary.ranking, data.game
    seeds = int(ranking["seeds"].max()) if len(ranking) else 0
    references = " and ".join(label for label, _ in game.references())
    lines = f"; vertical lines: {references}" if references else ""
    return (
        f"Each agent's mean final reward per step over its opponents with the 95% CI over "
        f"{seeds} seeds, colour by kind{lines}; right: the 95% bootstrap interval of the rank "
        f"(overlapping intervals: not told apart)."
    )


def _ranking_tables(data: ReportData) -> list[Table]:
    ranking = data.summary.ranking.drop(columns=["rank_low", "rank_high"], errors="ignore")
    ranking["rank 95%"] = ranking_text(data.summary.ranking).get("rank 95%")
    return [inline(ranking, "ranking")]


def _matrix_tables(data: ReportData) -> list[Table]:
    summary = data.summary
    n = len(summary.agents)
    if n <= INLINE_MATRIX:
        return [(numbered_matrix(summary), "payoff_matrix", n)]
    by_kind = inline(summary.kind_matrix().reset_index(), "payoff_matrix_by_kind")
    return [by_kind, (pd.DataFrame(), "payoff_matrix", n)]


def _cooperation_caption(data: ReportData) -> str:
    game = data.game
    return (
        f"Final {game.p_label} of each agent (rows, kind blocks) against itself, against "
        f"learners and against fixed strategies"
        + (": red and blue are the two sides of the Nash policy (white)." if game.nash else ".")
    )


def _status_tables(data: ReportData) -> list[Table]:
    status = data.summary.status
    troubled = status[(status["agent"] == ALL_MATCHES) | (status["ok"] < 1)]
    return [inline(troubled, "status")]


SECTIONS: tuple[Section, ...] = (
    Section(
        "settings",
        "Sweep and provenance",
        _settings_caption,
        needs=(),
        tables=_provenance,
        details=_settings,
    ),
    Section(
        "ranking",
        "Ranking",
        _ranking_caption,
        figures.ranking,
        tables=_ranking_tables,
    ),
    Section(
        "comparison",
        "Side by side",
        lambda data: (
            f"Each agent's score and rank in each of the {len(data.dirs)} sweeps (the "
            "rest of the page pools them); agents by mean score over the sweeps."
        ),
        needs=("comparison",),
        tables=lambda data: [inline(data.comparison, "comparison")],
    ),
    Section(
        "payoff_matrix",
        "Payoff matrix",
        "Mean final reward per step of the row agent against the column agent, agents in kind "
        "blocks ordered by rank; right: the mean over each pair of kinds.",
        figures.payoff_matrix,
        tables=_matrix_tables,
    ),
    Section(
        "payoff_difference",
        "Payoff difference",
        "How much more the row agent gets than the column agent when they meet (Axelrod's "
        "pdplot): blue rows exploit, red rows are exploited.",
        figures.payoff_difference,
    ),
    Section(
        "wins",
        "Wins",
        "Share of its matches each agent wins, one value per seed (Axelrod's winplot): a high "
        "score can come from never losing rather than from winning.",
        figures.wins,
    ),
    Section(
        "cooperation",
        lambda data: "Cooperation" if data.game.has_cooperation else "Final policies",
        _cooperation_caption,
        figures.cooperation,
        tables=lambda data: [inline(data.summary.cooperation, "cooperation")],
    ),
    Section(
        "learning_curves",
        "Learning curves",
        "Reward per step over updates of each learner kind in self-play and averaged over all "
        "opponents; shade: first swept option, line style: second; bands: 95% CI over seeds, "
        "clipped to the rewards the game allows.",
        figures.learning_curves,
        needs=("summary", "samples"),
    ),
    Section(
        "policy_curves",
        lambda data: f"{data.game.p_label} over updates",
        lambda data: (
            "Own-coin share and coins picked up per step over updates in self-play, per learner "
            "kind (the LOLA paper's Coin Game picture); bands: 95% CI over seeds."
            if data.game.coin
            else f"{data.game.p_label} over updates in self-play, per learner kind and "
            "state (the LOLA paper's picture); bands: 95% CI over seeds."
        ),
        figures.policy_curves,
        needs=("summary", "samples"),
    ),
    Section(
        "hyperparameters",
        "Hyperparameters",
        lambda data: (
            f"Final reward and {data.game.measure[1]} of each swept learner over its "
            "options, in self-play and against all opponents; one colour scale per metric, mean ± "
            "95% CI."
        ),
        figures.hyperparameter_maps,
        tables=lambda data: [inline(data.summary.hyperparameters, "hyperparameters")],
    ),
    Section(
        "ecosystem",
        "Ecosystem",
        "Replicator dynamics over the payoff matrix: the population share of the agents that "
        "end largest, the rest as one band.",
        figures.ecosystem,
        needs=("shares", "summary"),
        tables=lambda data: [inline(ecosystem_table(data.shares), "ecosystem")],
    ),
    Section(
        "outcomes",
        "Wins, draws and losses",
        "Per agent over all its matches (a win: its reward beats the opponent's by more than "
        "0.001); per pairing in the CSV.",
        tables=lambda data: [
            inline(data.summary.outcome_totals, "outcome_totals"),
            (pd.DataFrame(), "outcomes", len(data.summary.outcomes)),
        ],
    ),
    Section(
        "status",
        "Diverged and failed",
        "Share of matches per status, for the agents with any match not ok and over all matches.",
        tables=_status_tables,
    ),
)
# The sections with a figure: the report's figures and its progress steps, in page order.
FIGURE_SECTIONS: tuple[Section, ...] = tuple(s for s in SECTIONS if s.draw is not None)


@dataclass
class PageSection:
    """One section as the page shows it: a heading, a one-line caption, a figure (its name),
    short tables and a collapsed block of preformatted text."""

    key: str
    heading: str
    caption: str
    figure: str | None = None
    tables: list[Table] = field(default_factory=list)
    details: str | None = None


def page_sections(data: ReportData, drawn: dict) -> list[PageSection]:
    """The sections of :data:`analysis.sections.SECTIONS` that apply to ``data``, those with a
    figure only where it was drawn (``drawn``: figure name -> files)."""
    shown = []
    for section in SECTIONS:
        if not section.applies(data) or (section.draw and section.key not in drawn):
            continue
        heading, caption = section.text(data)
        shown.append(
            PageSection(
                section.key,
                heading,
                caption,
                section.key if section.draw else None,
                section.tables(data),
                section.details(data) if section.details else None,
            )
        )
    return shown


def write_figures(data: ReportData, out_dir: Path, progress=None) -> dict[str, list[Path]]:
    """The figure of every section of :data:`analysis.sections.FIGURE_SECTIONS` that applies
    and has something to show, as PNG and SVG in ``out_dir``, by name. ``progress`` is called
    with each figure's name before it is drawn."""
    written = {}
    for section in FIGURE_SECTIONS:
        if progress is not None:
            progress(section.key)
        fig = section.figure(data) if section.applies(data) else None
        if fig is not None:
            written[section.key] = save(fig, out_dir, section.key)
    return written
