"""The report of a sweep: tables, figures and one page (``index.html``, ``report.md``).

:func:`summary_text` is the ranking and the payoff matrix as text, 100 columns wide;
:func:`write_report` writes everything below into a directory (default ``SWEEP_DIR/report``)::

    index.html, report.md     the page: contents, then the sections of analysis.sections, each
                              with a one-line caption, its figure and short tables
    tables/*.csv, tables/*.md every table in full (analysis.summary, ecosystem)
    figures/*.png, *.svg      analysis.figures

The page stays short whatever the sweep's size: an inline table shows at most
:data:`analysis.summary.INLINE_ROWS` rows (the best-ranked first) and links its full CSV; wide
tables scroll inside their own box. Wording follows the game (:class:`analysis.game.GameInfo`):
cooperation and TFT-like only where the game has cooperation, the distance to Nash in zero-sum
games.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analysis.ecology import replicator
from analysis.game import GameInfo, load_game
from analysis.load import SweepDirs, as_dirs, has_table, load_matches, load_sweep_config
from analysis.summary import (
    ALL_MATCHES,
    INLINE_MATRIX,
    INLINE_ROWS,
    TournamentSummary,
    numbered_matrix,
    ranking_text,
    summarize,
    to_markdown,
    write_table,
    write_tables,
)

if TYPE_CHECKING:
    from analysis.sections import PageSection

SUMMARY_WIDTH = 100
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
        merged = merged.merge(ranking, on=["agent", "kind"], how="outer")
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


def summary_text(sweep_dirs: SweepDirs, top: int = INLINE_ROWS, full: bool = False) -> str:
    """The ranking, payoff matrix and failure shares of one or several sweeps, as text that
    fits :data:`SUMMARY_WIDTH` columns: the ``top`` agents, and the payoff matrix per agent
    up to :data:`INLINE_MATRIX` agents, else per kind. ``full``: every agent and the full
    matrix, however wide."""
    dirs = as_dirs(sweep_dirs)
    matches, summary = load_summary(dirs)
    overall = summary.status[summary.status["agent"] == ALL_MATCHES].iloc[0]
    n = len(summary.agents)
    ranking = ranking_text(summary.ranking)
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


def _page(markup: _Markup, title: str, sections: list[PageSection]) -> str:
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

    # Imported here, not on top: the figures load matplotlib, which summary_text does without.
    from analysis.curves import curve_samples
    from analysis.sections import (
        FIGURE_SECTIONS,
        ReportData,
        ecosystem_table,
        page_sections,
        write_figures,
    )

    dirs = as_dirs(sweep_dirs)
    out_dir = Path(out_dir) if out_dir is not None else default_report_dir(dirs)
    steps = ["matches", "curves", "tables", *(s.key for s in FIGURE_SECTIONS), "page"]
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
        samples = curve_samples(dirs, summary.side_rows, summary.game) if with_curves else None
        step("tables")
        shares = replicator(summary.payoff_matrix)
        comparison = compare_rankings(dirs) if len(dirs) > 1 else None
        write_tables(summary, out_dir)
        write_table(ecosystem_table(shares), out_dir / "tables", "ecosystem")
        if comparison is not None:
            write_table(comparison, out_dir / "tables", "comparison")
        data = ReportData(dirs, summary, samples, shares, comparison)
        drawn = write_figures(data, out_dir / "figures", progress=step)
        step("page")
        title = _title(dirs, matches)
        sections = page_sections(data, drawn)
        (out_dir / "report.md").write_text(_page(MARKDOWN, title, sections))
        index = out_dir / "index.html"
        index.write_text(_page(HTML, title, sections))
        bar.update(1)
    return index
