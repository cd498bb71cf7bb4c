"""DiCE against the exact value: derivatives of the sampled objective, to second order, equal
those of the closed form within Monte-Carlo error; rollouts follow the policies and depend on
their seed alone."""

import numpy as np
import pytest
import torch
from torch.func import hessian, jacrev

from agents.dice import DiceObjective, log_sigmoid, sample_rollouts
from agents.functional import grad
from agents.spec import AgentSpec
from tournament.games import GAMES, SWAP_VIEW
from tournament.match import play_matches
from tournament.values import discounted_values

IPD = GAMES["ipd"]
F64 = torch.float64
R_ROW = torch.tensor(IPD.payoffs_row, dtype=F64)
R_COL = torch.tensor(IPD.payoffs_col, dtype=F64)  # the column's payoffs in the row's view


def objective(batch, episodes, steps, gamma, baseline, seeds=None):
    """Both seats' DiCE objectives of tabular policies (parameters = the five logits)."""
    seeds = list(range(batch)) if seeds is None else seeds
    gamma_t = torch.full((len(seeds),), gamma, dtype=F64)
    return DiceObjective(
        lambda theta: theta["logits"],
        lambda theta: theta["logits"],
        R_ROW,
        R_COL,
        gamma_t,
        seeds,
        episodes,
        steps,
        baseline,
    )


def exact_values(gamma):
    def values(x):  # x = (logits of the row, logits of the column), [10] -> (V1, V2)
        p1, p2 = torch.sigmoid(x[:5])[None], torch.sigmoid(x[5:])[None]
        v1, v2 = discounted_values(IPD, p1, p2, gamma)
        return torch.stack([v1[0], v2[0]])

    return values


def dice_derivatives(theta1, theta2, groups, episodes, steps, gamma, baseline):
    """Gradient [P, G, 2, 10] and Hessian [P, G, 2, 10, 10] of both players' DiCE objectives
    w.r.t. (theta1, theta2), for G independent groups of episodes per pair (groups are rows
    of the batch: each its own seed)."""
    pairs = theta1.shape[0]
    dice = objective(pairs * groups, episodes, steps, gamma, baseline)
    both = {
        "1": theta1.repeat_interleave(groups, 0).requires_grad_(),
        "2": theta2.repeat_interleave(groups, 0).requires_grad_(),
    }
    surrogates = dice.surrogates({"logits": both["1"]}, {"logits": both["2"]}, rollout=0)
    grads, hessians = [], []
    for surrogate in surrogates:
        g = grad(surrogate, both, create_graph=True, retain_graph=True)
        g = torch.cat([g["1"], g["2"]], dim=1)  # [B, 10]
        rows = [grad(g[:, i], both, retain_graph=True) for i in range(10)]
        grads.append(g.detach())
        hessians.append(torch.stack([torch.cat([r["1"], r["2"]], dim=1) for r in rows], dim=1))
    shape = (pairs, groups, 2)
    return (
        torch.stack(grads, dim=1).reshape(*shape, 10),
        torch.stack(hessians, dim=1).reshape(*shape, 10, 10),
    )


@pytest.mark.slow
@pytest.mark.parametrize("baseline", ["mean", "none"])
def test_dice_first_and_second_derivatives_equal_the_exact_ones_within_monte_carlo_error(
    baseline,
):
    """Three random memory-one pairs in the IPD, gamma 0.9, 80 steps (gamma^80 = 2e-4: the
    truncation is far below the Monte-Carlo error), 32 groups of 128 episodes per pair. Every
    entry of both players' gradients and Hessians (w.r.t. both players' logits) is within 5
    standard errors of the exact derivative of ``tournament.values``; with the ``mean`` baseline
    the estimates are also precise (relative error under 8% for gradients, 25% for Hessians),
    so that a missing term could not pass."""
    gamma, steps, groups, episodes = 0.9, 80, 32, 128
    theta1, theta2 = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(0), dtype=F64)
    d1, d2 = dice_derivatives(theta1, theta2, groups, episodes, steps, gamma, baseline)
    values = exact_values(gamma)
    for pair in range(theta1.shape[0]):
        x = torch.cat([theta1[pair], theta2[pair]])
        exact_d1 = jacrev(values)(x)  # [2, 10]
        exact_d2 = torch.stack([hessian(lambda y, i=i: values(y)[i])(x) for i in (0, 1)])
        for estimates, exact, precision in ((d1, exact_d1, 0.08), (d2, exact_d2, 0.25)):
            mean = estimates[pair].mean(dim=0)
            standard_error = estimates[pair].std(dim=0) / groups**0.5
            z = (mean - exact).abs() / standard_error.clamp_min(1e-12)
            assert z.max() < 5, (pair, z.max())
            if baseline == "mean":
                for player in (0, 1):
                    relative = (mean[player] - exact[player]).norm() / exact[player].norm()
                    assert relative < precision, (pair, player, relative)
        if baseline == "none":
            continue
        # LOLA's term, d/dtheta1 of the opponent's gradient, comes from the opponent's
        # log-probabilities inside the magic box: estimated, not zero.
        mixed = d2[pair, :, 1, :5, 5:]
        error = (mixed.mean(dim=0) - exact_d2[1, :5, 5:]).norm()
        assert error < 0.5 * exact_d2[1, :5, 5:].norm(), (pair, error)


