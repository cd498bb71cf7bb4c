"""The closed-form engine (tournament/engines/closed_form.py) against the autograd reference,
and bitwise independence of the batch."""

import numpy as np
import pytest

from agents.spec import AgentSpec
from tournament.games import GAMES
from tournament.match import play_matches

IPD, IMP = GAMES["ipd"], GAMES["imp"]

PAIRINGS = {
    "lola-k2 vs nl": (dict(kind="lola", lookahead=2, lr_in=0.8), dict(kind="nl")),
    "la-k3 vs lola-taylor": (dict(kind="la", lookahead=3), dict(kind="lola-taylor", eta=0.5)),
    "sos vs tft": (dict(kind="sos"), dict(kind="tft")),
    "lola vs gtft": (dict(kind="lola"), dict(kind="gtft")),
    "nl-adam vs sos": (dict(kind="nl", optimizer="adam"), dict(kind="sos")),
    "sga vs co": (dict(kind="sga"), dict(kind="co", gamma_co=0.5)),
    "eg vs hola-3": (dict(kind="eg", lr_in=0.5), dict(kind="hola", order=3)),
    "cgd vs alld": (dict(kind="cgd", lr_in=0.5), dict(kind="alld")),
}


@pytest.mark.parametrize("game", [IPD, IMP], ids=["ipd", "imp"])
@pytest.mark.parametrize("pairing", list(PAIRINGS))
def test_closed_form_engine_equals_autograd_engine(pairing, game):
    """Same rules, gradients from the closed form vs autograd: equal to 1e-10 over 20 updates
    (float64), for several learning rates and gammas in one batch."""
    options_a, options_b = PAIRINGS[pairing]
    lrs, gammas = [0.3, 1.0, 0.7, 1.5], [0.96, 0.9, 0.8, 0.96]
    specs_a = [AgentSpec(**{"lr": lr, **options_a}) for lr in lrs]
    specs_b = [AgentSpec(**{"lr": lr, **options_b}) for lr in reversed(lrs)]
    run = dict(seeds=[3, 1, 4, 1], updates=20, gamma=gammas, record_every=5)
    fast = play_matches(game, specs_a, specs_b, engine="closed_form", **run)
    reference = play_matches(game, specs_a, specs_b, engine="autograd", **run)
    for got, want in (
        (fast.p_coop_a, reference.p_coop_a),
        (fast.p_coop_b, reference.p_coop_b),
        (fast.reward_a, reference.reward_a),
    ):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    assert fast.p_coop_a[:, -1].std() > 1e-3  # the matches really moved, and differ


MIXED = [
    AgentSpec("lola", lookahead=1),
    AgentSpec("lola", lookahead=3, lr=0.5),
    AgentSpec("la", lookahead=2),
    AgentSpec("nl"),
    AgentSpec("lola-taylor", lr=0.3),
    AgentSpec("sos"),
    AgentSpec("nl", optimizer="adam", lr=0.1),
    AgentSpec("tft"),
    AgentSpec("alld"),
    AgentSpec("sga"),
    AgentSpec("co", gamma_co=0.3),
    AgentSpec("eg", lr=0.5),
    AgentSpec("cgd", lr_in=0.5),
    AgentSpec("lss"),
    AgentSpec("hola", order=1),
    AgentSpec("hola", order=3, lr=0.3),
]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_match_is_bitwise_the_same_in_any_batch(dtype):
    """200 updates of LOLA's chaotic dynamics amplify any last-bit difference: a match played
    alone, inside a large mixed batch, in a subset and in reverse order gives identical bits."""
    rng = np.random.default_rng(0)
    n = 150
    kinds = MIXED[:-1]  # HOLA of order 3 is costly: the copies test below covers it
    specs_a = [kinds[i] for i in rng.integers(0, len(kinds), n)]
    specs_b = [kinds[i] for i in rng.integers(0, len(kinds), n)]
    seeds = list(range(100, 100 + n))
    run = dict(updates=200, record_every=50, dtype=dtype)
    batch = play_matches(IPD, specs_a, specs_b, seeds, **run)
    subset = list(range(2, n, 7))[::-1]
    part = play_matches(
        IPD,
        [specs_a[i] for i in subset],
        [specs_b[i] for i in subset],
        [seeds[i] for i in subset],
        **run,
    )
    for field in ("reward_a", "reward_b", "p_coop_a", "p_coop_b"):
        assert np.array_equal(getattr(part, field), getattr(batch, field)[subset], equal_nan=True)
    for i in (0, 1, n - 1):
        alone = play_matches(IPD, [specs_a[i]], [specs_b[i]], [seeds[i]], **run)
        assert np.array_equal(alone.p_coop_a[0], batch.p_coop_a[i], equal_nan=True)
        assert np.array_equal(alone.reward_b[0], batch.reward_b[i], equal_nan=True)
    # Not a vacuous check: the batch holds many different trajectories.
    assert len(np.unique(batch.reward_a[:, -1].round(6))) > 20


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec", [s for s in MIXED if s.learner], ids=lambda s: s.label())
def test_copies_of_one_match_agree_bitwise_at_every_batch_position(spec, dtype):
    """37 copies put matches both in the vectorised body and in the scalar tail of every CPU
    kernel (and transposed gradients in both orders of a reduction): all rows must agree."""
    n = 37
    results = play_matches(IPD, [spec] * n, [spec] * n, [5] * n, 100, record_every=100, dtype=dtype)
    for field in (results.p_coop_a, results.p_coop_b, results.reward_a):
        assert (field == field[:1]).all()
