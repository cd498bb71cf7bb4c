"""Learning rules against independent computations: torch.func references, finite differences,
raw-tensor LOLA, and batched versus one-at-a-time play."""

import pytest
import torch
from torch import nn
from torch.func import grad, jacrev

from agents.functional import AutogradObjective, BatchedPolicy
from agents.kinds import KINDS
from agents.objective import RuleParams
from agents.policies import MLPPolicy, TabularPolicy
from agents.rules import RULES
from agents.spec import AgentSpec
from tournament.games import GAMES
from tournament.match import play_matches
from tournament.values import TabularObjective, discounted_values

IPD = GAMES["ipd"]
F64 = torch.float64


def tensor(*values):
    return torch.tensor(values, dtype=F64)


# --- a reference on flat logit vectors, written with torch.func (independent of agents/) ----


def v_pair(game, gamma):
    def values(t1, t2):  # [5] logits each -> (V1, V2) scalars
        v1, v2 = discounted_values(game, torch.sigmoid(t1)[None], torch.sigmoid(t2)[None], gamma)
        return v1[0], v2[0]

    return (lambda t1, t2: values(t1, t2)[0]), (lambda t1, t2: values(t1, t2)[1])


def reference_direction(kind, t1, t2, game=IPD, gamma=0.96, alpha=0.7, eta=0.7, k=1):
    v1, v2 = v_pair(game, gamma)

    def unroll(s1):
        s2 = t2
        for _ in range(k):
            s2 = s2 + alpha * grad(v2, argnums=1)(s1, s2)
        return s2

    if kind == "nl":
        return grad(v1)(t1, t2)
    if kind == "la":
        return grad(v1)(t1, unroll(t1))
    if kind == "lola":
        return grad(lambda s1: v1(s1, unroll(s1)))(t1)
    if kind == "lola-taylor":
        d21_v2 = jacrev(grad(v2, argnums=1), argnums=0)(t1, t2)  # [theta2, theta1]
        return grad(v1)(t1, t2) + eta * d21_v2.T @ grad(v1, argnums=1)(t1, t2)
    if kind == "sos":
        return reference_sos(v1, v2, t1, t2, alpha)[0]
    if kind == "eg":
        ahead1, ahead2 = t1 + alpha * grad(v1)(t1, t2), t2 + alpha * grad(v2, argnums=1)(t1, t2)
        return grad(v1)(ahead1, ahead2)
    if kind == "hola":
        return reference_hola(v1, v2, t1, t2, alpha, order=k)
    if kind in ("sga", "co", "cgd", "lss"):
        return reference_differentiable_games(kind, v1, v2, t1, t2, alpha, gamma_co=eta)
    if kind == "pola":
        return reference_pola(v1, v2, t1, t2, alpha, beta_in=eta, inner=k + 1)
    raise AssertionError(kind)


# POLA's own step, outer KL weight and outer steps in the reference points (K = k + 1, beta_in =
# eta): every term of the rule is exercised, the inner KL from the second inner step on.
POLA_LR, POLA_BETA_OUT, POLA_OUTER = 0.3, 0.5, 3


def mean_kl_reference(logits_old, logits):
    """KL(Bernoulli(p_old) || Bernoulli(p)) averaged over the five states, written out."""
    p_old, p = torch.sigmoid(logits_old), torch.sigmoid(logits)
    kl = p_old * torch.log(p_old / p) + (1 - p_old) * torch.log((1 - p_old) / (1 - p))
    return kl.mean()


def reference_pola(v1, v2, t1, t2, alpha, beta_in, inner, lr=POLA_LR, beta_out=POLA_BETA_OUT):
    """Outer POLA by POLA_OUTER plain gradient steps on V1(s1, t2'(s1)) - beta_out D(t1, s1),
    t2' the opponent's `inner` gradient steps on V2 - beta_in D(t2, .); the sum of the steps."""

    def opponent(s1):
        s2 = t2
        for _ in range(inner):
            s2 = s2 + alpha * grad(lambda u: v2(s1, u) - beta_in * mean_kl_reference(t2, u))(s2)
        return s2

    def proximal(s1):
        return v1(s1, opponent(s1)) - beta_out * mean_kl_reference(t1, s1)

    s1, total = t1, torch.zeros_like(t1)
    for _ in range(POLA_OUTER):
        step = grad(proximal)(s1)
        total, s1 = total + step, s1 + lr * step
    return total


