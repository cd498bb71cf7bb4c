"""agents/proximal.py and the POLA rules that use it (exact ``pola``, sampled ``pola-dice``)
against independent references: LOLA and LOLA-DiCE as their limits, the Fisher-preconditioned
gradient as the large-penalty limit, the KL computed by hand, and POLA-DiCE's estimator against
an exact proximal step (the torch.func reference of ``pola`` is in tests/test_rules.py)."""

import math

import numpy as np
import pytest
import torch
from torch.func import grad

from agents.dice import DiceObjective
from agents.proximal import mean_kl, policy_kl, visited_kl
from agents.rules import RULES, RuleParams
from agents.spec import AgentSpec
from cli.main import main
from tournament.games import GAMES, SWAP_VIEW
from tournament.match import play_matches
from tournament.values import TabularObjective, discounted_values

IPD = GAMES["ipd"]
F64 = torch.float64
R_ROW = torch.tensor(IPD.payoffs_row, dtype=F64)
R_COL = torch.tensor(IPD.payoffs_col, dtype=F64)  # the column's payoffs in the row's view


def full(batch, value, dtype=F64):
    return torch.full((batch,), value, dtype=dtype)


def pola_params(batch, lr=0.3, lr_in=1.0, beta_in=0.0, beta_out=0.0, inner=1, outer=1, k=1):
    return RuleParams(
        lr_in=full(batch, lr_in),
        eta=full(batch, 1.0),
        lookahead=full(batch, k, torch.long),
        lr=full(batch, lr),
        beta_in=full(batch, beta_in),
        beta_out=full(batch, beta_out),
        inner_steps=full(batch, inner, torch.long),
        outer_steps=full(batch, outer, torch.long),
    )


def points(batch, seed):
    gen = torch.Generator().manual_seed(seed)
    return ({"logits": t} for t in torch.randn(2, batch, 5, generator=gen, dtype=F64))


def exact(batch, gamma=0.96):
    return TabularObjective(R_ROW, R_COL, full(batch, gamma))


# --- the KL term ------------------------------------------------------------------------------


def test_the_kl_and_its_gradient_match_a_hand_computed_case():
    """Five states, P(C) old -> new: 1/2 -> 1/4, 1/2 -> 1/2, 9/10 -> 1/2, 1/5 -> 4/5, 1/2 -> 9/10.
    KL(Bern(q) || Bern(p)) = q ln(q/p) + (1-q) ln((1-q)/(1-p)): 1/2 ln(4/3), 0,
    9/10 ln(9/5) + 1/10 ln(1/5), 1/5 ln(1/4) + 4/5 ln 4, 1/2 ln(25/9); d/d logit = (p - q)."""
    old = torch.tensor([[0.5, 0.5, 0.9, 0.2, 0.5]], dtype=F64)
    new = torch.tensor([[0.25, 0.5, 0.5, 0.8, 0.9]], dtype=F64)
    by_hand = [
        0.5 * math.log(4 / 3),
        0.0,
        0.9 * math.log(9 / 5) + 0.1 * math.log(1 / 5),
        0.2 * math.log(1 / 4) + 0.8 * math.log(4),
        0.5 * math.log(25 / 9),
    ]
    logits_old, logits = torch.logit(old), torch.logit(new).requires_grad_(True)
    np.testing.assert_allclose(policy_kl(logits_old, logits)[0].detach(), by_hand, atol=1e-14)
    d = mean_kl(logits_old, logits)
    assert abs(float(d.detach()) - sum(by_hand) / 5) < 1e-14
    (d_logits,) = torch.autograd.grad(d, logits)
    np.testing.assert_allclose(d_logits[0], [-0.05, 0.0, -0.08, 0.12, 0.08], atol=1e-14)
    states = torch.tensor([[[0, 0, 3], [4, 1, 0]]])  # [B = 1, E = 2, T = 3]: 0 three times, ...
    visited = (3 * by_hand[0] + by_hand[3] + by_hand[4] + by_hand[1]) / 6
    assert abs(float(visited_kl(logits_old, logits, states).detach()) - visited) < 1e-14


