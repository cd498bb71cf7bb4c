"""The report of a sweep: tables, figures and one page (``index.html``, ``report.md``).

:func:`summary_text` is the ranking and the payoff matrix as text, 100 columns wide;
:func:`write_report` writes everything below into a directory (default ``SWEEP_DIR/report``)::

    index.html, report.md     the page: contents, settings and provenance, then one section per
                              figure with a one-line caption and a short table
    tables/*.csv, tables/*.md every table in full (analysis.summary, ecosystem)
    figures/*.png, *.svg      analysis.figures

The page stays short whatever the sweep's size: an inline table shows at most
:data:`INLINE_ROWS` rows (the best-ranked first) and links its full CSV; wide tables scroll
inside their own box. Wording follows the game (:class:`analysis.game.GameInfo`): cooperation
and TFT-like only where the game has cooperation, the distance to Nash in zero-sum games.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from analysis.ecology import replicator
from analysis.game import GameInfo, load_game, load_provenance
from analysis.load import SweepDirs, as_dirs, has_table, load_matches, load_sweep_config
from analysis.summary import (
    ALL_MATCHES,
    TournamentSummary,
    numbered_matrix,
    rank_intervals,
    summarize,
    to_markdown,
    write_table,
    write_tables,
)

INLINE_ROWS = 20
SUMMARY_WIDTH = 100
# Payoff matrices up to this many agents are printed and shown inline in full.
INLINE_MATRIX = 8
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

PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #222; }
nav { position: sticky; top: 0; background: #fafafa; border-bottom: 1px solid #ddd;
      padding: 0.4em 1em; z-index: 1; font-size: 0.9em; }
nav a { margin-right: 1em; white-space: nowrap; }
main { max-width: 1200px; margin: 0 auto; padding: 0 1em 3em; }
h2 { scroll-margin-top: 3em; border-bottom: 1px solid #eee; }
.caption { color: #444; }
.table { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 0.3em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; height: auto; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
"""


def _title(dirs: list[Path], matches: pd.DataFrame) -> str:
    config = load_sweep_config(dirs[0]) if len(dirs) == 1 else {}
    name = config.get("name") or ", ".join(sorted(matches["sweep"].astype(str).unique()))
    games = ", ".join(sorted(matches["game"].astype(str).unique()))
    seeds = matches[["sweep", "seed"]].drop_duplicates().shape[0]
    agents = len(set(matches["agent_a"]) | set(matches["agent_b"]))
    return f"Sweep {name}: {games}, {agents} agents, {len(matches)} matches, {seeds} seeds"


def load_summary(sweep_dirs: SweepDirs) -> tuple[pd.DataFrame, TournamentSummary]:
    """The matches of one or several sweeps of one game and their summary."""
    dirs = as_dirs(sweep_dirs)
    matches = load_matches(dirs)
    return matches, summarize(matches, _game(dirs))


def _game(dirs: list[Path]) -> GameInfo:
    """The game of the sweeps; sweeps of one game name with other payoffs are refused."""
    games = {d: load_game(d) for d in dirs}
    known = {(g.payoffs_row, g.payoffs_col) for g in games.values() if g.known}
    if len(known) > 1:
        raise ValueError(
            "sweep_dirs: the sweeps' games have different payoffs; report them separately"
        )
    return next((g for g in games.values() if g.known), games[dirs[0]])


def compare_rankings(sweep_dirs: SweepDirs) -> pd.DataFrame:
    """Several sweeps side by side: each agent's score (mean reward per step over opponents) and
    rank in each sweep, one column pair per sweep (named by its directory), agents ordered by
    their mean score over the sweeps; an agent absent from a sweep has no value there."""
    dirs = as_dirs(sweep_dirs)
    names = _unique_names(dirs)
    merged = pd.DataFrame(columns=["agent", "kind"])
    for d, name in zip(dirs, names, strict=True):
        _, summary = load_summary([d])
        ranking = summary.ranking[["agent", "kind", "score", "ci95", "rank"]].rename(
            columns={
                "score": f"{name} score",
                "ci95": f"{name} ci95",
                "rank": f"{name} rank",
            }
        )
        merged = (
            ranking if merged is None else merged.merge(ranking, on=["agent", "kind"], how="outer")
        )
    scores = merged[[f"{name} score" for name in names]]
    merged.insert(2, "mean score", scores.mean(axis=1))
    return merged.sort_values("mean score", ascending=False, ignore_index=True)


