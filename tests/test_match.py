"""play_matches (tournament/match.py): fixed strategies, recorded values, divergence, dtypes,
devices, the choice of engine, play in pieces, bad input."""

import io

import numpy as np
import pyarrow as pa
import pytest
import torch

from agents.spec import AgentSpec
from sweeps.config import parse_sweep
from sweeps.plan import plan_matches, plan_tasks
from sweeps.schema import match_tables
from tournament.engines.autograd import AutogradEngine
from tournament.engines.sampled import SampledEngine
from tournament.games import GAMES, CoinGame, Game, get_game
from tournament.match import ENGINES, choose_engine, play_matches
from tournament.recorder import CURVES, BatchState, join_results
from tournament.values import reward_per_step

IPD = GAMES["ipd"]


def test_fixed_strategies_keep_their_exact_values():
    results = play_matches(IPD, [AgentSpec("tft")], [AgentSpec("alld")], [0], updates=5)
    assert np.allclose(results.reward_a, -(3 * 0.04 + 2 * 0.96), atol=1e-12)
    assert np.allclose(results.p_coop_b, 0.0, atol=0)


def test_learner_recorded_rewards_equal_exact_values_of_recorded_policies():
    results = play_matches(IPD, [AgentSpec("lola")], [AgentSpec("nl")], [3], 10, record_every=5)
    assert results.updates.tolist() == [0, 5, 10]
    p_a = torch.from_numpy(results.p_coop_a[0])
    p_b = torch.from_numpy(results.p_coop_b[0])
    r_a, r_b = reward_per_step(IPD, p_a, p_b, 0.96)
    assert np.allclose(r_a.numpy(), results.reward_a[0], atol=1e-12)
    assert np.allclose(r_b.numpy(), results.reward_b[0], atol=1e-12)


def test_naive_learner_against_allc_learns_to_defect():
    results = play_matches(IPD, [AgentSpec("nl")], [AgentSpec("allc")], [0], updates=100)
    assert results.reward_a[0, -1] > -0.05  # exploits AllC: close to the temptation payoff 0


def test_non_finite_updates_are_marked_diverged_and_others_continue():
    specs = [AgentSpec("sos", lr=1e300), AgentSpec("sos", lr=1.0)]
    results = play_matches(IPD, specs, specs, [0, 1], updates=10)
    assert results.status == ["diverged", "ok"] and results.diverged_at.tolist() == [1, -1]
    assert np.isnan(results.reward_a[0, -1]) and np.isfinite(results.reward_a[1, -1])
    alone = play_matches(IPD, specs[1:], specs[1:], [1], updates=10)
    assert np.allclose(alone.reward_a[0], results.reward_a[1], atol=1e-12)


def test_float32_is_close_to_float64():
    spec = AgentSpec("lola-taylor")
    r32 = play_matches(IPD, [spec], [spec], [0], 10, dtype="float32")
    r64 = play_matches(IPD, [spec], [spec], [0], 10, dtype="float64")
    assert r32.reward_a.dtype == np.float32
    assert np.allclose(r32.reward_a, r64.reward_a, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu():
    """Every stored column of every match and curve row (the engine seconds aside), for exact,
    module-policy and sampled learners and a fixed strategy."""
    config = parse_sweep(
        {
            "name": "cuda",
            "updates": 20,
            "record_every": 5,
            "seeds": 2,
            "agents": [
                {"kind": "lola", "lookahead": 2},
                {"kind": "nl", "policy": "mlp:8"},
                {"kind": "lola-dice", "episodes": 8, "steps": 10},
                {"kind": "tft"},
            ],
        }
    )
    settings = {"sweep": config.name, "gamma": config.gamma, "updates": config.updates}
    for task in plan_tasks(plan_matches(config), 64, config.game_obj()):
        stored = {}
        for device in ("cpu", "cuda"):
            results = play_matches(
                IPD,
                [m.a.spec for m in task.matches],
                [m.b.spec for m in task.matches],
                [m.seed for m in task.matches],
                config.updates,
                record_every=config.record_every,
                device=device,
            )
            stored[device] = match_tables(task, settings, results)
        for cpu, gpu in zip(stored["cpu"], stored["cuda"], strict=True):
            assert cpu.schema == gpu.schema
            for name in cpu.column_names:
                a, b = cpu.column(name).to_pylist(), gpu.column(name).to_pylist()
                kind = cpu.schema.field(name).type
                if name == "elapsed_s":
                    continue
                if pa.types.is_floating(kind) or pa.types.is_list(kind):
                    a, b = np.array(a, dtype=float), np.array(b, dtype=float)
                    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10, err_msg=name)
                else:
                    assert a == b, name


@pytest.mark.parametrize(
    "a, b, engine",
    [
        (AgentSpec("lola"), AgentSpec("tft"), "closed_form"),
        (AgentSpec("lola", policy="mlp:4"), AgentSpec("tft"), "autograd"),
        (AgentSpec("nl-pg"), AgentSpec("lola"), "sampled"),
    ],
)
def test_auto_takes_the_first_engine_that_plays_the_matches(a, b, engine):
    assert choose_engine("auto", IPD, [a, b]) is ENGINES[engine]
    assert choose_engine("auto", get_game("tandem"), [AgentSpec("sos")] * 2) is AutogradEngine


