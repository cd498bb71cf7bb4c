"""The Coin Game engine (tournament/engines/coin.py), its DiCE objective (tournament/coin_play.py)
and the command line on it."""

import ctypes
import ctypes.util
import resource
from dataclasses import replace

import numpy as np
import pytest
import torch

from agents.coin_policies import CoinPolicy, coin_policy_factory
from agents.dice import discounts
from agents.functional import grad, requires_grad
from agents.spec import AgentSpec
from cli.main import main
from tournament.coin_play import CoinDiceObjective, log_probs
from tournament.engines.sampled import keep_freed_memory
from tournament.games import CoinGame
from tournament.match import play_matches

KW = dict(dtype=torch.float64, device=torch.device("cpu"))
G = 3


def learner(kind="nl-pg", **options):
    base = dict(policy="mlp:8", optimizer="adam", lr=0.05, episodes=8, steps=12)
    return AgentSpec(kind, **{**base, **options})


def test_dice_gradient_is_reinforce_with_returns_to_go():
    """grad L_self (baseline none) = mean_e sum_t grad log pi(a_t) sum_{t' >= t} gamma^t' r_t',
    computed here from the same episodes with an ordinary surrogate."""
    policy = CoinPolicy(coin_policy_factory("mlp:8", G), G)
    theta = requires_grad(policy.init([0, 1], **KW))
    gamma = torch.full((2,), 0.9, **KW)
    objective = CoinDiceObjective(policy, "greedy", G, gamma, [0, 1], 16, 10, "none")
    surrogate, _ = objective.surrogates(theta, {}, rollout=0, of="self")
    d_dice = grad(surrogate, theta)
    played = objective.rollouts(theta, {}, 0)
    discounted = played.rewards[..., 0] * discounts(gamma, 10)  # [B, E, T]
    to_go = discounted.flip(2).cumsum(2).flip(2)
    reinforce = (log_probs(policy, theta, played, 0) * to_go).sum(2).mean(1)
    d_reinforce = grad(reinforce, theta)
    for n in theta:
        torch.testing.assert_close(d_dice[n], d_reinforce[n])
    assert float(torch.stack([d.abs().sum() for d in d_dice.values()]).sum()) > 0


def test_a_constant_opponents_log_probs_change_neither_the_objective_nor_its_gradient():
    """The opponent's log-probabilities enter the box only where its parameters require grad
    (NL-PG detaches them): with them in, the value and the gradient w.r.t. theta are the same
    bits."""
    policy = CoinPolicy(coin_policy_factory("mlp:8", G), G)
    theta, theta_opp = policy.init([0, 1], **KW), policy.init([2, 3], **KW)
    gamma = torch.full((2,), 0.9, **KW)
    objective = CoinDiceObjective(policy, policy, G, gamma, [0, 1], 16, 10, "mean")
    out = []
    for opp in (theta_opp, requires_grad(theta_opp)):
        leaves = requires_grad(theta)
        surrogate, _ = objective.surrogates(leaves, opp, rollout=0, of="self")
        out.append((surrogate, grad(surrogate, leaves)))
    (value, d), (value_in, d_in) = out
    assert torch.equal(value, value_in)
    for n in d:
        assert torch.equal(d[n], d_in[n])
    assert float(sum(t.abs().sum() for t in d.values())) > 0


def test_a_match_does_not_depend_on_its_batch():
    a, b = learner(policy="gru:4"), AgentSpec("reciprocal")
    alone = play_matches(CoinGame(G), [a], [b], [7], updates=2, dtype="float64")
    batch = play_matches(CoinGame(G), [a] * 3, [b] * 3, [3, 7, 11], updates=2, dtype="float64")
    for name in ("reward_a", "reward_b", "own_coin_share_a", "pickups_b"):
        np.testing.assert_array_equal(getattr(alone, name)[0], getattr(batch, name)[1])


