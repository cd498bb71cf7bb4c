"""Shared fixtures. ``ray_session``: one local Ray for the whole test session (2 CPUs and one
declared GPU, which needs no CUDA: tasks that ask for a GPU share are scheduled on it), started
on first use and shut down at the end; tests that need Ray request it. ``sweep_dir``,
``stored``, ``summary``: the made-up sweep of ``tests/analysis_data.py`` that the analysis
tests read (one per test module). ``run_at_task_sizes``: a sweep run with task sizes 1 and 20."""

from __future__ import annotations

import pandas as pd
import pytest
from analysis_data import write_synthetic_sweep

from analysis.game import load_game
from analysis.load import load_matches
from analysis.summary import summarize


@pytest.fixture(scope="session")
def ray_session():
    """The session's Ray; ``sweeps.runner`` reuses an initialised Ray instead of starting one."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        yield ray
        return
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("synthetic")
    write_synthetic_sweep(path)
    return path


@pytest.fixture(scope="module")
def stored(sweep_dir):
    """The stored match rows, read with plain pandas (not through analysis.load)."""
    return pd.read_parquet(sweep_dir / "matches")


@pytest.fixture(scope="module")
def summary(sweep_dir):
    return summarize(load_matches(sweep_dir), load_game(sweep_dir))


@pytest.fixture
def run_at_task_sizes(ray_session, tmp_path):
    """``run(sweep, planned)`` runs the sweep (a mapping) with task_size 1, then 20, into
    ``tmp_path / "tasks1"`` and ``"tasks20"``, checks that each stored all ``planned`` matches,
    and returns each run's (matches by match_id, curves by match_id and update)."""
    from sweeps.config import parse_sweep
    from sweeps.runner import run_sweep

    def run(sweep: dict, planned: int) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
        tables = []
        for task_size in (1, 20):
            out = tmp_path / f"tasks{task_size}"
            summary = run_sweep(parse_sweep({**sweep, "task_size": task_size}), out)
            assert (summary.planned, summary.ok, summary.failed) == (planned, planned, 0)
            matches = pd.read_parquet(out / "matches").sort_values("match_id", ignore_index=True)
            curves = pd.read_parquet(out / "curves").sort_values(["match_id", "update"])
            tables.append((matches, curves.reset_index(drop=True)))
        return tables

    return run