def _unique_names(dirs: list[Path]) -> list[str]:
    """Short names of sweep directories: the folder names, with their parents where they repeat."""
    names = [d.name for d in dirs]
    if len(set(names)) < len(names):
        names = [f"{d.parent.name}/{d.name}" for d in dirs]
    return names


def compare_text(sweep_dirs: SweepDirs, top: int = INLINE_ROWS, full: bool = False) -> str:
    """:func:`compare_rankings` as text that fits :data:`SUMMARY_WIDTH` columns (``top`` agents
    unless ``full``)."""
    table = compare_rankings(sweep_dirs)
    shown = table if full or len(table) <= top else table.head(top)
    title = f"Side by side: {len(table)} agents in {len(as_dirs(sweep_dirs))} sweeps"
    if len(shown) < len(table):
        title += f", top {top} by mean score (--all: every agent)"
    text = title + "\nscore: mean reward per step over opponents ± its 95% CI over seeds\n"
    text += to_markdown(_with_ci(shown, [c.removesuffix(" score") for c in _score_columns(shown)]))
    return text if full else _fit(text)


def _score_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.endswith(" score") and c != "mean score"]


def _with_ci(table: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Each sweep's ``score`` and ``ci95`` columns as one column of "score ± ci95" cells."""
    table = table.copy()
    for name in names:
        score, ci = table.pop(f"{name} score"), table.pop(f"{name} ci95")
        cells = [
            "–" if pd.isna(s) else f"{s:.3f}" + ("" if pd.isna(c) else f" ± {c:.3f}")
            for s, c in zip(score, ci, strict=True)
        ]
        table.insert(table.columns.get_loc(f"{name} rank"), f"{name} score", cells)
    return table


def _ranking_text(ranking: pd.DataFrame) -> pd.DataFrame:
    table = ranking[["rank", "agent", "kind", "score", "ci95", "seeds"]].copy()
    if {"rank_low", "rank_high"} <= set(ranking.columns):
        table["rank 95%"] = rank_intervals(ranking)
    return table


def summary_text(sweep_dirs: SweepDirs, top: int = INLINE_ROWS, full: bool = False) -> str:
    """The ranking, payoff matrix and failure shares of one or several sweeps, as text that
    fits :data:`SUMMARY_WIDTH` columns: the ``top`` agents, and the payoff matrix per agent
    up to :data:`INLINE_MATRIX` agents, else per kind. ``full``: every agent and the full
    matrix, however wide."""
    dirs = as_dirs(sweep_dirs)
    matches, summary = load_summary(dirs)
    overall = summary.status[summary.status["agent"] == ALL_MATCHES].iloc[0]
    n = len(summary.agents)
    ranking = _ranking_text(summary.ranking)
    shown = ranking if full or n <= top else ranking.head(top)
    ranking_title = (
        "Ranking" if len(shown) == n else f"Ranking, top {top} of {n} (--all: every agent)"
    )
    ranking_title += "\nscore: mean reward per step over opponents, 95% CI over seeds; "
    ranking_title += "rank 95%: bootstrap interval"
    parts = [_title(dirs, matches), ranking_title + "\n" + to_markdown(shown)]
    if full or n <= INLINE_MATRIX:
        parts.append(
            "Payoff matrix (mean reward per step of row agent vs column agent, ± 95% CI)\n"
            + to_markdown(numbered_matrix(summary, with_ci=n <= 4 or full))
        )
    else:
        parts.append(
            "Payoff by kind: mean reward per step of the row kind's agents against each learner "
            f"kind\nand the fixed strategies (--all: the full matrix of {n} agents)\n"
            + to_markdown(_kind_columns(summary))
        )
    parts.append(_troubled_text(summary, overall, top))
    text = "\n\n".join(parts)
    return text if full else _fit(text)


def _troubled_text(summary: TournamentSummary, overall: pd.Series, top: int) -> str:
    """The shares of diverged and failed matches, then the agents with any match not ok (the
    most troubled first, ``top`` of them): an agent whose matches all diverged or failed is
    named here, never dropped."""
    text = (
        f"Diverged and failed: {overall['diverged']:.1%} of matches diverged, "
        f"{overall['failed']:.1%} failed"
    )
    status = summary.status
    troubled = status[(status["agent"] != ALL_MATCHES) & (status["ok"] < 1)]
    if troubled.empty:
        return text
    troubled = troubled.sort_values("ok", kind="stable")
    shown = troubled.head(top)
    more = f", the {top} with the fewest ok" if len(shown) < len(troubled) else ""
    return f"{text}; agents with matches not ok ({len(troubled)}{more}):\n" + to_markdown(
        shown.reset_index(drop=True)
    )


def _kind_columns(summary: TournamentSummary) -> pd.DataFrame:
    """Rows: kinds; columns: learner kinds and "fixed" (all fixed strategies together)."""
    kind_of, learners = summary.kind_of, summary.learners
    payoffs = summary.payoffs
    column = [kind_of[o] if o in learners else "fixed" for o in payoffs["opponent"]]
    table = (
        payoffs.assign(row=payoffs["agent"].map(kind_of), column=column)
        .groupby(["row", "column"])["mean"]
        .mean()
        .unstack("column")
    )
    columns = [*summary.learner_kinds, *(["fixed"] if "fixed" in table.columns else [])]
    table = table.reindex(index=summary.kind_order, columns=columns)
    text = table.map(lambda v: "–" if pd.isna(v) else f"{v:.2f}")
    return text.rename_axis("kind (row) vs (column)").reset_index()


def _fit(text: str, width: int = SUMMARY_WIDTH) -> str:
    """Lines cut to ``width`` characters (an ellipsis marks a cut)."""
    return "\n".join(
        line if len(line) <= width else line[: width - 1] + "…" for line in text.splitlines()
    )


@dataclass
class Section:
    """One section of the page: a heading, a one-line caption, a figure, short tables."""

    key: str
    heading: str
    caption: str
    figure: str | None = None
    tables: list[tuple[pd.DataFrame, str | None, int]] = field(default_factory=list)
    text: str | None = None  # preformatted (YAML)
    details: str | None = None  # a collapsed block of preformatted text


def _inline(table: pd.DataFrame, csv: str | None) -> tuple[pd.DataFrame, str | None, int]:
    """The first :data:`INLINE_ROWS` rows of ``table``, its CSV name and its row count."""
    return table.head(INLINE_ROWS), csv, len(table)


def _captions(summary: TournamentSummary) -> dict[str, str]:
    """One line per figure saying what to read from it, in the game's words."""
    game = summary.game
    seeds = int(summary.ranking["seeds"].max()) if len(summary.ranking) else 0
    references = " and ".join(label for label, _ in game.references())
    lines = f"; vertical lines: {references}" if references else ""
    measure = game.measure[1]
    return {
        "ranking": f"Each agent's mean final reward per step over its opponents with the 95% CI "
        f"over {seeds} seeds, colour by kind{lines}; right: the 95% bootstrap interval of the "
        f"rank (overlapping intervals: not told apart).",
        "payoff_matrix": "Mean final reward per step of the row agent against the column agent, "
        "agents in kind blocks ordered by rank; right: the mean over each pair of kinds.",
        "payoff_difference": "How much more the row agent gets than the column agent when "
        "they meet (Axelrod's pdplot): blue rows exploit, red rows are exploited.",
        "wins": "Share of its matches each agent wins, one value per seed (Axelrod's winplot): "
        "a high score can come from never losing rather than from winning.",
        "cooperation": f"Final {game.p_label} of each agent (rows, kind blocks) against itself, "
        f"against learners and against fixed strategies"
        + (": red and blue are the two sides of the Nash policy (white)." if game.nash else "."),
        "learning_curves": "Reward per step over updates of each learner kind in self-play and "
        "averaged over all opponents; shade: first swept option, line style: second; "
        "bands: 95% CI over seeds, clipped to the rewards the game allows.",
        "policy_curves": f"{game.p_label} over updates in self-play, per learner kind and "
        f"state (the LOLA paper's picture); bands: 95% CI over seeds.",
        "hyperparameters": f"Final reward and {measure} of each swept learner over its options, "
        f"in self-play and against all opponents; one colour scale per metric, mean ± 95% CI.",
        "ecosystem": "Replicator dynamics over the payoff matrix: the population share of the "
        "agents that end largest, the rest as one band.",
    }


def _sections(
    dirs: list[Path], summary: TournamentSummary, figures: dict, shares: pd.DataFrame
) -> list[Section]:
    game = summary.game
    captions = _captions(summary)
    n = len(summary.agents)
    settings = _settings(dirs)
    runs = _provenance(dirs)
    sections = [
        Section(
            "settings",
            "Sweep and provenance",
            f"Game {game.name}"
            + (f", payoffs (CC, CD, DC, DD) row {game.payoffs_row}" if game.known else "")
            + (f", column {game.payoffs_col}" if game.known and not game.symmetric else "")
            + f"; the runs that wrote the results below (the last {PROVENANCE_RUNS} of each "
            "sweep; all in provenance.yaml).",
            tables=[_inline(runs, None)] if not runs.empty else [],
            details=yaml.safe_dump(settings, sort_keys=False, default_flow_style=None)
            if settings
            else "(no sweep.yaml)",
        )
    ]
    ranking = summary.ranking.drop(columns=["rank_low", "rank_high"], errors="ignore")
    ranking["rank 95%"] = _ranking_text(summary.ranking).get("rank 95%")
    sections.append(
        Section(
            "ranking",
            "Ranking",
            captions["ranking"],
            "ranking",
            [_inline(ranking, "ranking")],
        )
    )
    matrix_tables = []
    if n <= INLINE_MATRIX:
        matrix_tables.append((numbered_matrix(summary), "payoff_matrix", n))
    else:
        matrix_tables.append(_inline(summary.kind_matrix().reset_index(), "payoff_matrix_by_kind"))
        matrix_tables.append((pd.DataFrame(), "payoff_matrix", n))
    sections.append(
        Section(
            "payoff_matrix",
            "Payoff matrix",
            captions["payoff_matrix"],
            "payoff_matrix",
            matrix_tables,
        )
    )
    for key, heading in (("payoff_difference", "Payoff difference"), ("wins", "Wins")):
        sections.append(Section(key, heading, captions[key], key))
    heading = "Cooperation" if game.has_cooperation else "Final policies"
    sections.append(
        Section(
            "cooperation",
            heading,
            captions["cooperation"],
            "cooperation",
            [_inline(summary.cooperation, "cooperation")],
        )
    )
    for key, heading in (
        ("learning_curves", "Learning curves"),
        ("policy_curves", f"{game.p_label} over updates"),
    ):
        sections.append(Section(key, heading, captions[key], key))
    if not summary.hyperparameters.empty:
        sections.append(
            Section(
                "hyperparameters",
                "Hyperparameters",
                captions["hyperparameters"],
                "hyperparameters",
                [_inline(summary.hyperparameters, "hyperparameters")],
            )
        )
    sections.append(
        Section(
            "ecosystem",
            "Ecosystem",
            captions["ecosystem"],
            "ecosystem",
            [_inline(ecosystem_table(shares), "ecosystem")],
        )
    )
    sections.append(
        Section(
            "outcomes",
            "Wins, draws and losses",
            "Per agent over all its matches (a win: its reward beats the opponent's by more "
            "than 0.001); per pairing in the CSV.",
            tables=[
                _inline(summary.outcome_totals, "outcome_totals"),
                (pd.DataFrame(), "outcomes", len(summary.outcomes)),
            ],
        )
    )
    status = summary.status
    troubled = status[(status["agent"] == ALL_MATCHES) | (status["ok"] < 1)]
    sections.append(
        Section(
            "status",
            "Diverged and failed",
            "Share of matches per status, for the agents with any match not ok and over all "
            "matches.",
            tables=[_inline(troubled, "status")],
        )
    )
    return [s for s in sections if s.figure is None or s.figure in figures]


def _comparison_section(comparison: pd.DataFrame, sweeps: int) -> Section:
    return Section(
        "comparison",
        "Side by side",
        f"Each agent's score and rank in each of the {sweeps} sweeps (the rest of the page pools "
        "them); agents by mean score over the sweeps.",
        tables=[_inline(comparison, "comparison")],
    )


def _settings(dirs: list[Path]) -> dict:
    """The resolved sweep file of one sweep; of several, a mapping from directory to each."""
    if len(dirs) == 1:
        return load_sweep_config(dirs[0])
    return {str(d): load_sweep_config(d) for d in dirs}


def _provenance(dirs: list[Path]) -> pd.DataFrame:
    """The runs of ``provenance.yaml``, one column per run (the last
    :data:`PROVENANCE_RUNS`, of each sweep), one row per recorded field: a narrow table
    however long its values (a 40-digit commit, timestamps)."""
    columns = {}
    for d in dirs:
        runs = load_provenance(d)
        for number, run in list(enumerate(runs, start=1))[-PROVENANCE_RUNS:]:
            name = f"run {number}" if len(dirs) == 1 else f"{d.name} run {number}"
            columns[name] = [_text(run.get(c)) for c in PROVENANCE_COLUMNS]
    if not columns:
        return pd.DataFrame()
    return pd.DataFrame({"field": list(PROVENANCE_COLUMNS), **columns})


def _text(value) -> str:
    return "–" if value is None else str(value)


def ecosystem_table(shares: pd.DataFrame) -> pd.DataFrame:
    """Population shares at the first, middle and last generation, largest at the end first."""
    generations = [shares.index[0], shares.index[len(shares) // 2], shares.index[-1]]
    table = shares.loc[generations].T
    table.columns = [f"generation {g}" for g in generations]
    table = table.sort_values(table.columns[-1], ascending=False)
    return table.rename_axis("agent").reset_index()


@dataclass(frozen=True)
class _Markup:
    """How one page format writes each element of the page that :func:`_page` lays out."""

    heading: Callable[[str, str], str]  # (anchor, text)
    paragraph: Callable[[str], str]
    details: Callable[[str, str], str]  # (summary, preformatted text)
    figure: Callable[[str, str], str]  # (figure name, alt text)
    table: Callable[[pd.DataFrame], str]
    link: Callable[[str, str], str]  # (href, text)
    document: Callable[[str, list[tuple[str, str]], list[str]], str]  # title, contents, body


def _html_document(title: str, contents: list[tuple[str, str]], body: list[str]) -> str:
    links = " ".join(f'<a href="#{key}">{html.escape(text)}</a>' for key, text in contents)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head><body>",
            f"<nav>{links}</nav>",
            f"<main><h1>{html.escape(title)}</h1>",
            *body,
            "</main></body></html>",
        ]
    )


def _markdown_document(title: str, contents: list[tuple[str, str]], body: list[str]) -> str:
    toc = "\n".join(f"- [{text}](#{key})" for key, text in contents)
    return "\n\n".join([f"# {title}", toc, *body]) + "\n"


MARKDOWN = _Markup(
    heading=lambda key, text: f'<a id="{key}"></a>\n\n## {text}',
    paragraph=lambda text: text,
    details=lambda summary, text: (
        f"<details><summary>{summary}</summary>\n\n```yaml\n{text}```\n\n</details>"
    ),
    figure=lambda name, alt: f"![{alt}](figures/{name}.png)",
    table=to_markdown,
    link=lambda href, text: f"[{text}]({href})",
    document=_markdown_document,
)

HTML = _Markup(
    heading=lambda key, text: f'<h2 id="{key}">{html.escape(text)}</h2>',
    paragraph=lambda text: f'<p class="caption">{html.escape(text)}</p>',
    details=lambda summary, text: (
        f"<details><summary>{html.escape(summary)}</summary><pre>{html.escape(text)}</pre>"
        "</details>"
    ),
    figure=lambda name, alt: (
        f'<a href="figures/{name}.svg"><img src="figures/{name}.png" alt="{html.escape(alt)}"></a>'
    ),
    table=lambda table: (
        '<div class="table">'
        + table.to_html(index=False, float_format="{:.3f}".format, na_rep="–", border=0)
        + "</div>"
    ),
    link=lambda href, text: f'<p><a href="{html.escape(href)}">{html.escape(text)}</a></p>',
    document=_html_document,
)


def _page(markup: _Markup, title: str, sections: list[Section]) -> str:
    """The page: contents, then each section's heading, caption, figure and tables."""
    body = []
    for section in sections:
        body += [markup.heading(section.key, section.heading), markup.paragraph(section.caption)]
        if section.figure:
            body.append(markup.figure(section.figure, section.caption))
        for table, csv, rows in section.tables:
            if not table.empty:
                body.append(markup.table(table))
            if csv is not None:
                shown = f"first {len(table)} of {rows} rows; " if len(table) < rows else ""
                what = f"{shown}all {rows} rows" if shown else f"{rows} rows"
                body.append(markup.link(f"tables/{csv}.csv", f"{csv}.csv ({what})"))
        if section.details:
            body.append(markup.details("sweep.yaml, as resolved", section.details))
    contents = [(s.key, s.heading) for s in sections]
    return markup.document(title, contents, body)


def default_report_dir(sweep_dirs: SweepDirs) -> Path:
    """``SWEEP_DIR/report`` of a single sweep; several sweeps need an explicit directory."""
    dirs = as_dirs(sweep_dirs)
    if len(dirs) != 1:
        raise ValueError(f"out: a report of {len(dirs)} sweeps needs an output directory")
    return dirs[0] / "report"


def write_report(
    sweep_dirs: SweepDirs, out_dir: str | Path | None = None, progress: bool = False
) -> Path:
    """Tables, figures, ``index.html`` and ``report.md`` of one or several sweeps (of one game)
    in ``out_dir`` (default: :func:`default_report_dir`); returns the path of index.html.
    ``progress``: a progress bar on stderr, one step per stage and figure."""
    from tqdm import tqdm

    from analysis.curves import curve_samples
    from analysis.figures import FIGURES, write_figures

    dirs = as_dirs(sweep_dirs)
    out_dir = Path(out_dir) if out_dir is not None else default_report_dir(dirs)
    steps = ["matches", "curves", "tables", *FIGURES, "page"]
    with tqdm(
        total=len(steps), desc="report", unit="step", disable=not progress, file=sys.stderr
    ) as bar:

        def step(name: str) -> None:
            if bar.n or name != steps[0]:
                bar.update(1)
            bar.set_postfix_str(name)

        step("matches")
        matches, summary = load_summary(dirs)
        step("curves")
        with_curves = all(has_table(d, "curves") for d in dirs)
        samples = curve_samples(dirs, summary.side_rows) if with_curves else None
        step("tables")
        shares = replicator(summary.payoff_matrix)
        write_tables(summary, out_dir)
        write_table(ecosystem_table(shares), out_dir / "tables", "ecosystem")
        figures = write_figures(summary, out_dir / "figures", samples, shares, progress=step)
        step("page")
        title = _title(dirs, matches)
        sections = _sections(dirs, summary, figures, shares)
        if len(dirs) > 1:
            comparison = compare_rankings(dirs)
            write_table(comparison, out_dir / "tables", "comparison")
            sections.insert(2, _comparison_section(comparison, len(dirs)))
        (out_dir / "report.md").write_text(_page(MARKDOWN, title, sections))
        index = out_dir / "index.html"
        index.write_text(_page(HTML, title, sections))
        bar.update(1)
    return index
