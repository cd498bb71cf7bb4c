"""The report's sections as records: the page, the figures and the progress steps derive from
``analysis.sections.SECTIONS``."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml
from analysis_data import write_synthetic_sweep

from analysis import figures
from analysis.ecology import replicator
from analysis.game import load_game
from analysis.load import load_matches
from analysis.report import write_report
from analysis.sections import FIGURE_SECTIONS, SECTIONS, ReportData, page_sections, write_figures
from analysis.summary import summarize


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The synthetic sweep (no curves, one sweep): no samples, no comparison."""
    path = tmp_path_factory.mktemp("sections")
    write_synthetic_sweep(path)
    summary = summarize(load_matches(path), load_game(path))
    return ReportData([path], summary, None, replicator(summary.payoff_matrix), None)


def test_each_section_has_one_key_and_each_figure_is_drawn_by_analysis_figures():
    keys = [s.key for s in SECTIONS]
    assert len(keys) == len(set(keys))
    for section in FIGURE_SECTIONS:
        assert getattr(figures, section.draw.__name__) is section.draw, section.key
    assert [s.key for s in FIGURE_SECTIONS] == [s.key for s in SECTIONS if s.draw is not None]


def test_a_section_is_left_out_when_its_data_is_missing(data, tmp_path):
    drawn = write_figures(data, tmp_path)
    needs_curves = {s.key for s in SECTIONS if "samples" in s.needs}
    assert needs_curves == {"learning_curves", "policy_curves"}
    assert not needs_curves & set(drawn)
    shown = [s.key for s in page_sections(data, drawn)]
    assert "comparison" not in shown and not needs_curves & set(shown)
    assert shown[:2] == ["settings", "ranking"] and shown[-2:] == ["outcomes", "status"]
    assert set(drawn) == {s.key for s in FIGURE_SECTIONS if s.key in shown}
    for key, paths in drawn.items():
        assert [p.name for p in paths] == [f"{key}.png", f"{key}.svg"]


def test_headings_and_captions_follow_the_game(data):
    sections = {s.key: s for s in SECTIONS}
    heading, caption = sections["cooperation"].text(data)
    assert heading == "Cooperation" and caption.startswith("Final P(C | state)")
    heading, _ = sections["policy_curves"].text(data)
    assert heading == "P(C | state) over updates"
    seeds = int(data.summary.ranking["seeds"].max())
    assert f"over {seeds} seeds" in sections["ranking"].text(data)[1]


def test_report_progress_steps_are_the_stages_and_the_figure_sections(data, tmp_path, capsys):
    write_report(data.dirs, tmp_path / "report", progress=True)
    err = capsys.readouterr().err
    total = {int(n) for n in re.findall(r"/(\d+) \[", err)}
    assert total == {len(FIGURE_SECTIONS) + 4}  # matches, curves, tables, figures, page
    page = (tmp_path / "report" / "index.html").read_text()
    anchors = re.findall(r'<h2 id="([a-z_]+)">', page)
    order = [s.key for s in SECTIONS]
    assert anchors == sorted(anchors, key=order.index)
    ranking = pd.read_csv(tmp_path / "report" / "tables" / "ranking.csv")
    assert list(ranking["agent"]) == data.summary.agents


def test_provenance_table_is_one_narrow_column_per_run_whatever_the_runs(tmp_path):
    """Fields as rows, the last three runs as columns: long values (a commit, timestamps) no
    longer make a row wider than the page."""
    from analysis.sections import PROVENANCE_COLUMNS, provenance_table

    sweep_dir = tmp_path / "runs"
    write_synthetic_sweep(sweep_dir)
    record = yaml.safe_load((sweep_dir / "provenance.yaml").read_text())
    run = {**record["runs"][0], "git_commit": "f" * 40 + "-dirty"}
    record["runs"] = [{**run, "matches": i} for i in range(10)]
    (sweep_dir / "provenance.yaml").write_text(yaml.safe_dump(record))
    table = provenance_table([sweep_dir])
    assert list(table.columns) == ["field", "run 8", "run 9", "run 10"]
    assert list(table["field"]) == list(PROVENANCE_COLUMNS)
    assert table.set_index("field").loc["matches"].tolist() == ["7", "8", "9"]