def test_rollouts_follow_the_policies_and_the_rules_of_the_game():
    gen = torch.Generator().manual_seed(1)
    p_row, p_col = torch.rand(2, 2, 5, generator=gen, dtype=F64)
    uniforms = np.random.default_rng(0).random((2, 2000, 30, 2))
    play = sample_rollouts(p_row, p_col, R_ROW, R_COL, uniforms)
    # Each player's state is the previous outcome in its own view: (own, other) actions.
    own, other = play.coop_self[:, :, :-1], play.coop_opp[:, :, :-1]
    expected_row = 1 + 2 * (~own).long() + (~other).long()
    expected_col = 1 + 2 * (~other).long() + (~own).long()
    assert torch.equal(play.states_self[:, :, 1:], expected_row)
    assert torch.equal(play.states_opp[:, :, 1:], expected_col)
    assert (play.states_self[:, :, 0] == 0).all() and (play.states_opp[:, :, 0] == 0).all()
    outcome = 2 * (~play.coop_self).long() + (~play.coop_opp).long()
    assert torch.equal(play.reward_self, R_ROW[outcome])
    assert torch.equal(play.reward_opp, R_COL[outcome])
    assert torch.equal(R_COL[list(SWAP_VIEW)], torch.tensor(IPD.payoffs_row, dtype=F64))
    # Cooperation frequencies per state match the probabilities (binomial standard errors).
    for coop, states, p in (
        (play.coop_self, play.states_self, p_row),
        (play.coop_opp, play.states_opp, p_col),
    ):
        for b in range(2):
            for s in range(5):
                seen = coop[b][states[b] == s].double()
                assert len(seen) > 100
                se = (p[b, s] * (1 - p[b, s]) / len(seen)) ** 0.5
                assert abs(seen.mean() - p[b, s]) < 5 * se


def test_sampled_return_estimates_the_exact_value():
    gamma, steps = 0.9, 120
    logits = torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(2), dtype=F64)
    dice = objective(4, 4000, steps, gamma, "none")
    play = dice.rollouts(logits[0], logits[1], rollout=0)
    sampled = play.discounted_reward_per_step(dice.gamma)
    exact = discounted_values(IPD, torch.sigmoid(logits[0]), torch.sigmoid(logits[1]), gamma)
    for s, v in zip(sampled, exact, strict=True):
        assert torch.allclose(s, (1 - gamma) * v, atol=0.03)
    # Without a baseline, the objective's value is the sampled discounted return.
    value_self, value_opp = dice.surrogates({"logits": logits[0]}, {"logits": logits[1]}, 0)
    horizon = (1 - gamma**steps) / (1 - gamma)  # sum_t gamma^t
    assert torch.allclose(value_self / horizon, sampled[0], rtol=1e-12)
    assert torch.allclose(value_opp / horizon, sampled[1], rtol=1e-12)


def test_a_matchs_episodes_depend_on_its_seed_alone():
    logits = torch.randn(2, 5, 5, generator=torch.Generator().manual_seed(4), dtype=F64)
    batch = objective(5, 16, 20, 0.96, "mean", seeds=[7, 3, 11, 5, 2])
    alone = objective(1, 16, 20, 0.96, "mean", seeds=[11])
    for rollout in (0, 3):
        together = batch.rollouts(logits[0], logits[1], rollout)
        one = alone.rollouts(logits[0][2:3], logits[1][2:3], rollout)
        assert torch.equal(together.coop_self[2:3], one.coop_self)
        assert torch.equal(together.reward_opp[2:3], one.reward_opp)
    other_rollout = batch.rollouts(logits[0], logits[1], 1)
    assert not torch.equal(
        other_rollout.coop_self, batch.rollouts(logits[0], logits[1], 0).coop_self
    )


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_log_sigmoid_and_two_derivatives_equal_torchs_at_zero_and_at_large_logits(dtype):
    """The batch-invariant ``log_sigmoid`` of the sampled learners against
    ``torch.nn.functional.logsigmoid``: value, first and second derivative, at exactly 0 (1/2
    and -1/4: a kink there once made the derivative 0, so logits at 0 never moved), near 0 and
    far out, where the other branch would overflow (no NaN leaks through the ``where``)."""
    big = 80.0 if dtype == torch.float32 else 700.0
    points = [0.0, -0.0, 1e-12, -1e-12, 0.5, -0.5, 3.0, -3.0, 40.0, -40.0, big, -big]

    def derivatives(f):
        x = torch.tensor(points, dtype=dtype, requires_grad=True)
        y = f(x)
        (d1,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        (d2,) = torch.autograd.grad(d1.sum(), x)
        return y.detach(), d1.detach(), d2

    ours, torchs = derivatives(log_sigmoid), derivatives(torch.nn.functional.logsigmoid)
    tol = {"rtol": 1e-6, "atol": 1e-7} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-15}
    for mine, theirs in zip(ours, torchs, strict=True):
        assert mine.isfinite().all()
        torch.testing.assert_close(mine, theirs, **tol)
    assert ours[1][:2].tolist() == [0.5, 0.5] and ours[2][:2].tolist() == [-0.25, -0.25]


def test_a_zero_initialised_nl_pg_learner_learns():
    """init 0: every logit exactly 0 (P(C) = 1/2). Against always-defect, the naive policy
    gradient then moves the logits of the states it visits (start, CD, DD) towards defection and
    its value rises; the states it never visits (CC, DC) keep P(C) = 1/2 exactly."""
    learner = AgentSpec("nl-pg", lr=0.5, init=0.0, episodes=16, steps=30)
    results = play_matches(IPD, [learner] * 3, [AgentSpec("alld")] * 3, [0, 1, 2], updates=10)
    p = results.p_coop_a  # [B, R, 5]: start, cc, cd, dc, dd
    assert (p[:, 0] == 0.5).all()
    assert (p[:, -1, [0, 2, 4]] < 0.45).all(), p[:, -1]
    assert (p[:, -1, [1, 3]] == 0.5).all()
    assert (results.reward_a[:, -1] > results.reward_a[:, 0] + 0.05).all(), results.reward_a
