"""The report of a sweep: tables, figures and one page (``index.html``, ``report.md``).

:func:`summary_text` is the ranking and the payoff matrix as text; :func:`write_report` writes
everything below into a directory (default ``SWEEP_DIR/report``)::

    index.html, report.md     the page: sweep settings, tables and figures together
    tables/*.csv, tables/*.md ranking, payoff_matrix, payoffs, outcomes, cooperation, status,
                              hyperparameters, ecosystem
    figures/*.png, *.svg      see analysis.figures
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from analysis.ecology import replicator
from analysis.load import (
    SweepDirs,
    as_dirs,
    has_table,
    load_curves,
    load_matches,
    load_sweep_config,
)
from analysis.summary import (
    ALL_MATCHES,
    numbered_matrix,
    summarize,
    to_markdown,
    write_table,
    write_tables,
)

# (figure name, section title, what it shows)
SECTIONS = (
    ("ranking", "Ranking", "Mean reward per step over opponents, 95% CI over seeds."),
    ("payoff_heatmap", "Payoff matrix", "Mean final reward per step of row vs column agent."),
    ("cooperation_by_state", "Cooperation", "Final P(C | state), each side in its own view."),
    ("learning_curves", "Learning curves", "Reward per step vs update per learner and opponent."),
    ("hyperparameters", "Learning rate and lookahead", "LOLA-type agents: lr x lookahead."),
    ("reward_distribution", "Reward across seeds", "Each agent's score, one point per seed."),
    ("ecosystem", "Ecosystem", "Replicator dynamics over the payoff matrix (analysis.ecology)."),
)
# Which table goes with which figure's section.
SECTION_TABLES = {
    "ranking": "ranking",
    "payoff_heatmap": "payoff_matrix",
    "cooperation_by_state": "cooperation",
    "hyperparameters": "hyperparameters",
    "ecosystem": "ecosystem",
}
EXTRA_TABLES = (("outcomes", "Wins, draws and losses"), ("status", "Diverged and failed"))

PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
"""


def _settings(dirs: list[Path]) -> dict:
    """The resolved sweep file of one sweep; of several, a mapping from directory to each."""
    if len(dirs) == 1:
        return load_sweep_config(dirs[0])
    return {str(d): load_sweep_config(d) for d in dirs}


def _title(dirs: list[Path], matches: pd.DataFrame) -> str:
    config = load_sweep_config(dirs[0]) if len(dirs) == 1 else {}
    name = config.get("name") or ", ".join(sorted(matches["sweep"].astype(str).unique()))
    games = ", ".join(sorted(matches["game"].astype(str).unique()))
    seeds = matches[["sweep", "seed"]].drop_duplicates().shape[0]
    return f"Sweep {name}: {games}, {len(matches)} matches, {seeds} seeds"


def summary_text(sweep_dirs: SweepDirs) -> str:
    """The ranking, payoff matrix and failure shares of one or several sweeps, as text."""
    dirs = as_dirs(sweep_dirs)
    matches = load_matches(dirs)
    summary = summarize(matches)
    overall = summary.status[summary.status["agent"] == ALL_MATCHES].iloc[0]
    return "\n\n".join(
        [
            _title(dirs, matches),
            "Ranking (score: mean reward per step over opponents, 95% CI over seeds)\n"
            + to_markdown(summary.ranking),
            "Payoff matrix (mean reward per step of row agent vs column agent, ± 95% CI)\n"
            + to_markdown(numbered_matrix(summary)),
            f"Diverged: {overall['diverged']:.1%} of matches, failed: {overall['failed']:.1%}",
        ]
    )


@dataclass(frozen=True)
class _Markup:
    """How one page format writes each element of the page that :func:`_page` lays out."""

    title: Callable[[str], str]
    heading: Callable[[str], str]
    paragraph: Callable[[str], str]
    code: Callable[[str], str]
    figure: Callable[[str, str], str]  # (figure name, alt text)
    table: Callable[[pd.DataFrame], str]
    document: Callable[[str, list[str]], str]  # (title, body blocks)