def test_lola_dice_against_a_fixed_strategy_is_nl_pg():
    """Nothing to look ahead through: the same parameters, bit for bit."""
    games = [
        play_matches(CoinGame(G), [s], [AgentSpec("greedy")], [5], updates=2, dtype="float64")
        for s in (learner("nl-pg"), learner("lola-dice", lr_in=1.0))
    ]
    np.testing.assert_array_equal(games[0].reward_a, games[1].reward_a)
    np.testing.assert_array_equal(games[0].own_coin_share_a, games[1].own_coin_share_a)


def test_lola_dice_shapes_through_the_opponents_step():
    """In self-play the lookahead changes the direction (its second-order term is not 0), and
    with lr_in -> 0 it tends to NL-PG's."""
    from agents.rules import lola_dice, policy_gradient
    from tournament.engines.base import rule_params

    policy = CoinPolicy(coin_policy_factory("mlp:8", G), G)
    theta, theta_opp = policy.init([0], **KW), policy.init([1], **KW)
    gamma = torch.full((1,), 0.96, **KW)
    objective = CoinDiceObjective(policy, policy, G, gamma, [0], 16, 10, "mean")
    naive = policy_gradient(theta, theta_opp, objective, None)

    def lola(lr_in):
        hp = rule_params([learner("lola-dice", lr_in=lr_in)], KW)
        return lola_dice(theta, theta_opp, objective, hp)

    def distance(x):
        return sum(float((x[n] - naive[n]).abs().sum()) for n in naive)

    # rollouts 0 (own) are the same episodes only where the opponent did not move
    assert distance(lola(10.0)) > 0
    assert distance(lola(1e-9)) == pytest.approx(0, abs=1e-6)


def test_nl_pg_pairs_learn_to_collect_coins_and_stay_selfish():
    """From random-like play (about 0.11 coins per step each on a 3 x 3 torus) NL-PG pairs learn
    to pick up coins, and pick up the other's as readily as their own (the LOLA paper's naive
    learners: own-coin share about 0.5)."""
    spec = learner(policy="mlp:16", lr=0.1, episodes=64, steps=30)
    seeds = [0, 1, 2]
    results = play_matches(CoinGame(G), [spec] * 3, [spec] * 3, seeds, updates=30, dtype="float32")
    pickups = np.concatenate([results.pickups_a, results.pickups_b])  # [2B, R]
    assert pickups[:, 0].mean() == pytest.approx(0.11, abs=0.02)
    # each side's final pickups come from 64 x 30 evaluation steps: a standard error of about
    # 0.008 per side, 0.003 over the six; 0.14 is far above random play, and the curve rises
    assert pickups[:, -1].mean() > 0.14, pickups.mean(axis=0)
    assert pickups[:, -10:].mean() > pickups[:, :10].mean() + 0.02
    share = np.concatenate([results.own_coin_share_a, results.own_coin_share_b])[:, -1]
    assert abs(share.mean() - 0.5) < 0.1, share
    assert np.isnan(results.p_coop_a).all()