def jacobian_of_the_game(v1, v2, t1, t2):
    """xi = (grad_1 L1, grad_2 L2) and its Jacobian H on x = (t1, t2), losses L = -V."""
    n = t1.numel()

    def xi_of(x):
        full = jacrev(lambda y: torch.stack([-v1(y[:n], y[n:]), -v2(y[:n], y[n:])]))(x)
        return torch.cat([full[0, :n], full[1, n:]])

    x = torch.cat([t1, t2])
    return xi_of(x), jacrev(xi_of)(x), n


def reference_differentiable_games(kind, v1, v2, t1, t2, alpha, gamma_co, lss_lambda=0.1):
    """SGA, CO, CGD and LSS as written in Letcher et al.'s reference code, with explicit
    matrices (LSS: its damped solve, lambda = 0.1, which the code uses where H is singular)."""
    xi, hessian, n = jacobian_of_the_game(v1, v2, t1, t2)
    if kind == "lss":
        eye = torch.eye(2 * n, dtype=xi.dtype)
        v = torch.linalg.solve(hessian.T @ hessian + lss_lambda * eye, hessian.T @ xi)
        return -((xi + hessian.T @ v) / 2)[:n]
    if kind == "co":
        return -(xi + gamma_co * hessian.T @ xi)[:n]
    if kind == "sga":
        ht_xi = hessian.T @ xi
        a_t_xi = (ht_xi - hessian @ xi) / 2
        lam = torch.sign(xi.dot(ht_xi) * a_t_xi.dot(ht_xi) / (2 * n) + 0.1)
        return -(xi + lam * a_t_xi)[:n]
    h_o = hessian.clone()
    h_o[:n, :n] = 0
    h_o[n:, n:] = 0
    return -torch.linalg.solve(torch.eye(2 * n, dtype=xi.dtype) + alpha * h_o, xi)[:n]


def reference_hola(v1, v2, t1, t2, alpha, order):
    """Willi et al. 2022: each player's order-m step assumes the other's order m - 1 step."""

    def step1(m, s1, s2):
        if m == 0:
            return alpha * grad(v1)(s1, s2)
        return alpha * grad(lambda u1: v1(u1, s2 + step2(m - 1, u1, s2)))(s1)

    def step2(m, s1, s2):
        if m == 0:
            return alpha * grad(v2, argnums=1)(s1, s2)
        return alpha * grad(lambda u2: v2(s1 + step1(m - 1, s1, u2), u2))(s2)

    return grad(lambda u1: v1(u1, t2 + step2(order - 1, u1, t2)))(t1)


def reference_sos(v1, v2, t1, t2, alpha, a=0.5, b=0.1):
    """SOS from Letcher et al. 2019, Algorithm 1, with explicit Jacobians on x = (t1, t2)."""
    n = t1.numel()

    def losses(x):
        return torch.stack([-v1(x[:n], x[n:]), -v2(x[:n], x[n:])])

    def xi_of(x):
        full = jacrev(losses)(x)  # [2, 2n]: row i = grad of L_i w.r.t. all parameters
        return torch.cat([full[0, :n], full[1, n:]])

    x = torch.cat([t1, t2])
    xi, hessian, grad_l = xi_of(x), jacrev(xi_of)(x), jacrev(losses)(x).T  # grad_l [2n, 2]
    h_o = hessian.clone()
    h_o[:n, :n] = 0
    h_o[n:, n:] = 0
    xi_0 = xi - alpha * h_o @ xi
    chi_full = h_o.T @ grad_l
    chi = torch.cat([chi_full[:n, 0], chi_full[n:, 1]])
    inner = torch.dot(-alpha * chi, xi_0)
    p1 = 1.0 if inner >= 0 else min(1.0, float(-a * xi_0.dot(xi_0) / inner))
    p2 = float(xi.dot(xi)) if xi.norm() < b else 1.0
    p = min(p1, p2)
    step = -(xi_0 - p * alpha * chi)
    return step[:n], p