# --- exact POLA -------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["tabular", "mlp:8"])
def test_pola_with_one_outer_step_and_no_penalty_is_lola_with_one_step(policy):
    """M = 1, beta = 0: the proximal argmin is one gradient step on V1(theta1, theta2'), LOLA
    k = 1 (both engines: tabular on the closed form, the MLP on autograd), to 1e-10 over 20
    updates. beta_in does not matter with K = 1 (the KL's gradient vanishes at the old policy)."""
    pola = AgentSpec("pola", lr=0.5, lr_in=2.0, beta_in=5.0, beta_out=0.0, outer_steps=1,
                     inner_steps=1, policy=policy)  # fmt: skip
    lola = AgentSpec("lola", lr=0.5, lr_in=2.0, lookahead=1, policy=policy)
    seeds = [0, 1, 2]
    got = play_matches(IPD, [pola] * 3, [AgentSpec("nl")] * 3, seeds, updates=20)
    want = play_matches(IPD, [lola] * 3, [AgentSpec("nl")] * 3, seeds, updates=20)
    for field in ("p_coop_a", "p_coop_b", "reward_a"):
        np.testing.assert_allclose(getattr(got, field), getattr(want, field), atol=1e-10)
    assert not np.allclose(got.p_coop_a[:, 0], got.p_coop_a[:, -1], atol=1e-2)


def test_a_large_outer_penalty_shrinks_the_step_to_the_fisher_preconditioned_gradient():
    """As beta_out -> infinity the proximal point tends to theta1 + (beta_out H)^-1 grad F:
    the step vanishes like 1 / beta_out, and beta_out times it tends to H^-1 g_lola, with
    H = diag(p (1 - p)) / 5 the Hessian of the state-averaged KL at the old policy and g_lola
    the LOLA k = 1 direction (the gradient of F there)."""
    theta1, theta2 = points(3, 4)
    hp_lola = pola_params(3)
    g_lola = RULES["lola"](theta1, theta2, exact(3), hp_lola)["logits"]
    p = torch.sigmoid(theta1["logits"])
    limit = g_lola / (p * (1 - p) / 5)
    steps = {}
    for beta in (1e3, 1e5):
        # Gradient steps of 10 / beta: each contracts the distance to the argmin by at least
        # 1 - 10 H >= 1/2 per state; 400 steps reach it to machine precision.
        hp = pola_params(3, lr=10 / beta, beta_out=beta, outer=400)
        direction = RULES["pola"](theta1, theta2, exact(3), hp)["logits"]
        steps[beta] = hp.lr[:, None] * direction  # theta1^(M) - theta1
    ratio = steps[1e3].abs().max() / steps[1e5].abs().max()
    assert 90 < ratio < 110, ratio
    error = {b: float((b * s - limit).abs().max() / limit.abs().max()) for b, s in steps.items()}
    assert error[1e5] < 1e-3 and error[1e5] < error[1e3] / 50, error  # O(1 / beta)


def test_outer_steps_stop_where_the_proximal_objective_settles_and_mix_in_a_batch():
    """With the tolerance, M = 1,000 gives the argmin of M = 400 bit for bit (both stop early,
    where the proximal objective no longer changes); a batch mixing M = 2, 5 and 400 gives each
    match its own result, as alone."""
    gen = torch.Generator().manual_seed(9)
    theta1, theta2 = 0.5 * torch.randn(2, 3, 5, generator=gen, dtype=F64)

    def step(outer, rows=slice(None)):
        batch = len(outer)
        hp = pola_params(batch, lr=0.2, lr_in=1.0, beta_out=50.0)
        hp.outer_steps = torch.tensor(outer)
        one, two = {"logits": theta1[rows]}, {"logits": theta2[rows]}
        return RULES["pola"](one, two, exact(batch), hp)["logits"]

    converged = step([400] * 3)
    assert torch.equal(step([1000] * 3), converged)
    mixed = step([2, 5, 400])
    assert torch.equal(mixed[2], converged[2])
    for i, outer in ((0, 2), (1, 5)):
        assert torch.equal(mixed[i], step([outer], rows=slice(i, i + 1))[0])
    assert not torch.allclose(mixed[0], converged[0], atol=1e-3)