def test_coin_match_command_prints_own_coin_shares(capsys):
    code = main(
        [
            "match",
            "own-coin",
            "greedy",
            "--game",
            "coin",
            "--updates",
            "1",
            "--seeds",
            "2",
            "--json",
        ]
    )
    assert code == 0
    import json

    summary = json.loads(capsys.readouterr().out)
    assert summary["a"]["own_coin_share"] == 1.0
    assert summary["b"]["reward"] > 0 > summary["a"]["reward"]
    assert "p_coop" not in summary["a"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["nl", "greedy", "--game", "coin"], "agent_a.kind: nl needs the exact value; the Coin"),
        (["tft", "greedy", "--game", "coin"], "agent_a.kind: tft is a matrix-game strategy"),
        (["greedy", "tft"], "agent_a.kind: greedy is a Coin Game strategy; ipd is played by"),
        (["nl-pg", "greedy", "--game", "coin"], "agent_a.policy: 'tabular' cannot play the"),
        (["nl-pg", "greedy", "--game", "coin", "--policy", "lstm:3"], "agent_a.policy: unknown"),
        (["nl-pg", "tft", "--policy", "gru:4"], "agent_a.policy: unknown 'gru:4'; accepted: tab"),
        (["greedy", "greedy", "--game", "coin", "--grid-size", "1"], "grid_size: must be an int"),
        (["greedy", "greedy", "--game", "coin", "--grid-size", "100"], "grid_size: must be an"),
        (["tft", "tft", "--grid-size", "4"], "grid_size: only the Coin Game"),
        (["greedy", "greedy", "--game", "coin", "--payoffs", "1,2,3,4"], "payoffs: the Coin Game"),
        (
            ["nl-pg", "greedy", "--game", "coin", "--policy", "mlp:4", "--steps", "0"],
            "agent_a.steps: must be an integer >= 1",
        ),
        (
            ["lola-dice", "greedy", "--game", "coin", "--policy", "mlp:4", "--opponent-model", "1"],
            "agent_a.opponent_model: the Coin Game has no tabular opponent model",
        ),
        (["pola", "greedy", "--game", "coin"], "agent_a.kind: pola needs the exact value"),
        (
            [
                "pola-dice",
                "greedy",
                "--game",
                "coin",
                "--policy",
                "mlp:4",
                "--inner-steps",
                "4",
                "--outer-steps",
                "205",
            ],
            "outer_steps: pola-dice plays (inner_steps + 1) x outer_steps <= 1023 rollouts per "
            "update, got 1025",
        ),
        (
            ["pola-dice", "greedy", "--game", "coin", "--policy", "mlp:4", "--beta-out", "-1"],
            "agent_a.beta_out: must be finite and >= 0",
        ),
    ],
)
def test_bad_coin_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(["match", *argv, "--updates", "1", "--seeds", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


COIN_SWEEP = {
    "name": "coin",
    "game": "coin",
    "grid_size": 3,
    "updates": 2,
    "record_every": 1,
    "seeds": 2,
    "dtype": "float32",
    "agents": [
        {"kind": "nl-pg", "policy": "mlp:4", "optimizer": "adam", "lr": 0.05, "episodes": 4},
        {"kind": "greedy"},
        {"kind": "own-coin"},
    ],
}


@pytest.mark.slow
def test_a_coin_sweep_stores_the_same_bits_whatever_the_task_size_and_reports_shares(
    run_at_task_sizes, tmp_path
):
    """3 variants, round robin with self-play: 6 pairings x 2 seeds. The Coin Game's columns
    are filled and P(C | state) is null; task sizes 1 and 20 store the same bits, equal to a
    direct engine call; verify finds nothing; the report shows own-coin shares."""
    from analysis.report import summary_text, write_report
    from sweeps.schema import COIN_COLUMNS, P_COOP_COLUMNS
    from sweeps.verify import verify

    sweep = {
        **COIN_SWEEP,
        "agents": [{**COIN_SWEEP["agents"][0], "steps": 8}, *COIN_SWEEP["agents"][1:]],
    }
    (matches, curves), (other, other_curves) = run_at_task_sizes(sweep, planned=12)
    columns = ["reward_a", "reward_b", *COIN_COLUMNS]
    np.testing.assert_array_equal(matches[columns], other[columns])
    np.testing.assert_array_equal(curves[columns], other_curves[columns])
    assert matches[P_COOP_COLUMNS].isna().all().all()
    assert matches[["pickups_a", "pickups_b", "total_reward"]].notna().all().all()
    np.testing.assert_allclose(
        matches["total_reward"], matches["reward_a"] + matches["reward_b"], rtol=1e-6
    )  # float32 sums
    own = matches[(matches["kind_a"] == "own-coin") & (matches["kind_b"] == "greedy")]
    assert (own["own_coin_share_a"] == 1).all() and (own["reward_a"] < own["reward_b"]).all()
    row = matches[matches["kind_a"] == "nl-pg"].query("kind_b == 'greedy'").iloc[0]
    spec = AgentSpec("nl-pg", policy="mlp:4", optimizer="adam", lr=0.05, episodes=4, steps=8)
    direct = play_matches(
        CoinGame(3), [spec], [AgentSpec("greedy")], [int(row["seed"])], 2, dtype="float32"
    )
    assert row["reward_a"] == direct.reward_a[0, -1]
    assert row["pickups_b"] == direct.pickups_b[0, -1]
    out = tmp_path / "tasks1"
    assert not verify(out).problems
    text = summary_text(out)
    assert "own-coin" in text
    write_report(out)
    page = (out / "report" / "report.md").read_text()
    assert "own-coin share and pickups per step over updates" in page
    assert "P(C | state)" not in page


# --- POLA-DiCE in the Coin Game ---------------------------------------------------------------


def pola_dice(**options):
    base = dict(policy="mlp:8", optimizer="sgd", lr=0.5, lr_in=0.5, episodes=8, steps=12)
    return AgentSpec("pola-dice", **{**base, **options})


@pytest.mark.parametrize("policy, k", [("mlp:8", 1), ("mlp:8", 2), ("gru:4", 2)])
def test_pola_dice_with_one_outer_step_and_no_penalty_is_lola_dice(policy, k):
    """M = 1, beta = 0: POLA-DiCE plays LOLA-DiCE(k = K)'s rollouts (own on rollout 0, inner
    step j on rollout j + 1) and takes the same step, bit for bit, in self-play."""
    from agents.rules import RULES
    from tournament.engines.base import rule_params

    coin = CoinPolicy(coin_policy_factory(policy, G), G)
    theta, theta_opp = coin.init([0, 1], **KW), coin.init([2, 3], **KW)
    gamma = torch.full((2,), 0.96, **KW)
    spec = pola_dice(policy=policy, inner_steps=k, outer_steps=1, beta_in=0.0, beta_out=0.0)
    hp = replace(rule_params([spec] * 2, KW), lookahead=torch.tensor([k, k]))

    def direction(kind):
        objective = CoinDiceObjective(coin, coin, G, gamma, [0, 1], 8, 10, "mean", update=2)
        return RULES[kind](theta, theta_opp, objective, hp)

    pola, lola = direction("pola-dice"), direction("lola-dice")
    for n in theta:
        assert torch.equal(pola[n], lola[n]), n
    assert any(float(pola[n].abs().sum()) > 0 for n in theta)


def test_a_pola_dice_coin_match_with_one_step_and_no_penalty_is_a_lola_dice_match():
    """The same, through the engine and the optimiser: the recorded shares and rewards of two
    updates of self-play are LOLA-DiCE(k = 1)'s, bit for bit."""
    pola = pola_dice(inner_steps=1, outer_steps=1, beta_in=0.0, beta_out=0.0)
    lola = AgentSpec("lola-dice", policy="mlp:8", optimizer="sgd", lr=0.5, lr_in=0.5,
                     lookahead=1, episodes=8, steps=12)  # fmt: skip
    games = [
        play_matches(CoinGame(G), [s] * 2, [s] * 2, [4, 9], updates=2, dtype="float64")
        for s in (pola, lola)
    ]
    for field in ("reward_a", "reward_b", "own_coin_share_a", "pickups_b"):
        np.testing.assert_array_equal(getattr(games[0], field), getattr(games[1], field))
    assert not np.array_equal(games[0].reward_a[:, 0], games[0].reward_a[:, -1])


@pytest.mark.parametrize("policy", ["mlp:4", "conv:4", "gru:4"])
def test_the_kl_over_the_steps_played_of_constant_policies_is_the_closed_form(policy):
    """Policies whose last layer has zero weights play softmax(bias) in every state: ``D`` is
    ``sum_a q_a log(q_a / p_a)`` (q = softmax(old bias), p = softmax(bias)) whatever the steps,
    and its gradient w.r.t. the bias is ``p - q``; both players', each against its own old
    policy; D = 0 at the old policy."""
    coin = CoinPolicy(coin_policy_factory(policy, G), G)
    weight, bias = list(coin.init([0], **KW))[-2:]

    def constant(seed, logits):
        theta = coin.init([seed], **KW)
        theta[weight] = torch.zeros_like(theta[weight])
        theta[bias] = torch.tensor([logits], **KW)
        return theta

    b_old, b_new = [0.3, -1.2, 2.0, 0.1], [1.0, 0.5, -0.7, 0.0]
    q = np.exp(b_old) / np.exp(b_old).sum()
    p = np.exp(b_new) / np.exp(b_new).sum()
    gamma = torch.full((1,), 0.9, **KW)
    objective = CoinDiceObjective(coin, coin, G, gamma, [3], 6, 9, "mean")
    for of, seat in (("self", 0), ("opp", 1)):
        players = [constant(1, [0.0] * 4), constant(2, [0.0] * 4)]
        players[seat] = requires_grad(constant(5, b_new))
        old = constant(6, b_old)  # another network, the same constant policy
        _, kl = objective.proximal(*players, rollout=1, of=of, theta_old=old)
        assert float(kl.detach()[0]) == pytest.approx(float((q * np.log(q / p)).sum()), rel=1e-12)
        d_bias = torch.autograd.grad(kl.sum(), players[seat][bias])[0][0]
        np.testing.assert_allclose(d_bias.numpy(), p - q, rtol=1e-10, atol=1e-14)
        _, zero = objective.proximal(*players, rollout=1, of=of, theta_old=players[seat])
        assert float(zero.detach()[0]) == pytest.approx(0, abs=1e-15)


@pytest.mark.parametrize("opponent", ["greedy", "pola-dice"])
def test_a_pola_dice_coin_match_is_bitwise_the_same_alone_and_in_a_batch(opponent):
    """Against a fixed strategy (no inner steps) and in self-play (K = 2 inner steps, M = 2
    outer), matches of different lr and beta_out in one batch."""
    specs = [
        pola_dice(policy="gru:4", lr=lr, beta_in=5.0, beta_out=b, inner_steps=2, outer_steps=2)
        for lr, b in ((0.5, 150.0), (1.0, 0.0), (0.2, 10.0))
    ]
    other = AgentSpec("greedy") if opponent == "greedy" else specs[0]
    seeds = [5, 2, 7]
    batch = play_matches(CoinGame(G), specs, [other] * 3, seeds, updates=2, dtype="float64")
    for i in (0, 2):
        alone = play_matches(CoinGame(G), [specs[i]], [other], [seeds[i]], 2, dtype="float64")
        for field in ("reward_a", "reward_b", "own_coin_share_a", "pickups_a"):
            np.testing.assert_array_equal(getattr(alone, field)[0], getattr(batch, field)[i])
    assert not np.array_equal(batch.reward_a[:, 1], batch.reward_a[:, 2])


@pytest.mark.skipif(
    not hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallopt"), reason="not glibc"
)
def test_freed_memory_is_reused_inside_the_coin_engines_context_and_given_back_after():
    """A freed 128 MiB tensor's pages are reused by the next 64 MiB one inside
    ``keep_freed_memory`` (no new page faults), and faulted afresh outside it, as glibc does
    by default."""

    def faults_of_a_second_tensor() -> int:
        torch.ones(1 << 25)  # 128 MiB, freed at once
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        torch.ones(1 << 24)
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    pages = (64 << 20) // resource.getpagesize()
    with keep_freed_memory():
        assert faults_of_a_second_tensor() < pages // 10
    assert faults_of_a_second_tensor() > pages // 2
