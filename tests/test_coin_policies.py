"""Coin Game policies (agents/coin_policies.py) and their log-probabilities on rollouts."""

import pytest
import torch
from torch import nn

from agents.coin_policies import CoinPolicy, coin_policy_factory, one_hot_planes
from tournament import coin_game
from tournament.coin_play import FixedSeat, PolicySeat, log_probs, play, sample_action

KW = dict(dtype=torch.float64, device=torch.device("cpu"))
G = 3


@pytest.mark.parametrize("name", ["mlp:8", "conv:4", "gru:8"])
def test_batched_logits_equal_each_module_run_alone(name):
    policy = CoinPolicy(coin_policy_factory(name, G), G)
    theta = policy.init([3, 4, 5], **KW)
    obs = torch.rand(3, 7, 4, G, G, dtype=torch.float64)
    hidden = policy.initial_hidden(3, 7, obs) if policy.recurrent else None
    logits, _ = policy.logits(theta, obs, hidden)
    assert logits.shape == (3, 7, 4)
    for b in range(3):
        module = coin_policy_factory(name, G)().to(torch.float64)
        module.load_state_dict({n: t[b] for n, t in theta.items()})
        alone = module(obs[b], hidden[b])[0] if policy.recurrent else module(obs[b])
        torch.testing.assert_close(logits[b], alone)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["mlp:8", "conv:4", "gru:8"])
def test_logits_from_the_ones_positions_equal_those_of_the_planes(name, dtype):
    """``logits_of_active`` (the MLP's first layer as a sum of weight columns, no planes) gives
    the logits of the one-hot planes and their gradients, up to the order of the sums'
    rounding."""
    policy = CoinPolicy(coin_policy_factory(name, G), G)
    theta = policy.init([3, 4], dtype)
    cells = torch.randint(0, G * G, (2, 50, 4))
    own, other, coin, coin_is_own = cells.unbind(-1)
    ones = coin_game.ones_of_cells(own, other, coin, coin_is_own % 2 == 0, G)
    obs = one_hot_planes(ones, G, dtype)
    hidden = policy.initial_hidden(2, 50, obs) if policy.recurrent else None
    assert torch.equal(obs.sum(dim=(-1, -2, -3)), torch.full((2, 50), 3.0, dtype=dtype))
    theta = {n: t.requires_grad_(True) for n, t in theta.items()}
    expected, _ = policy.logits(theta, obs, hidden)
    logits, _ = policy.logits_of_active(theta, ones, hidden)
    torch.testing.assert_close(logits, expected)
    for d, d_expected in zip(
        torch.autograd.grad(logits.pow(2).sum(), list(theta.values())),
        torch.autograd.grad(expected.pow(2).sum(), list(theta.values())),
        strict=True,
    ):
        torch.testing.assert_close(d, d_expected)


@pytest.mark.parametrize("name", ["mlp:8", "conv:4", "gru:8"])
def test_initial_parameters_depend_on_the_seed_alone(name):
    policy = CoinPolicy(coin_policy_factory(name, G), G)
    alone = policy.init([11], **KW)
    batch = policy.init([5, 11, 7], **KW)
    for n, t in alone.items():
        assert torch.equal(t[0], batch[n][1])


def test_conv_policy_sees_the_torus_shifts_equivariantly_before_its_head():
    module = coin_policy_factory("conv:4", G)().double()
    obs = torch.rand(1, 4, G, G, dtype=torch.float64)
    body = nn.Sequential(*list(module)[:4])
    shifted = body(torch.roll(obs, 1, dims=-1))
    torch.testing.assert_close(shifted, torch.roll(body(obs), 1, dims=-1))


def test_gru_remembers_an_earlier_observation():
    policy = CoinPolicy(coin_policy_factory("gru:8", G), G)
    theta = policy.init([0], **KW)
    h = policy.initial_hidden(1, 2, torch.zeros((), **KW))
    first = torch.zeros(1, 2, 4, G, G, dtype=torch.float64)
    first[0, 0, 0, 0, 0] = 1  # the two episodes differ only in their first observation
    _, h = policy.logits(theta, first, h)
    same = torch.ones(1, 2, 4, G, G, dtype=torch.float64)
    logits, _ = policy.logits(theta, same, h)
    assert not torch.allclose(logits[0, 0], logits[0, 1])


@pytest.mark.parametrize("bad", ["tabular", "mlp", "mlp:0", "conv:x", "lstm:8", "mlp:-2", ""])
def test_policy_strings_that_do_not_parse_are_one_line_errors(bad):
    with pytest.raises(ValueError, match=r"^policy: .* accepted: mlp:H, conv:C, gru:H"):
        coin_policy_factory(bad, G)


def test_a_module_that_cannot_take_the_observations_is_refused():
    with pytest.raises(ValueError, match=r"^policy: the module cannot map observations"):
        CoinPolicy(lambda: nn.Linear(5, 1), G)
    with pytest.raises(ValueError, match=r"^policy: the module cannot map observations"):
        CoinPolicy(lambda: nn.Sequential(nn.Flatten(-3), nn.Linear(4 * G * G, 3)), G)


def test_sampled_actions_follow_the_softmax():
    logits = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)).expand(40000, 4)
    u = torch.rand(40000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(sample_action(logits + 3.0, u), minlength=4).double() / 40000
    torch.testing.assert_close(freq, torch.tensor([0.1, 0.2, 0.3, 0.4], **KW), atol=0.01, rtol=0)


@pytest.mark.parametrize("name", ["mlp:8", "gru:8"])
def test_log_probs_from_positions_equal_those_of_the_played_policy(name):
    """The rollout's actions re-evaluated from the recorded positions, and their probabilities
    of being drawn: a policy whose logits are all equal logs log(1/4) at every step, and a
    trained-looking policy's mean log-probability equals minus its mean entropy (sampling)."""
    policy = CoinPolicy(coin_policy_factory(name, G), G)
    theta = policy.init([1, 2], **KW)
    rollouts = play((PolicySeat(policy, theta), FixedSeat("greedy")), [1, 2], 64, 20, G, 3, KW)
    log_p = log_probs(policy, theta, rollouts, 0)
    assert log_p.shape == (2, 64, 20)
    flat = {n: torch.zeros_like(t) for n, t in theta.items()}
    torch.testing.assert_close(
        log_probs(policy, flat, rollouts, 0),
        torch.full((2, 64, 20), -torch.log(torch.tensor(4.0)), **KW),
    )
    # E[log pi(a)] under a ~ pi equals -H(pi): recompute the entropy at the same observations
    steps = rollouts.coin.shape[2]
    obs = rollouts.observations(0, 0, steps, torch.float64)
    if policy.recurrent:
        h = policy.initial_hidden(2, 64, obs)
        entropy = []
        for t in range(steps):
            logits, h = policy.logits(theta, obs[:, :, t], h)
            p = torch.softmax(logits, -1)
            entropy.append(-(p * p.log()).sum(-1))
        entropy = torch.stack(entropy, 2)
    else:
        logits, _ = policy.logits(theta, obs.reshape(2, -1, 4, G, G))
        p = torch.softmax(logits, -1)
        entropy = -(p * p.log()).sum(-1).reshape(2, 64, steps)
    assert abs(log_p.mean() + entropy.mean()) < 0.05