# --- POLA-DiCE --------------------------------------------------------------------------------


def dice_objective(batch, episodes, steps, gamma=0.96, update=0, seeds=None):
    return DiceObjective(
        lambda theta: theta["logits"],
        lambda theta: theta["logits"],
        R_ROW,
        R_COL,
        full(batch, gamma),
        list(range(batch)) if seeds is None else seeds,
        episodes,
        steps,
        "mean",
        update,
    )


@pytest.mark.parametrize("k", [1, 2])
def test_pola_dice_with_one_outer_step_and_no_penalty_is_lola_dice(k):
    """M = 1, beta = 0: POLA-DiCE plays the rollouts of LOLA-DiCE(k = K) (outer on rollout 0,
    inner step j on rollout j + 1) and takes the same step, bit for bit."""
    theta1, theta2 = points(4, 6)
    hp = pola_params(4, lr_in=0.3, inner=k, outer=1, k=k)
    pola = RULES["pola-dice"](theta1, theta2, dice_objective(4, 16, 30, update=3), hp)
    lola = RULES["lola-dice"](theta1, theta2, dice_objective(4, 16, 30, update=3), hp)
    assert torch.equal(pola["logits"], lola["logits"])


def visit_weights(p_self, p_opp, steps):
    """The expected share of the T steps in which each player acts in each state (own view),
    from the memory-one chain written out: start at t = 0, then the previous outcome."""
    swap = list(SWAP_VIEW)
    w_self, w_opp = np.zeros(5), np.zeros(5)
    w_self[0] = w_opp[0] = 1.0
    a, b = p_self[0], p_opp[0]
    outcome = np.array([a * b, a * (1 - b), (1 - a) * b, (1 - a) * (1 - b)])  # self's view
    for _ in range(1, steps):
        w_self[1:] += outcome
        w_opp[1:] += outcome[swap]
        a, b = p_self[1:], p_opp[1:][swap]
        nxt = np.stack([a * b, a * (1 - b), (1 - a) * b, (1 - a) * (1 - b)], axis=1)
        outcome = outcome @ nxt
    return w_self / steps, w_opp / steps


def reference_pola_dice_step(t1, t2, gamma, steps, alpha, beta_in):
    """One outer step (M = 1) after K = 2 inner steps, on the exact value, the inner KL weighted
    by the opponent's expected visits in the episodes of step 2 (played at (t1, t2^(1)), a
    constant, as DiCE treats the visited states)."""

    def v(s1, s2):
        p1, p2 = torch.sigmoid(s1)[None], torch.sigmoid(s2)[None]
        v1, v2 = discounted_values(IPD, p1, p2, gamma)
        return v1[0], v2[0]

    def kl(old, new, w):
        q, p = torch.sigmoid(old), torch.sigmoid(new)
        return (w * (q * torch.log(q / p) + (1 - q) * torch.log((1 - q) / (1 - p)))).sum()

    step_1 = t2 + alpha * grad(lambda u: v(t1, u)[1])(t2)
    _, w_opp = visit_weights(torch.sigmoid(t1).numpy(), torch.sigmoid(step_1).numpy(), steps)
    w = torch.tensor(w_opp, dtype=F64)

    def opponent(s1):
        s2 = t2 + alpha * grad(lambda u: v(s1, u)[1])(t2)
        return s2 + alpha * grad(lambda u: v(s1, u)[1] - beta_in * kl(t2, u, w))(s2)

    return grad(lambda s1: v(s1, opponent(s1))[0])(t1)


