"""The game's measures and wording (analysis/game.py): discounted play against closed forms, words
that follow the payoffs."""

from __future__ import annotations

import numpy as np

from analysis.game import GameInfo, discounted_play


def test_discounted_play_gives_the_closed_form_values_of_fixed_pairs():
    ipd = np.array([-1.0, -3.0, 0.0, -2.0])
    allc, alld, tft = [1.0] * 5, [0.0] * 5, [1.0, 1.0, 0.0, 1.0, 0.0]
    play = discounted_play(np.array([allc, tft, tft]), np.array([alld, alld, tft]), 0.9)
    np.testing.assert_allclose(play.sum(axis=1), 1.0)
    np.testing.assert_allclose(play @ ipd, [-3.0, 0.1 * -3 + 0.9 * -2, -1.0])
    # side b's view swaps CD and DC
    np.testing.assert_allclose(play[0], [0.0, 1.0, 0.0, 0.0])
    assert np.isnan(discounted_play(np.full((1, 5), np.nan), np.array([allc]), 0.9)).all()


def test_game_wording_follows_the_payoffs():
    from tournament.games import GAMES

    info = {name: GameInfo(name, g.payoffs_row, g.payoffs_col) for name, g in GAMES.items()}
    assert info["ipd"].has_cooperation and info["ipd"].references() == [
        ("mutual cooperation", -1.0),
        ("mutual defection", -2.0),
    ]
    assert info["stag_hunt"].has_cooperation and info["chicken"].has_cooperation
    imp = info["imp"]
    assert imp.zero_sum and not imp.has_cooperation and imp.nash == (0.5, 0.5)
    assert imp.references() == [("Nash value", 0.0)] and imp.measure[0] == "nash_distance"
    assert "C" not in imp.p_label and imp.state_labels[1] == "11"
    assert info["ipd"].reward_range == (-3.0, 0.0)
    unknown = GameInfo("ipd")
    assert not unknown.known and unknown.references() == [] and unknown.reward_range is None
