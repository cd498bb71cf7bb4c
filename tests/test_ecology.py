"""The replicator dynamics over a tournament (analysis/ecology.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.ecology import replicator


def test_replicator_step_is_share_times_shifted_fitness_over_mean():
    agents = ["c", "d"]
    payoff = pd.DataFrame([[-1.0, -3.0], [0.0, -2.0]], index=agents, columns=agents)
    shares = replicator(payoff, turns=50)
    shifted = np.array([[2.0, 0.0], [3.0, 1.0]]) + 0.3  # M - min + 0.1 * range
    f = shifted @ [0.5, 0.5]
    np.testing.assert_allclose(shares.loc[1], 0.5 * f / (0.5 * f).sum())
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert shares.loc[50, "d"] > 0.99  # defection takes over the prisoner's dilemma


def test_replicator_on_summary_favours_the_dominant_agent(summary):
    shares = replicator(summary.payoff_matrix, turns=100)
    assert shares.iloc[-1].idxmax() == summary.agents[0]
    assert shares.iloc[-1].sum() == pytest.approx(1.0)
