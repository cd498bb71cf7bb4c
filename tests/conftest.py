"""Shared fixtures. ``ray_session``: one local Ray for the whole test session (2 CPUs), started
on first use and shut down at the end; tests that need Ray request it. ``sweep_dir``,
``stored``, ``summary``: the made-up sweep of ``tests/analysis_data.py`` that the analysis
tests read (one per test module)."""

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
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
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
