"""The report of a sweep: tables, figures and one page (``index.html``, ``report.md``).

``lola-arena summary SWEEP_DIR`` prints the ranking and the payoff matrix;
``lola-arena report SWEEP_DIR [--out DIR]`` writes everything below into DIR
(default ``SWEEP_DIR/report``)::

    index.html, report.md     the page: sweep settings, tables and figures together
    tables/*.csv, tables/*.md ranking, payoff_matrix, payoffs, outcomes, cooperation, status,
                              hyperparameters, ecosystem
    figures/*.png, *.svg      see analysis.figures
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import yaml

from analysis.ecology import replicator
from analysis.load import has_table, load_curves, load_matches, load_sweep_config
from analysis.summary import (
    ALL_MATCHES,
    TournamentSummary,
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


def _title(config: dict, matches: pd.DataFrame) -> str:
    name = config.get("name") or ", ".join(sorted(matches["sweep"].astype(str).unique()))
    games = ", ".join(sorted(matches["game"].astype(str).unique()))
    seeds = matches["seed"].nunique()
    return f"Sweep {name}: {games}, {len(matches)} matches, {seeds} seeds"


def terminal_summary(summary: TournamentSummary, title: str) -> str:
    """The text ``lola-arena summary`` prints: ranking, payoff matrix and failure shares."""
    overall = summary.status[summary.status["agent"] == ALL_MATCHES].iloc[0]
    return "\n\n".join(
        [
            title,
            "Ranking (score: mean reward per step over opponents, 95% CI over seeds)\n"
            + to_markdown(summary.ranking),
            "Payoff matrix (mean reward per step of row agent vs column agent, ± 95% CI)\n"
            + to_markdown(numbered_matrix(summary)),
            f"Diverged: {overall['diverged']:.1%} of matches, failed: {overall['failed']:.1%}",
        ]
    )


def summary_from_args(args) -> int:
    """``lola-arena summary SWEEP_DIR``."""
    matches = load_matches(args.sweep_dir)
    summary = summarize(matches)
    print(terminal_summary(summary, _title(load_sweep_config(args.sweep_dir), matches)))
    return 0


def _html_table(table: pd.DataFrame) -> str:
    return table.to_html(index=False, float_format="{:.3f}".format, na_rep="–", border=0)


def _page_html(title: str, config: dict, sections: list[tuple]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Sweep settings</h2>",
        f"<pre>{html.escape(yaml.safe_dump(config, sort_keys=False) or '(no sweep.yaml)')}</pre>",
    ]
    for heading, caption, figure, table in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2><p>{html.escape(caption)}</p>")
        if figure:
            parts.append(
                f'<a href="figures/{figure}.svg"><img src="figures/{figure}.png" '
                f'alt="{html.escape(heading)}"></a>'
            )
        if table is not None:
            parts.append(_html_table(table))
    parts.append("</body></html>")
    return "\n".join(parts)


def _page_markdown(title: str, config: dict, sections: list[tuple]) -> str:
    settings = yaml.safe_dump(config, sort_keys=False) if config else "(no sweep.yaml)\n"
    parts = [f"# {title}", "## Sweep settings", f"```yaml\n{settings}```"]
    for heading, caption, figure, table in sections:
        parts += [f"## {heading}", caption]
        if figure:
            parts.append(f"![{heading}](figures/{figure}.png)")
        if table is not None:
            parts.append(to_markdown(table))
    return "\n\n".join(parts) + "\n"


def _ecosystem_table(shares: pd.DataFrame) -> pd.DataFrame:
    """Population shares at the first, middle and last turn, one row per agent."""
    turns = [shares.index[0], shares.index[len(shares) // 2], shares.index[-1]]
    table = shares.loc[turns].T
    table.columns = [f"turn {t}" for t in turns]
    return table.rename_axis("agent").reset_index()


def write_report(sweep_dir: str | Path, out_dir: str | Path) -> Path:
    """Tables, figures, ``index.html`` and ``report.md`` for one sweep; returns index.html."""
    from analysis.figures import hyperparameter_table, write_figures

    sweep_dir, out_dir = Path(sweep_dir), Path(out_dir)
    matches = load_matches(sweep_dir)
    summary = summarize(matches)
    config = load_sweep_config(sweep_dir)
    curves = load_curves(sweep_dir) if has_table(sweep_dir, "curves") else None
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

    title = _title(config, matches)
    (out_dir / "report.md").write_text(_page_markdown(title, config, sections))
    index = out_dir / "index.html"
    index.write_text(_page_html(title, config, sections))
    return index


def report_from_args(args) -> int:
    """``lola-arena report SWEEP_DIR [--out DIR]``: write the report, print where it is."""
    out_dir = Path(args.out) if args.out else Path(args.sweep_dir) / "report"
    index = write_report(args.sweep_dir, out_dir)
    print(f"report: {index}")
    return 0