def test_an_engine_refuses_a_game_of_a_type_it_does_not_play():
    tandem, sos = get_game("tandem"), [AgentSpec("sos")] * 2
    with pytest.raises(ValueError, match="engine: sampled plays Game only, not tandem"):
        choose_engine("sampled", tandem, sos)
    with pytest.raises(ValueError, match="engine: closed_form plays Game only, not tandem"):
        choose_engine("closed_form", tandem, sos)
    assert ENGINES["sampled"].games == (Game,)
    assert SampledEngine.why_not(tandem, [AgentSpec("nl-pg")]) == "plays Game only, not tandem"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: AgentSpec("lola", lr=-0.1), "lr: must be finite and > 0, got -0.1"),
        (lambda: AgentSpec("lola", lr_in=0.0), "lr_in: must be finite and > 0, got 0.0"),
        (
            lambda: AgentSpec("lola", lookahead=0),
            r"lookahead: must be an integer in \[1, 20\], got 0",
        ),
        (lambda: AgentSpec("lola", eta=-1.0), "eta: must be finite and >= 0"),
        (lambda: AgentSpec("lola", policy="cnn"), "policy: unknown 'cnn'; accepted: tabular"),
        (lambda: AgentSpec("nl", optimizer="rmsprop"), "optimizer: unknown 'rmsprop'; accepted"),
        (lambda: AgentSpec("lolaa"), "agent: unknown 'lolaa'; accepted: nl, la, lola"),
        (lambda: AgentSpec("memory1", p=(1, 1)), r"p: memory1 needs 5 probabilities in \[0, 1\]"),
        (lambda: AgentSpec("random", p=(1.5,)), r"p: random needs 1 probability in \[0, 1\]"),
        (
            lambda: play_matches(IPD, [AgentSpec("nl")], [AgentSpec("nl")], [0], 1, gamma=1.0),
            "gamma: must be in",
        ),
        (lambda: play_matches(IPD, [AgentSpec("nl")], [AgentSpec("nl")], [0], -1), "updates"),
    ],
)
def test_bad_agent_input_is_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _round_trip(state: BatchState) -> BatchState:
    """A state through bytes, as a checkpoint file stores it."""
    buffer = io.BytesIO()
    torch.save({"update": state.update, "tensors": state.tensors, "d": state.diverged_at}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    return BatchState(saved["update"], saved["tensors"], saved["d"])


COIN_LEARNER = dict(policy="mlp:4", episodes=4, steps=6)
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
    "differentiable, diverging (past the parameter bound)": (
        get_game("tandem"),
        [AgentSpec("lola", lr=float(lr)) for lr in (0.1, 1e6)],
        [AgentSpec("nl", lr=0.1)] * 2,
    ),
    "online q vs tft": (
        IPD,
        [AgentSpec("q", alpha=0.5, epsilon=0.2, steps=6), AgentSpec("q", alpha=0.1, steps=6)],
        [AgentSpec("tft")] * 2,
    ),
    "online wolf-phc vs phc": (
        IPD,
        [AgentSpec("wolf-phc", steps=6)] * 2,
        [AgentSpec("phc", steps=6)] * 2,
    ),
    "online jal-q vs lola with Adam": (
        IPD,
        [AgentSpec("jal-q", steps=6)] * 2,
        [AgentSpec("lola", optimizer="adam", lr=0.1)] * 2,
    ),
    "online, mixed kinds and opponents in one batch": (
        IPD,
        [AgentSpec("q", steps=6), AgentSpec("phc", steps=6), AgentSpec("nl", lr=0.5)],
        [AgentSpec("jal-q", steps=6), AgentSpec("lola", lr=0.3), AgentSpec("wolf-phc", steps=6)],
    ),
    "coin, Adam": (
        CoinGame(3),
        [AgentSpec("lola-dice", optimizer="adam", lr=0.05, **COIN_LEARNER)] * 2,
        [AgentSpec("nl-pg", lr=0.1, **COIN_LEARNER)] * 2,
    ),
    "coin vs a fixed strategy": (
        CoinGame(3),
        [AgentSpec("nl-pg", optimizer="adam", lr=0.05, **COIN_LEARNER)] * 2,
        [AgentSpec("greedy")] * 2,
    ),
}


@pytest.mark.parametrize("case", list(RESUMED))
def test_play_resumed_update_by_update_from_saved_states_equals_uninterrupted_play(case):
    """The engines' checkpoint hook: stopped after every update (a deadline already past), its
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
    for name in CURVES:
        want, got = getattr(whole, name), getattr(joined, name)
        assert (want is None) == (got is None), name
        if want is not None:
            np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(joined.diverged_at, whole.diverged_at)
    assert (whole.diverged_at >= 0).any() == ("diverging" in case)
    assert joined.state.tensors.keys() == whole.state.tensors.keys()
    for name, tensor in whole.state.tensors.items():
        assert torch.equal(joined.state.tensors[name], tensor), name
