"""Differentiable games (Tandem) through the whole pipeline: the sweep file, the stored
parameters, agreement with the engine, and a report without P(C | state)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from agents.spec import AgentSpec
from analysis.report import write_report
from sweeps.config import parse_sweep
from sweeps.runner import run_sweep
from tournament.games import get_game
from tournament.match import play_matches

TANDEM = {
    "name": "tandem",
    "game": "tandem",
    "updates": 30,
    "record_every": 10,
    "seeds": 3,
    "agents": [{"kind": "sos", "lr": 0.1}, {"kind": "lola-taylor", "lr": 0.1, "eta": 0.1}],
}


def test_a_differentiable_game_refuses_fixed_strategies_in_one_line():
    with pytest.raises(ValueError, match=r"^agents\[1\]\.kind: tft is a fixed strategy; tandem"):
        parse_sweep({**TANDEM, "agents": [{"kind": "nl"}, {"kind": "tft"}]})


@pytest.mark.slow
def test_tandem_sweep_stores_parameters_equal_to_the_engine_and_reports(ray_session, tmp_path):
    summary = run_sweep(parse_sweep(TANDEM), tmp_path)
    assert summary.ok == 3 * 3  # two variants, a round robin with self-play, 3 seeds
    matches = pd.read_parquet(tmp_path / "matches")
    sos = matches[(matches["kind_a"] == "sos") & (matches["kind_b"] == "sos")].sort_values("seed")
    spec = AgentSpec("sos", lr=0.1)
    engine = play_matches(get_game("tandem"), [spec] * 3, [spec] * 3, [0, 1, 2], 30)
    np.testing.assert_array_equal(np.stack(sos["params_a"]), engine.params_a[:, -1])
    np.testing.assert_array_equal(sos["reward_b"], engine.reward_b[:, -1])
    assert matches["p_coop_a_cc"].isna().all()
    total = np.stack(sos["params_a"])[:, 0] + np.stack(sos["params_b"])[:, 0]
    assert np.abs(total - 1).max() < 1e-3  # SOS on the stable line x + y = 1
    curves = pd.read_parquet(tmp_path / "curves")
    assert len(curves) == 9 * 4 and curves["params_a"].map(len).eq(1).all()

    index = write_report(tmp_path)
    figures = {p.stem for p in (index.parent / "figures").glob("*.png")}
    assert {"ranking", "learning_curves"} <= figures and "cooperation" not in figures


def test_parameters_beyond_the_games_bound_mark_the_match_diverged():
    """Tandem at lr 1: LOLA's parameters grow geometrically (to -3.7e29 in 200 updates
    unbounded). The match is diverged at the first update whose parameters leave the game's
    bound, found independently by replaying it without a bound."""
    tandem = get_game("tandem")
    lola = AgentSpec("lola", lr=1.0)
    bounded = play_matches(tandem, [lola] * 3, [lola] * 3, [0, 1, 2], 200)
    assert bounded.status == ["diverged"] * 3
    assert np.isnan(bounded.reward_a[:, -1]).all()
    unbounded = play_matches(
        replace(tandem, param_bound=float("inf")), [lola] * 3, [lola] * 3, [0, 1, 2], 200
    )
    assert unbounded.status == ["ok"] * 3 and (np.abs(unbounded.params_a[:, -1]) > 1e20).all()
    beyond = np.maximum(np.abs(unbounded.params_a), np.abs(unbounded.params_b)).max(axis=2)
    first = (beyond > tandem.param_bound).argmax(axis=1)
    np.testing.assert_array_equal(bounded.diverged_at, unbounded.updates[first])
    # before it, both runs are the same run
    for i, update in enumerate(bounded.diverged_at):
        np.testing.assert_array_equal(bounded.params_a[i, :update], unbounded.params_a[i, :update])
    # a converging match never meets the bound: lr 0.1 stays ok, as before
    slow = AgentSpec("lola", lr=0.1)
    assert play_matches(tandem, [slow] * 3, [slow] * 3, [0, 1, 2], 200).status == ["ok"] * 3
