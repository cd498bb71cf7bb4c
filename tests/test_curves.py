"""Learning curves by pairing (analysis/curves.py), against the stored rows."""

from __future__ import annotations

import statistics
from collections import defaultdict

import pandas as pd
import pytest
from analysis_data import (
    AGENTS,
)

from analysis.curves import curve_samples
from analysis.load import load_matches
from analysis.summary import (
    ALL_OPPONENTS,
    sides,
)


def test_curve_samples_average_self_play_sides_and_opponents_per_seed(sweep_dir, stored, summary):
    samples = curve_samples(sweep_dir, summary.side_rows)
    assert set(samples["agent"]) == {a for a, spec in AGENTS.items() if spec[1] is not None}
    curves = pd.read_parquet(sweep_dir / "curves").set_index(["match_id", "update"])
    lola = "lola(lr=1,lr_in=1,k=1)"

    def sample(opponents: str) -> float:
        picked = (samples["agent"] == lola) & (samples["opponents"] == opponents)
        picked &= (samples["seed"] == 1) & (samples["update"] == 10)
        return samples.loc[picked, "reward"].item()

    rewards = defaultdict(list)  # opponent -> lola's rewards at update 10 in seed 1
    for match in stored[stored["seed"] == 1].itertuples():
        point = curves.loc[(match.match_id, 10)]
        for me, other in (("a", "b"), ("b", "a")):
            if getattr(match, f"agent_{me}") == lola:
                rewards[getattr(match, f"agent_{other}")].append(point[f"reward_{me}"])
    assert len(rewards[lola]) == 2  # self-play: both sides of one match
    assert sample("self-play") == pytest.approx(statistics.mean(rewards[lola]), abs=1e-12)
    over_opponents = statistics.mean(statistics.mean(r) for r in rewards.values())
    assert sample(ALL_OPPONENTS) == pytest.approx(over_opponents, abs=1e-12)


def test_curve_samples_are_empty_without_learners(sweep_dir):
    fixed = load_matches(sweep_dir, agent=["tft", "alld"], sides="both")
    assert curve_samples(sweep_dir, sides(fixed)).empty
