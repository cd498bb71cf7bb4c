"""The closed-form engine against the autograd reference, bitwise independence of the batch,
and seed-only initialisation."""

import numpy as np
import pytest
import torch

from agents.functional import BatchedPolicy
from agents.policies import MLPPolicy, TabularPolicy
from agents.spec import AgentSpec
from tournament.games import GAMES, get_game
from tournament.match import CURVE_FIELDS, BatchState, join_results, play_matches

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


@pytest.mark.parametrize("make", [TabularPolicy, lambda: MLPPolicy(16)], ids=["tabular", "mlp"])
def test_initial_parameters_depend_on_the_seed_alone(make):
    policy = BatchedPolicy(make)
    together = policy.init([5, 900, 17, 3], torch.float64)
    alone = policy.init([17], torch.float64)
    for name, t in together.items():
        assert torch.equal(t[2], alone[name][0])
        assert not torch.equal(t[0], t[1])


def test_tabular_initial_logits_are_standard_normal():
    logits = BatchedPolicy(TabularPolicy).init(range(20_000), torch.float64)["logits"]
    assert abs(float(logits.mean())) < 0.02 and abs(float(logits.std()) - 1) < 0.02
    assert abs(float((logits.abs() < 1).double().mean()) - 0.6827) < 0.01  # P(|z| < 1)


def test_mlp_initial_weights_follow_pytorchs_default_bounds():
    """nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases."""
    theta = BatchedPolicy(lambda: MLPPolicy(32)).init(range(2000), torch.float64)
    for name, fan_in in (("0.weight", 5), ("0.bias", 5), ("2.weight", 32), ("2.bias", 32)):
        bound = 1 / np.sqrt(fan_in)
        draws = theta[name]
        assert float(draws.abs().max()) <= bound
        assert abs(float(draws.var()) - bound**2 / 3) < 0.03 * bound**2  # variance of U(-b, b)


def _round_trip(state):
    """A state through bytes, as a checkpoint file stores it."""
    import io

    buffer = io.BytesIO()
    torch.save({"update": state.update, "tensors": state.tensors, "d": state.diverged_at}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    return BatchState(saved["update"], saved["tensors"], saved["d"])


RESUMED = {
    "closed form, SGD and Adam, diverging": (
        IPD,
        [AgentSpec("lola", lookahead=2), AgentSpec("nl", optimizer="adam", lr=0.1)] * 2
        + [AgentSpec("lola", lr=1e10)],
        [AgentSpec("sos"), AgentSpec("tft"), AgentSpec("la", optimizer="adam"), AgentSpec("nl")]
        + [AgentSpec("lola", lr=1e10)],
    ),
    "autograd, MLP and Adam": (
        IPD,
        [AgentSpec("lola", policy="mlp:4", optimizer="adam", lr=0.1)] * 3,
        [AgentSpec("nl", policy="mlp:4")] * 3,
    ),
    "sampled": (
        IPD,
        [AgentSpec("lola-dice", episodes=4, steps=5, lr=0.3)] * 2,
        [AgentSpec("nl-pg", episodes=4, steps=5, optimizer="adam", lr=0.1)] * 2,
    ),
    "differentiable": (
        get_game("tandem"),
        [AgentSpec("lola", lr=float(lr)) for lr in (0.1, 1e6)],
        [AgentSpec("nl", lr=0.1)] * 2,
    ),
}


@pytest.mark.parametrize("case", list(RESUMED))
def test_play_resumed_update_by_update_from_saved_states_equals_uninterrupted_play(case):
    """The engine's checkpoint hook: stopped after every update (a deadline already past), its
    state through bytes, resumed: the joined curves, divergence marks and final state are bit
    for bit those of one uninterrupted call."""
    game, specs_a, specs_b = RESUMED[case]
    run = dict(seeds=list(range(len(specs_a))), updates=7, record_every=3)
    whole = play_matches(game, specs_a, specs_b, **run)
    pieces = [play_matches(game, specs_a, specs_b, deadline=0.0, **run)]
    while pieces[-1].state.update < run["updates"]:
        state = _round_trip(pieces[-1].state)
        pieces.append(play_matches(game, specs_a, specs_b, state=state, deadline=0.0, **run))
    assert len(pieces) == run["updates"]
    joined = join_results(pieces)
    np.testing.assert_array_equal(joined.updates, [0, 3, 6, 7])
    for name in CURVE_FIELDS:
        want, got = getattr(whole, name), getattr(joined, name)
        assert (want is None) == (got is None), name
        if want is not None:
            np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(joined.diverged_at, whole.diverged_at)
    assert (whole.diverged_at >= 0).any() == ("diverging" in case)
    assert joined.state.tensors.keys() == whole.state.tensors.keys()
    for name, tensor in whole.state.tensors.items():
        assert torch.equal(joined.state.tensors[name], tensor), name