def test_pola_dice_estimates_the_exact_proximal_step_with_the_kl_over_visited_states():
    """Averaged over 64 independent groups of 64 episodes, POLA-DiCE's direction (K = 2, M = 1,
    beta_in = 40: the second inner step feels the KL) is within Monte-Carlo error of the exact
    step whose inner KL is weighted by the expected visits, and many standard errors from the
    step without the KL (beta_in = 0): the KL's gradient over visited states is estimated and
    differentiated through."""
    groups, episodes, steps, gamma, alpha, beta_in = 64, 64, 60, 0.9, 0.5, 40.0
    gen = torch.Generator().manual_seed(2)
    theta1, theta2 = torch.randn(2, 2, 5, generator=gen, dtype=F64)
    batch = 2 * groups
    hp = pola_params(batch, lr_in=alpha, beta_in=beta_in, inner=2, outer=1)
    direction = RULES["pola-dice"](
        {"logits": theta1.repeat_interleave(groups, 0)},
        {"logits": theta2.repeat_interleave(groups, 0)},
        dice_objective(batch, episodes, steps, gamma),
        hp,
    )["logits"].reshape(2, groups, 5)
    mean, standard_error = direction.mean(dim=1), direction.std(dim=1) / groups**0.5

    def z(beta):
        reference = torch.stack(
            [
                reference_pola_dice_step(theta1[i], theta2[i], gamma, steps, alpha, beta)
                for i in range(2)
            ]
        )
        return ((mean - reference) / standard_error).abs().max(dim=1).values

    assert (z(beta_in) < 4.5).all(), z(beta_in)
    assert (z(0.0) > 6).all(), z(0.0)


def pola_dice_spec(lr=0.2):
    return AgentSpec("pola-dice", lr=lr, lr_in=0.3, beta_in=1.0, beta_out=2.0, inner_steps=2,
                     outer_steps=3, episodes=8, steps=20)  # fmt: skip


@pytest.mark.parametrize("opponent", ["tft", "lola", "pola-dice"])
def test_a_pola_dice_match_is_bitwise_the_same_alone_and_in_a_batch(opponent):
    specs = [pola_dice_spec(lr) for lr in (0.2, 0.5, 0.1)]
    other = {"tft": AgentSpec("tft"), "lola": AgentSpec("lola"), "pola-dice": pola_dice_spec()}
    opponents = [other[opponent]] * 3
    seeds = [5, 2, 7]
    batch = play_matches(IPD, specs, opponents, seeds, updates=2, dtype="float32")
    for i in (0, 2):
        alone = play_matches(IPD, [specs[i]], [opponents[i]], [seeds[i]], 2, dtype="float32")
        for field in ("p_coop_a", "p_coop_b", "sampled_reward_a"):
            assert np.array_equal(getattr(alone, field)[0], getattr(batch, field)[i]), field
    assert not np.array_equal(batch.p_coop_a[:, 0], batch.p_coop_a[:, -1])


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["pola", "tft", "--beta-out", "-1"], "agent_a.beta_out: must be finite and >= 0, got -1"),
        (["pola-dice", "tft", "--beta-in", "-0.5"], "agent_a.beta_in: must be finite and >= 0"),
        (
            ["pola", "tft", "--outer-steps", "0"],
            "agent_a.outer_steps: must be an integer in [1, 10000], got 0",
        ),
        (
            ["pola", "tft", "--inner-steps", "0"],
            "agent_a.inner_steps: must be an integer in [1, 20], got 0",
        ),
        (
            ["pola", "tft", "--outer-steps", "20000"],
            "agent_a.outer_steps: must be an integer in [1, 10000], got 20,000",
        ),
        (["pola", "nl", "--game", "tandem"], "kind: pola penalises the KL divergence between"),
        (["pola", "tft", "--optimizer", "adam"], "optimizer: pola takes its own gradient steps"),
        (
            ["pola-dice", "tft", "--inner-steps", "9", "--outer-steps", "200"],
            "outer_steps: pola-dice plays (inner_steps + 1) x outer_steps <= 1023",
        ),
    ],
)
def test_bad_pola_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(["match", *argv, "--updates", "1", "--seeds", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