def objective_of(engine, game, gamma):
    """The two objectives the rules run on: autograd through the policy module, or the tabular
    closed form."""
    if engine == "closed_form":
        r_row, r_col = game.payoffs(tensor(0.0))
        return TabularObjective(r_row, r_col, tensor(gamma))
    policy = BatchedPolicy(TabularPolicy)
    return AutogradObjective(
        lambda th1, th2: discounted_values(game, policy.p_coop(th1), policy.p_coop(th2), gamma),
        lambda th1, th2: (policy.logits(th1), policy.logits(th2)),
    )


def engine_direction(
    kind, t1, t2, game=IPD, gamma=0.96, alpha=0.7, eta=0.7, k=1, engine="autograd"
):
    depth = torch.tensor([k])
    hp = RuleParams(
        tensor(alpha),
        tensor(eta),
        depth,
        gamma_co=tensor(eta),
        order=depth,
        lss_lambda=tensor(0.1),
        lr=tensor(POLA_LR),
        beta_in=tensor(eta),
        beta_out=tensor(POLA_BETA_OUT),
        inner_steps=depth + 1,
        outer_steps=torch.tensor([POLA_OUTER]),
    )
    objective = objective_of(engine, game, gamma)
    d = RULES[kind]({"logits": t1[None]}, {"logits": t2[None]}, objective, hp)
    return d["logits"][0]


POINTS = [
    torch.randn(2, 5, generator=torch.Generator().manual_seed(s), dtype=F64) for s in range(3)
]


@pytest.mark.parametrize("of", ["self", "opp", "both"])
def test_objective_gradients_are_partial_also_where_the_opponent_depends_on_theta(of):
    """At ``theta2' = theta2 + 0.3 tanh(theta1)`` (the opponent computed from theta1, as LOLA's
    unrolled one is), the autograd objective gives the same partial derivatives as the closed
    form, not total ones through theta2'; and they stay differentiable in theta1 (through both
    paths) alike."""
    t1, t2 = (t[None] for t in POINTS[0])
    grads, second = {}, {}
    for engine in ENGINES:
        theta = {"logits": t1.clone().requires_grad_(True)}
        ahead = {"logits": t2 + 0.3 * torch.tanh(theta["logits"])}
        g = objective_of(engine, IPD, 0.96).grads(theta, ahead, of=of)
        blocks = [b for b in (g.d_self_v_self, g.d_opp_v_self, g.d_self_v_opp, g.d_opp_v_opp) if b]
        grads[engine] = torch.cat([b["logits"] for b in blocks])
        (second[engine],) = torch.autograd.grad(grads[engine].sum(), theta["logits"])
    assert len(grads["autograd"]) == (4 if of == "both" else 2)
    assert torch.allclose(grads["autograd"], grads["closed_form"], rtol=1e-10, atol=1e-12)
    assert torch.allclose(second["autograd"], second["closed_form"], rtol=1e-9, atol=1e-11)


ENGINES = ["autograd", "closed_form"]
# The rules of the exact value (the sampled ones, on DiCE objectives: tests/test_dice.py).
EXACT_RULES = [kind for kind in RULES if not KINDS[kind].sampled]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", EXACT_RULES)
@pytest.mark.parametrize("point", range(len(POINTS)))
def test_rule_matches_torch_func_reference(kind, point, engine):
    t1, t2 = POINTS[point]
    for k in (1, 2, 3) if kind in ("la", "lola", "hola", "pola") else (1,):
        expected = reference_direction(kind, t1, t2, k=k)
        got = engine_direction(kind, t1, t2, k=k, engine=engine)
        assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_sos_reference_covers_both_branches_and_engine_agrees(engine):
    """Near the matching-pennies Nash point the gradient is small and SOS's p drops below 1."""
    imp = GAMES["imp"]
    v1, v2 = v_pair(imp, 0.9)
    gen = torch.Generator().manual_seed(11)
    ps = []
    for scale in (1.0, 0.01):
        t1, t2 = scale * torch.randn(2, 5, generator=gen, dtype=F64)
        expected, p = reference_sos(v1, v2, t1, t2, alpha=0.7)
        got = engine_direction("sos", t1, t2, game=imp, gamma=0.9, alpha=0.7, engine=engine)
        assert torch.allclose(got, expected, rtol=1e-10, atol=1e-13)
        ps.append(p)
    assert ps[0] == 1.0 and 0 < ps[1] < 1