MARKDOWN = _Markup(
    title=lambda text: f"# {text}",
    heading=lambda text: f"## {text}",
    paragraph=lambda text: text,
    code=lambda text: f"```yaml\n{text}```",
    figure=lambda name, alt: f"![{alt}](figures/{name}.png)",
    table=to_markdown,
    document=lambda title, body: "\n\n".join(body) + "\n",
)

HTML = _Markup(
    title=lambda text: f"<h1>{html.escape(text)}</h1>",
    heading=lambda text: f"<h2>{html.escape(text)}</h2>",
    paragraph=lambda text: f"<p>{html.escape(text)}</p>",
    code=lambda text: f"<pre>{html.escape(text)}</pre>",
    figure=lambda name, alt: (
        f'<a href="figures/{name}.svg"><img src="figures/{name}.png" alt="{html.escape(alt)}"></a>'
    ),
    table=lambda table: table.to_html(
        index=False, float_format="{:.3f}".format, na_rep="–", border=0
    ),
    document=lambda title, body: "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head><body>",
            *body,
            "</body></html>",
        ]
    ),
)


def _page(markup: _Markup, title: str, settings: dict, sections: list[tuple]) -> str:
    """The report page: title, sweep settings, then each section's caption, figure and table."""
    settings_text = yaml.safe_dump(settings, sort_keys=False) if settings else "(no sweep.yaml)\n"
    body = [markup.title(title), markup.heading("Sweep settings"), markup.code(settings_text)]
    for heading, caption, figure, table in sections:
        body += [markup.heading(heading), markup.paragraph(caption)]
        if figure:
            body.append(markup.figure(figure, heading))
        if table is not None:
            body.append(markup.table(table))
    return markup.document(title, body)


def _ecosystem_table(shares: pd.DataFrame) -> pd.DataFrame:
    """Population shares at the first, middle and last turn, one row per agent."""
    turns = [shares.index[0], shares.index[len(shares) // 2], shares.index[-1]]
    table = shares.loc[turns].T
    table.columns = [f"turn {t}" for t in turns]
    return table.rename_axis("agent").reset_index()


def default_report_dir(sweep_dirs: SweepDirs) -> Path:
    """``SWEEP_DIR/report`` of a single sweep; several sweeps need an explicit directory."""
    dirs = as_dirs(sweep_dirs)
    if len(dirs) != 1:
        raise ValueError(f"out: a report of {len(dirs)} sweeps needs an output directory")
    return dirs[0] / "report"


def write_report(sweep_dirs: SweepDirs, out_dir: str | Path | None = None) -> Path:
    """Tables, figures, ``index.html`` and ``report.md`` of one or several sweeps (of one game)
    in ``out_dir`` (default: :func:`default_report_dir`); returns the path of index.html."""
    from analysis.figures import hyperparameter_table, write_figures

    dirs = as_dirs(sweep_dirs)
    out_dir = Path(out_dir) if out_dir is not None else default_report_dir(dirs)
    matches = load_matches(dirs)
    summary = summarize(matches)
    curves = load_curves(dirs) if all(has_table(d, "curves") for d in dirs) else None
    shares = replicator(summary.payoff_matrix)

    write_tables(summary, out_dir)
    extra = {
        "hyperparameters": hyperparameter_table(summary.side_rows),
        "ecosystem": _ecosystem_table(shares),
    }
    for name, table in extra.items():
        write_table(table, out_dir / "tables", name)
    figures = write_figures(
        summary, out_dir / "figures", matches=matches, curves=curves, shares=shares
    )

    tables = {**summary.tables(), **extra, "payoff_matrix": numbered_matrix(summary)}
    sections = []
    for figure, heading, caption in SECTIONS:
        if figure not in figures:
            continue
        sections.append((heading, caption, figure, tables.get(SECTION_TABLES.get(figure, ""))))
    for name, heading in EXTRA_TABLES:
        sections.append((heading, f"tables/{name}.csv", None, tables[name]))

    title, settings = _title(dirs, matches), _settings(dirs)
    (out_dir / "report.md").write_text(_page(MARKDOWN, title, settings, sections))
    index = out_dir / "index.html"
    index.write_text(_page(HTML, title, settings, sections))
    return index