def test_lola_is_naive_plus_shaping_plus_lookahead_to_first_order():
    """For a small opponent step alpha: LOLA(1) - NL = (Taylor - NL) + (LA - NL) + O(alpha^2)."""
    t1, t2 = POINTS[0]
    alpha = 1e-5
    nl, lola, la, taylor = (
        engine_direction(kind, t1, t2, alpha=alpha, eta=alpha)
        for kind in ("nl", "lola", "la", "lola-taylor")
    )
    correction = lola - nl
    assert correction.norm() > 1e-6  # the opponent-aware terms are really there
    assert torch.allclose(correction, (taylor - nl) + (la - nl), rtol=1e-3, atol=1e-9)


# --- the seed question: any nn.Module, gradients through the opponent's unrolled steps -------


class ReturnsParameter(nn.Module):
    """A module that ignores its input and returns five logits: the raw-tensor case."""

    def __init__(self):
        super().__init__()
        self.theta = nn.Parameter(torch.randn(5))

    def forward(self, states):
        return self.theta


class Head(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.linear = nn.Linear(hidden, 1)
        self.offset = nn.Parameter(torch.zeros(1))

    def forward(self, h):
        return self.linear(h) + self.offset


class Nested(nn.Module):
    """Parameters in nested submodules: what ``module._parameters`` would miss."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 8), nn.Tanh())
        self.head = Head(8)

    def forward(self, states):
        return self.head(self.body(states))


def raw_tensor_lola(logits_a, logits_b, lr, lr_in, k, updates, gamma=0.96):
    """LOLA(k) self-play on plain [5] tensors with torch.autograd: the seed thread's version."""
    history = []
    for _ in range(updates):
        new = []
        for me, other, index in ((logits_a, logits_b, 0), (logits_b, logits_a, 1)):
            me = me.detach().requires_grad_()
            other_k = other.detach().requires_grad_()

            def values(mine, theirs, index=index):
                p_mine, p_theirs = torch.sigmoid(mine)[None], torch.sigmoid(theirs)[None]
                pair = (p_mine, p_theirs) if index == 0 else (p_theirs, p_mine)
                v_a, v_b = discounted_values(IPD, *pair, gamma)
                return (v_a, v_b) if index == 0 else (v_b, v_a)

            for _ in range(k):
                (g,) = torch.autograd.grad(values(me, other_k)[1].sum(), other_k, create_graph=True)
                other_k = other_k + lr_in * g
            (d,) = torch.autograd.grad(values(me, other_k)[0].sum(), me)
            new.append(me.detach() + lr * d)
        logits_a, logits_b = new
        history.append((torch.sigmoid(logits_a), torch.sigmoid(logits_b)))
    return history


@pytest.mark.parametrize("k", [1, 2])
def test_module_returning_a_parameter_gives_the_raw_tensor_trajectory(k):
    seed, updates = 4, 15
    as_module = AgentSpec("lola", lr=0.5, lr_in=1.0, lookahead=k, policy=ReturnsParameter)
    module = play_matches(IPD, [as_module], [as_module], [seed], updates)

    def init(s):
        torch.manual_seed(s)
        return torch.randn(5).to(F64)

    raw = raw_tensor_lola(init(2 * seed), init(2 * seed + 1), 0.5, 1.0, k, updates)
    for update, (p_a, p_b) in enumerate(raw, start=1):
        assert torch.allclose(torch.from_numpy(module.p_coop_a[0, update]), p_a, rtol=0, atol=1e-12)
        assert torch.allclose(torch.from_numpy(module.p_coop_b[0, update]), p_b, rtol=0, atol=1e-12)


def unrolled_own_value(theta_a, theta_b, objective, alpha, k):
    """V_a(theta_a, theta_b^(k)), ``theta_b^(j+1) = theta_b^(j) + alpha grad_b V_b(theta_a,
    theta_b^(j))``: the opponent's k naive steps written out with torch.autograd, independent of
    ``agents.rules``. Each match's V_b depends on its own parameters only, so the gradient of
    the sum over the batch is each match's gradient."""
    for _ in range(k):
        leaves = {name: t.detach().requires_grad_() for name, t in theta_b.items()}
        _, v_b = objective(theta_a, leaves)
        grads = torch.autograd.grad(v_b.sum(), list(leaves.values()))
        theta_b = {
            name: t.detach() + alpha * g for (name, t), g in zip(leaves.items(), grads, strict=True)
        }
    v_a, _ = objective(theta_a, theta_b)
    return v_a.detach()


def finite_difference_lola(theta_a, theta_b, objective, alpha, k, h=1e-5):
    """Central differences of V_a(theta_a, theta_b^(k)(theta_a)), all coordinates in one batch."""
    names = list(theta_a)
    flat = torch.cat([theta_a[n].reshape(-1) for n in names])  # one match's parameters
    n = flat.numel()
    shifts = torch.cat([torch.eye(n, dtype=F64), -torch.eye(n, dtype=F64)]) * h  # [2n, n]
    batch = flat + shifts
    theta = {}
    start = 0
    for name in names:
        size = theta_a[name][0].numel()
        theta[name] = batch[:, start : start + size].reshape(2 * n, *theta_a[name].shape[1:])
        start += size
    opp = {name: t.expand(2 * n, *t.shape[1:]) for name, t in theta_b.items()}
    v_a = unrolled_own_value(theta, opp, objective, alpha, k)
    return (v_a[:n] - v_a[n:]) / (2 * h)


@pytest.mark.parametrize("make_module", [lambda: MLPPolicy(32), Nested], ids=["mlp32", "nested"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_lola_gradient_through_a_module_matches_finite_differences(make_module, k):
    policy = BatchedPolicy(make_module)
    theta_a = policy.init([0], F64)
    theta_b = policy.init([1], F64)

    def values(th_a, th_b):
        return discounted_values(IPD, policy.p_coop(th_a), policy.p_coop(th_b), 0.96)

    objective = AutogradObjective(values)
    alpha = 1.0
    hp = RuleParams(lr_in=tensor(alpha), eta=tensor(1.0), lookahead=torch.tensor([k]))
    direction = RULES["lola"](theta_a, theta_b, objective, hp)
    flat = torch.cat([direction[n].reshape(-1) for n in theta_a])
    assert all(direction[n].abs().sum() > 0 for n in theta_a)  # every submodule is reached
    expected = finite_difference_lola(theta_a, theta_b, values, alpha, k)
    assert torch.allclose(flat, expected, rtol=1e-6, atol=1e-7)
    # ... and differs from the naive gradient: the opponent's steps were differentiated through.
    naive = RULES["nl"](theta_a, theta_b, objective, hp)
    assert not torch.allclose(torch.cat([naive[n].reshape(-1) for n in theta_a]), flat, atol=1e-4)


# --- batched play equals one match at a time ------------------------------------------------

BATCH_CASES = {
    "nl": dict(kind="nl"),
    "la-k2": dict(kind="la", lookahead=2),
    "lola-k2": dict(kind="lola", lookahead=2),
    "lola-taylor": dict(kind="lola-taylor"),
    "sos": dict(kind="sos"),
    "lola-mlp": dict(kind="lola", policy="mlp:8"),
    "nl-adam": dict(kind="nl", optimizer="adam"),
}


@pytest.mark.parametrize("case", list(BATCH_CASES))
def test_batched_matches_equal_one_at_a_time(case):
    seeds, lrs, etas = [0, 1, 2, 3], [0.1, 0.5, 1.0, 0.3], [1.0, 0.5, 0.2, 2.0]
    specs_a = [
        AgentSpec(lr=lr, eta=eta, **BATCH_CASES[case]) for lr, eta in zip(lrs, etas, strict=True)
    ]
    specs_b = [AgentSpec("lola-taylor", lr=lr) for lr in lrs]
    batched = play_matches(IPD, specs_a, specs_b, seeds, updates=20)
    for i, seed in enumerate(seeds):
        one = play_matches(IPD, [specs_a[i]], [specs_b[i]], [seed], updates=20)
        for batch_side, one_side in (
            (batched.p_coop_a, one.p_coop_a),
            (batched.p_coop_b, one.p_coop_b),
        ):
            assert abs(batch_side[i, 1] - one_side[0, 1]).max() < 1e-12
            assert abs(batch_side[i, 20] - one_side[0, 20]).max() < 1e-8
        assert abs(batched.reward_a[i] - one.reward_a[0]).max() < 1e-8


def test_sga_reference_points_cover_both_signs_of_the_alignment():
    """lambda = sign(<xi, H^T xi> <A^T xi, H^T xi> / d + 0.1) is -1 at one point and +1 at the
    others, so the reference test above checks both branches."""
    v1, v2 = v_pair(IPD, 0.96)
    signs = set()
    for t1, t2 in POINTS:
        xi, hessian, n = jacobian_of_the_game(v1, v2, t1, t2)
        ht_xi = hessian.T @ xi
        a_t_xi = (ht_xi - hessian @ xi) / 2
        signs.add(float(torch.sign(xi.dot(ht_xi) * a_t_xi.dot(ht_xi) / (2 * n) + 0.1)))
    assert signs == {-1.0, 1.0}


@pytest.mark.parametrize("engine", ENGINES)
def test_hola_of_order_one_is_lola_and_higher_orders_differ(engine):
    t1, t2 = POINTS[1]
    lola = engine_direction("lola", t1, t2, k=1, engine=engine)
    assert torch.allclose(engine_direction("hola", t1, t2, k=1, engine=engine), lola, atol=1e-12)
    assert not torch.allclose(engine_direction("hola", t1, t2, k=2, engine=engine), lola, atol=1e-3)


# --- CGD, LSS and HOLA: the Krylov solves against direct ones, and their cost --------------


def flat(theta):
    return torch.cat([t.reshape(len(t), -1) for t in theta.values()], dim=1)


def direct_solve(kind, theta, theta_opp, objective, alpha, lss_lambda):
    """CGD or LSS (as in ``reference_differentiable_games``) from the explicit Jacobian of xi,
    built row by row with autograd, and a dense solve per match: [B, own parameters]."""
    theta, theta_opp = (
        {n: t.clone().requires_grad_() for n, t in p.items()} for p in (theta, theta_opp)
    )
    g = objective.grads(theta, theta_opp)
    xi = -torch.cat([flat(g.d_self_v_self), flat(g.d_opp_v_opp)], dim=1)  # [B, d]
    both = {**{(0, n): t for n, t in theta.items()}, **{(1, n): t for n, t in theta_opp.items()}}
    rows = [
        torch.autograd.grad(xi[:, i].sum(), list(both.values()), retain_graph=True)
        for i in range(xi.shape[1])
    ]
    hessian = torch.stack([torch.cat([r.reshape(len(r), -1) for r in row], 1) for row in rows], 1)
    xi, n, eye = xi.detach(), flat(theta).shape[1], torch.eye(xi.shape[1], dtype=F64)
    if kind == "lss":
        h_t = hessian.transpose(1, 2)
        v = torch.linalg.solve(h_t @ hessian + lss_lambda[:, None, None] * eye, h_t @ xi[..., None])
        return -((xi + (h_t @ v)[..., 0]) / 2)[:, :n]
    h_o = hessian.clone()
    h_o[:, :n, :n] = 0
    h_o[:, n:, n:] = 0
    return -torch.linalg.solve(eye + alpha[:, None, None] * h_o, xi)[:, :n]


def rule_params(batch, alpha=1.0, order=1):
    full = torch.full((batch,), alpha, dtype=F64)
    depth = torch.full((batch,), order) if isinstance(order, int) else torch.tensor(order)
    return RuleParams(
        full, full, depth, order=depth, lss_lambda=torch.full((batch,), 0.1, dtype=F64)
    )


def tabular_batch(batch, seed=0, scale=2.0):
    gen = torch.Generator().manual_seed(seed)
    t1, t2 = scale * torch.randn(2, batch, 5, generator=gen, dtype=F64)
    r_row, r_col = IPD.payoffs(tensor(0.0))
    objective = TabularObjective(r_row, r_col, torch.full((batch,), 0.96, dtype=F64))
    return {"logits": t1}, {"logits": t2}, objective


@pytest.mark.parametrize("kind", ["cgd", "lss"])
def test_cgd_and_lss_agree_with_a_direct_solve_at_many_tabular_points(kind):
    """GMRES (CGD) and conjugate gradients (LSS) against the dense solve at 200 points, logits
    ~ 2 N(0, 1) (the old conjugate gradients on CGD's normal equations reached only 3e-9)."""
    theta, theta_opp, objective = tabular_batch(200)
    hp = rule_params(200)
    got = flat(RULES[kind](theta, theta_opp, objective, hp))
    want = direct_solve(kind, theta, theta_opp, objective, hp.lr_in, hp.lss_lambda)
    error = (got - want).norm(dim=1) / want.norm(dim=1)
    assert error.max() < 1e-10


def test_cgd_on_an_mlp_agrees_with_a_direct_solve():
    """The matrix-free solve for any module: an MLP with 25 parameters per player."""
    policy = BatchedPolicy(lambda: MLPPolicy(3))
    theta, theta_opp = policy.init([1, 2, 3], dtype=F64), policy.init([4, 5, 6], dtype=F64)
    objective = AutogradObjective(
        lambda th1, th2: discounted_values(IPD, policy.p_coop(th1), policy.p_coop(th2), 0.96)
    )
    hp = rule_params(3, alpha=3.0)
    got = flat(RULES["cgd"](theta, theta_opp, objective, hp))
    want = direct_solve("cgd", theta, theta_opp, objective, hp.lr_in, hp.lss_lambda)
    assert ((got - want).norm(dim=1) / want.norm(dim=1)).max() < 1e-10
    assert (want - flat(RULES["nl"](theta, theta_opp, objective, hp))).norm() > 1e-2


@pytest.fixture
def backward_passes(monkeypatch):
    """Counts ``torch.autograd.grad`` calls (the closed form's own gradients use none)."""
    count = [0]
    original = torch.autograd.grad

    def counting(*args, **kwargs):
        count[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counting)
    return count


def test_cgd_lss_and_hola_take_fewer_backward_passes(backward_passes):
    """Work, counted: tabular CGD (5 own parameters) is 1 + 2 x 5 backward passes (the normal
    equations' conjugate gradients took 2 + 4 x 10 = 42); LSS at most 2 + 2 x 20 (was 2 +
    4 x 20 + 2 = 84); HOLA of order n alone n (all orders up to n, 1 + .. + n, before)."""

    def passes(kind, theta, theta_opp, objective, hp):
        backward_passes[0] = 0
        RULES[kind](theta, theta_opp, objective, hp)
        return backward_passes[0]

    theta, theta_opp, objective = tabular_batch(50)
    assert passes("cgd", theta, theta_opp, objective, rule_params(50)) == 11
    assert passes("lss", theta, theta_opp, objective, rule_params(50)) <= 42
    for order in (1, 2, 3):
        assert passes("hola", theta, theta_opp, objective, rule_params(50, order=order)) == order
    # Orders 1 and 3 in one batch: the steps Delta^0_2, Delta^0_1, Delta^1_2... once each.
    assert passes("hola", theta, theta_opp, objective, rule_params(50, order=[1, 3] * 25)) == 4
    # Where the opponent's step is 0 (alpha = 0) CGD's system is the identity: one iteration.
    assert passes("cgd", theta, theta_opp, objective, rule_params(50, alpha=0.0)) == 3


def test_a_cgd_match_that_converges_early_has_the_same_bits_alone_and_in_a_batch():
    """GMRES stops each match on its own residual: a match with alpha = 0 (the system is the
    identity: its solution is the naive gradient) stops after one iteration, the others go
    on, and every match's bits are those it has alone."""
    theta, theta_opp, objective = tabular_batch(3)
    hp = rule_params(3)
    hp.lr_in = tensor(0.0, 1.0, 2.0)
    batch = RULES["cgd"](theta, theta_opp, objective, hp)["logits"]
    for i in range(3):
        one = {"logits": theta["logits"][i : i + 1]}, {"logits": theta_opp["logits"][i : i + 1]}
        alone_hp = rule_params(1, alpha=float(hp.lr_in[i]))
        alone = RULES["cgd"](*one, tabular_batch(1)[2], alone_hp)["logits"]
        assert torch.equal(alone[0], batch[i])
    naive = RULES["nl"](theta, theta_opp, objective, hp)["logits"]
    assert torch.allclose(batch[0], naive[0], rtol=1e-14, atol=0)
    assert not torch.allclose(batch[1], naive[1], rtol=1e-3)


# --- LSS: the defining property at a fixed point -------------------------------------------

FIXED_X, FIXED_Y = tensor(0.3, -0.7), tensor(-0.2, 0.5)
A1 = tensor(2.0, 0.4, -0.3, 1.5).reshape(2, 2)
B1 = tensor(0.8, -1.1, 0.6, 0.2).reshape(2, 2)
A2 = tensor(1.2, -0.5, 0.7, 0.9).reshape(2, 2)
B2 = tensor(-0.4, 1.3, 0.9, -0.6).reshape(2, 2)


def cubic_game(x, y):
    """A general-sum game on [B, 2] parameters with a fixed point at (FIXED_X, FIXED_Y) where
    H is neither symmetric nor antisymmetric; cubic terms make H vary away from it."""
    dx, dy = x - FIXED_X, y - FIXED_Y
    l1 = 0.5 * ((dx @ A1) * dx).sum(1) + ((dx @ B1) * dy).sum(1) + (dx**3).sum(1) * dy[:, 0]
    l2 = 0.5 * ((dy @ A2) * dy).sum(1) + ((dy @ B2) * dx).sum(1) + (dy**2).sum(1) * dx.sum(1)
    return -l1, -l2


def lss_field(z, lss_lambda):
    """The LSS field (both players' loss-form steps) at each row of z [B, 4]."""
    batch = len(z)
    objective = AutogradObjective(lambda th1, th2: cubic_game(th1["theta"], th2["theta"]))
    hp = RuleParams(tensor(0.0), tensor(0.0), torch.tensor([1]), lss_lambda=tensor(lss_lambda))
    hp.lss_lambda = hp.lss_lambda.expand(batch)
    x, y = {"theta": z[:, :2]}, {"theta": z[:, 2:]}
    step1 = RULES["lss"](x, y, objective, hp)["theta"]
    step2 = RULES["lss"](y, x, objective.swapped(), hp)["theta"]
    return -torch.cat([step1, step2], dim=1)  # the field F, with the update z <- z - lr F


def test_lss_jacobian_at_a_fixed_point_is_the_symmetric_part_of_the_game_jacobian():
    """Mazumdar et al. 2019: at a fixed point (xi = 0) the Jacobian of 1/2 (xi + H^T H^-1 xi)
    is 1/2 (H + H^T) (lambda = 0: the notebook's rule at a nonsingular H). Central
    differences of the rule's field against H from torch.func."""
    z_star = torch.cat([FIXED_X, FIXED_Y])

    def xi(z):
        """(grad_x L1, grad_y L2) at z = (x, y)."""
        d1 = grad(lambda u: -cubic_game(u[None, :2], z[None, 2:])[0][0])(z)
        d2 = grad(lambda u: -cubic_game(z[None, :2], u[None, 2:])[1][0])(z)
        return torch.cat([d1[:2], d2[2:]])

    assert xi(z_star).abs().max() < 1e-15  # a fixed point
    hessian = jacrev(xi)(z_star)
    assert (hessian - hessian.T).abs().max() > 0.5 and (hessian + hessian.T).abs().max() > 0.5
    h = 1e-5
    shifts = torch.cat([torch.eye(4, dtype=F64), -torch.eye(4, dtype=F64)]) * h
    field = lss_field(z_star + shifts, lss_lambda=0.0)
    jacobian = ((field[:4] - field[4:]) / (2 * h)).T  # column j: d F / d z_j
    assert torch.allclose(jacobian, (hessian + hessian.T) / 2, atol=1e-8)
    # ... while the damped rule (lambda = 0.1) is only close to it.
    damped = lss_field(z_star + shifts, lss_lambda=0.1)
    damped_jacobian = ((damped[:4] - damped[4:]) / (2 * h)).T
    assert 1e-4 < (damped_jacobian - (hessian + hessian.T) / 2).abs().max() < 0.2
