"""The sampled learners (nl-pg, lola-dice, lola-pg) and the sampled engine: the rules against
REINFORCE written out and against the exact LOLA rules, matches against exact learners and
fixed strategies, and a match's result independent of the batch."""

import json

import numpy as np
import pytest
import torch

from agents.dice import DiceObjective, fit_tabular, sample_rollouts
from agents.objective import RuleParams
from agents.rules import RULES
from agents.spec import AgentSpec
from tournament.games import GAMES, get_game
from tournament.match import play_matches
from tournament.values import TabularObjective, discounted_values

IPD = GAMES["ipd"]
F64 = torch.float64
R_ROW = torch.tensor(IPD.payoffs_row, dtype=F64)
R_COL = torch.tensor(IPD.payoffs_col, dtype=F64)  # the column's payoffs in the row's view


def tabular_objective(batch, episodes, steps, gamma, baseline="mean", update=0):
    return DiceObjective(
        lambda theta: theta["logits"],
        lambda theta: theta["logits"],
        R_ROW,
        R_COL,
        torch.full((batch,), gamma, dtype=F64),
        list(range(batch)),
        episodes,
        steps,
        baseline,
        update,
    )


def hyperparameters(batch, lr_in=0.3, lookahead=1):
    return RuleParams(
        lr_in=torch.full((batch,), lr_in, dtype=F64),
        eta=torch.ones(batch, dtype=F64),
        lookahead=torch.full((batch,), lookahead),
    )


@pytest.mark.parametrize("baseline", ["mean", "none"])
def test_nl_pg_is_reinforce_with_the_baseline_on_discounted_returns(baseline):
    """grad_logit_s log pi(C | s) = 1 - p_s, grad log pi(D | s) = -p_s; each action weighs the
    discounted return from its step on, minus the other episodes' mean of it (``mean``)."""
    gamma, episodes, steps = 0.96, 8, 25
    gen = torch.Generator().manual_seed(5)
    theta1, theta2 = torch.randn(2, 3, 5, generator=gen, dtype=F64)
    dice = tabular_objective(3, episodes, steps, gamma, baseline, update=7)
    direction = RULES["nl-pg"]({"logits": theta1}, {"logits": theta2}, dice, hyperparameters(3))
    play = dice.rollouts(theta1, theta2, rollout=0)
    p = torch.sigmoid(theta1).numpy()
    states, coop = play.states_self.numpy(), play.coop_self.numpy()
    discounted = play.reward_self.numpy() * gamma ** np.arange(steps)
    to_go = discounted[:, :, ::-1].cumsum(axis=2)[:, :, ::-1]  # sum_{t' >= t} gamma^t' r_t'
    if baseline == "mean":
        to_go = to_go - (to_go.sum(axis=1, keepdims=True) - to_go) / (episodes - 1)
    expected = np.zeros((3, 5))
    for b in range(3):
        for e in range(episodes):
            for t in range(steps):
                s = states[b, e, t]
                score = (1 - p[b, s]) if coop[b, e, t] else -p[b, s]
                expected[b, s] += score * to_go[b, e, t] / episodes
    np.testing.assert_allclose(direction["logits"].numpy(), expected, rtol=1e-10, atol=1e-10)


def test_lola_dice_with_a_zero_inner_step_is_nl_pg():
    gen = torch.Generator().manual_seed(6)
    theta1, theta2 = ({"logits": t} for t in torch.randn(2, 4, 5, generator=gen, dtype=F64))
    dice = tabular_objective(4, 16, 30, 0.96, update=2)
    naive = RULES["nl-pg"](theta1, theta2, dice, hyperparameters(4))
    unmoved = RULES["lola-dice"](theta1, theta2, dice, hyperparameters(4, lr_in=0.0, lookahead=2))
    assert torch.equal(naive["logits"], unmoved["logits"])


def test_lola_dice_of_mixed_depths_in_one_batch_is_each_depth_alone():
    """A batch runs the deepest k; a match's steps beyond its own k have step size 0 and its
    own rollouts keep their streams, so it gets the bits it gets with its own k alone."""
    gen = torch.Generator().manual_seed(8)
    theta1, theta2 = torch.randn(2, 3, 5, generator=gen, dtype=F64)
    depths = torch.tensor([1, 3, 2])
    hp = RuleParams(
        lr_in=torch.full((3,), 0.3, dtype=F64), eta=torch.ones(3, dtype=F64), lookahead=depths
    )
    mixed = RULES["lola-dice"](
        {"logits": theta1}, {"logits": theta2}, tabular_objective(3, 8, 20, 0.96), hp
    )["logits"]
    for i, k in enumerate(depths.tolist()):
        dice = DiceObjective(
            lambda theta: theta["logits"],
            lambda theta: theta["logits"],
            R_ROW,
            R_COL,
            torch.full((1,), 0.96, dtype=F64),
            [i],
            8,
            20,
            "mean",
        )
        alone = RULES["lola-dice"](
            {"logits": theta1[i : i + 1]},
            {"logits": theta2[i : i + 1]},
            dice,
            hyperparameters(1, 0.3, k),
        )["logits"]
        assert torch.equal(alone[0], mixed[i])


@pytest.mark.parametrize(("k", "opponent"), [(1, "random"), (2, "random"), (1, "zero")])
def test_lola_dice_estimates_the_exact_lola_direction(k, opponent):
    """Averaged over 64 independent groups of 64 episodes, LOLA-DiCE(k)'s direction is within
    Monte-Carlo error of the exact LOLA(k) rule (closed form, the same assumed opponent step
    0.3) and many standard errors away from the naive and the LookAhead gradients: the
    opponent's sampled steps are differentiated through. ``zero``: the opponent's logits are
    exactly 0 (P(C) = 1/2, as a fixed ``random`` is modelled), where a log-probability with
    derivative 0 at 0 once reduced LOLA-DiCE to the naive policy gradient."""
    groups, episodes, steps, gamma, alpha = 64, 64, 60, 0.9, 0.3
    theta1, theta2 = torch.randn(2, 2, 5, generator=torch.Generator().manual_seed(0), dtype=F64)
    if opponent == "zero":
        theta2 = torch.zeros_like(theta2)
    batch = 2 * groups
    dice = tabular_objective(batch, episodes, steps, gamma)
    direction = RULES["lola-dice"](
        {"logits": theta1.repeat_interleave(groups, 0)},
        {"logits": theta2.repeat_interleave(groups, 0)},
        dice,
        hyperparameters(batch, alpha, k),
    )["logits"].reshape(2, groups, 5)
    mean, standard_error = direction.mean(dim=1), direction.std(dim=1) / groups**0.5
    exact = TabularObjective(R_ROW, R_COL, torch.full((2,), gamma, dtype=F64))
    hp = hyperparameters(2, alpha, k)

    def z(kind):
        reference = RULES[kind]({"logits": theta1}, {"logits": theta2}, exact, hp)["logits"]
        return ((mean - reference) / standard_error).abs().max(dim=1).values

    assert (z("lola") < 4.5).all(), z("lola")
    assert (z("nl") > 6).all() and (z("la") > 4).all(), (z("nl"), z("la"))


@pytest.mark.parametrize("opponent", ["random", "zero"])
def test_lola_pg_estimates_the_exact_lola_taylor_direction(opponent):
    """LOLA-PG, the LOLA paper's sampled rule: averaged over 64 groups of 64 episodes, every
    entry of its direction is within 5 standard errors of the exact first-order rule
    (``lola-taylor`` with eta = lr_in = 1, closed form; measured: at most 1.8), and the shaping
    term is resolved: the mean is many standard errors (measured: 12 to 17) from the naive
    gradient. ``zero``: the opponent at logits exactly 0."""
    groups, episodes, steps, gamma, alpha = 64, 64, 60, 0.9, 1.0
    theta1, theta2 = torch.randn(2, 2, 5, generator=torch.Generator().manual_seed(0), dtype=F64)
    if opponent == "zero":
        theta2 = torch.zeros_like(theta2)
    batch = 2 * groups
    direction = RULES["lola-pg"](
        {"logits": theta1.repeat_interleave(groups, 0)},
        {"logits": theta2.repeat_interleave(groups, 0)},
        tabular_objective(batch, episodes, steps, gamma),
        hyperparameters(batch, alpha),
    )["logits"].reshape(2, groups, 5)
    mean, standard_error = direction.mean(dim=1), direction.std(dim=1) / groups**0.5
    exact = TabularObjective(R_ROW, R_COL, torch.full((2,), gamma, dtype=F64))
    hp = RuleParams(
        lr_in=torch.full((2,), alpha, dtype=F64),
        eta=torch.full((2,), alpha, dtype=F64),
        lookahead=torch.ones(2, dtype=torch.long),
    )

    def z(kind):
        reference = RULES[kind]({"logits": theta1}, {"logits": theta2}, exact, hp)["logits"]
        return ((mean - reference) / standard_error).abs().max(dim=1).values

    assert (z("lola-taylor") < 5).all(), z("lola-taylor")
    assert (z("nl") > 6).all(), z("nl")


def test_an_opponent_model_is_the_most_likely_tabular_policy_of_its_actions():
    """(cooperations + 1) / (visits + 2) per state: within binomial error of the opponent's
    probabilities where it played often, 1/2 where it never played."""
    gen = torch.Generator().manual_seed(9)
    p_row, p_col = torch.rand(2, 2, 5, generator=gen, dtype=F64) * 0.8 + 0.1
    uniforms = np.random.default_rng(1).random((2, 400, 40, 2))
    play = sample_rollouts(p_row, p_col, R_ROW, R_COL, uniforms)
    fitted = torch.sigmoid(fit_tabular(play.states_opp, play.coop_opp))
    for b in range(2):
        for s in range(5):
            seen = play.coop_opp[b][play.states_opp[b] == s].double()
            assert torch.allclose(fitted[b, s], (seen.sum() + 1) / (len(seen) + 2))
            assert abs(fitted[b, s] - p_col[b, s]) < 5 * (0.25 / len(seen)) ** 0.5
    never = torch.zeros(1, 3, 4, dtype=torch.long)  # only the start state
    assert torch.equal(
        fit_tabular(never, torch.ones(1, 3, 4, dtype=torch.bool))[0, 1:], torch.zeros(4, dtype=F64)
    )


def test_lola_dice_om_looks_ahead_with_the_fitted_model_not_the_opponents_parameters():
    gen = torch.Generator().manual_seed(10)
    theta1, theta2 = ({"logits": t} for t in torch.randn(2, 3, 5, generator=gen, dtype=F64))
    dice = tabular_objective(3, 32, 40, 0.96, update=4)
    hp = hyperparameters(3, lookahead=2)
    modelling = RuleParams(**{**vars(hp), "opponent_model": torch.ones(3, dtype=torch.bool)})
    direction = RULES["lola-dice"](theta1, theta2, dice, modelling)["logits"]
    model, modelled = dice.model_opponent(theta1, theta2)
    assert not torch.allclose(model["logits"], theta2["logits"], atol=0.05)
    expected = RULES["lola-dice"](theta1, model, modelled, hp)["logits"]
    assert torch.equal(direction, expected)
    mixed = RuleParams(**{**vars(hp), "opponent_model": torch.tensor([True, False, True])})
    with pytest.raises(ValueError, match="opponent_model: the matches of one batch"):
        RULES["lola-dice"](theta1, theta2, dice, mixed)


# --- the sampled engine -----------------------------------------------------------------------


def dice_spec(kind="lola-dice", **options):
    return AgentSpec(kind, **{"lr": 0.2, "episodes": 16, "steps": 30, **options})


OPPONENTS = {
    "lola": lambda i: AgentSpec("lola", lr=0.3 * (i + 1)),
    "tft": lambda i: AgentSpec("tft"),
    "lola-dice": lambda i: dice_spec(lr=0.2 * (i + 1), lr_in=0.1 * (i + 1)),
    "nl-pg": lambda i: dice_spec("nl-pg", lr=0.1 * (i + 1)),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opponent", list(OPPONENTS))
def test_a_sampled_match_is_bitwise_the_same_in_any_batch(opponent, dtype):
    """A match's episodes come from its own seed's streams and every operation is elementwise
    per match (probabilities included), so alone, in a batch or in reverse order it gives the
    same bits: one flipped bit could flip a sampled action and change everything after."""
    specs_a = [
        dice_spec(lr=lr, lr_in=lr_in, lookahead=2)
        for lr, lr_in in ((0.2, 0.3), (1.0, 0.5), (0.5, 1.0), (0.3, 0.2))
    ]
    specs_b = [OPPONENTS[opponent](i) for i in range(4)]
    seeds = [3, 1, 4, 9]
    run = dict(updates=12, record_every=4, dtype=dtype)
    batch = play_matches(IPD, specs_a, specs_b, seeds, **run)
    fields = ("reward_a", "reward_b", "p_coop_a", "p_coop_b", "sampled_reward_a")
    for i in (0, 3):
        alone = play_matches(IPD, [specs_a[i]], [specs_b[i]], [seeds[i]], **run)
        for field in fields:
            assert np.array_equal(getattr(alone, field)[0], getattr(batch, field)[i]), field
    reverse = play_matches(IPD, specs_a[::-1], specs_b[::-1], seeds[::-1], **run)
    for field in fields:
        assert np.array_equal(getattr(reverse, field)[::-1], getattr(batch, field)), field


def test_an_exact_learner_facing_a_sampled_one_takes_its_exact_step():
    """Updates are simultaneous: after one update, nl's policy against nl-pg is its policy
    against nl (closed-form engine), since both opponents start from the same seed."""
    seeds = [0, 1, 2]
    against_sampled = play_matches(IPD, [AgentSpec("nl")] * 3, [dice_spec("nl-pg")] * 3, seeds, 1)
    against_exact = play_matches(IPD, [AgentSpec("nl")] * 3, [AgentSpec("nl")] * 3, seeds, 1)
    np.testing.assert_allclose(against_sampled.p_coop_a, against_exact.p_coop_a, atol=1e-12)
    assert not np.allclose(against_sampled.p_coop_b[:, 1], against_exact.p_coop_b[:, 1])


@pytest.mark.parametrize("strategy", ["tft", "alld", "random"])
def test_fixed_strategies_play_their_probabilities_and_the_sampled_return_estimates_the_exact(
    strategy,
):
    seeds = [0, 1]
    fixed = AgentSpec(strategy, p=(0.3,)) if strategy == "random" else AgentSpec(strategy)
    learner = dice_spec("lola-dice", episodes=256, steps=100)
    results = play_matches(IPD, [learner] * 2, [fixed] * 2, seeds, 3, record_every=1)
    expected = {"tft": [1, 1, 0, 1, 0], "alld": [0] * 5, "random": [0.3] * 5}[strategy]
    assert np.array_equal(results.p_coop_b[:, -1], [expected] * 2)
    # The exact reward is the closed form of the recorded policies; the sampled one its estimate
    # from 256 episodes of 100 steps (the tail after gamma^100 = 0.017 is cut: within 0.06).
    p_a, p_b = (torch.from_numpy(p[:, -1]) for p in (results.p_coop_a, results.p_coop_b))
    v_a, _ = discounted_values(IPD, p_a, p_b, 0.96)
    np.testing.assert_allclose(results.reward_a[:, -1], 0.04 * v_a.numpy(), rtol=1e-12)
    np.testing.assert_allclose(results.sampled_reward_a, results.reward_a, atol=0.06)
    np.testing.assert_allclose(results.sampled_reward_b, results.reward_b, atol=0.06)


def test_sampled_learners_take_any_module_policy():
    spec = dice_spec("lola-dice", policy="mlp:8", lr=1.0)
    results = play_matches(IPD, [spec] * 2, [AgentSpec("tft")] * 2, [0, 1], 3, record_every=1)
    assert results.status == ["ok", "ok"]
    assert not np.allclose(results.p_coop_a[:, 0], results.p_coop_a[:, -1])
    assert results.sampled_reward_a.shape == (2, 4)


def test_other_engines_do_not_record_a_sampled_return():
    results = play_matches(IPD, [AgentSpec("nl")], [AgentSpec("tft")], [0], 2)
    assert results.sampled_reward_a is None and results.sampled_reward_b is None


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: play_matches(IPD, [dice_spec()], [AgentSpec("tft")], [0], 1, engine="autograd"),
            "engine: autograd cannot play sampled learners",
        ),
        (
            lambda: play_matches(
                IPD, [AgentSpec("nl")], [AgentSpec("tft")], [0], 1, engine="sampled"
            ),
            "engine: sampled needs a sampled learner",
        ),
        (
            lambda: play_matches(get_game("tandem"), [dice_spec()], [AgentSpec("nl")], [0], 1),
            "kind: lola-dice learns from sampled episodes",
        ),
        (lambda: AgentSpec("nl-pg", baseline="critic"), "baseline: unknown 'critic'"),
        (lambda: AgentSpec("lola-dice", episodes=0), "episodes: must be an integer >= 1"),
    ],
)
def test_bad_sampled_input_is_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_sampled_learners_group_by_their_rollouts():
    """E, T, the baseline and the number of rollouts (k + 1) shape a sampled learner's work:
    part of its structure, so that a sweep's tasks never mix them."""
    assert dice_spec(lr=0.1).structure() == dice_spec(lr=0.5).structure()
    assert dice_spec(episodes=8).structure() != dice_spec(episodes=16).structure()
    assert dice_spec(lookahead=1).structure() != dice_spec(lookahead=2).structure()
    assert AgentSpec("lola", episodes=8).structure() == AgentSpec("lola").structure()


# --- the command line and sweeps ----------------------------------------------------------------


def test_match_command_takes_the_sampling_options_and_reports_both_rewards(capsys):
    from cli.main import main

    argv = ["match", "lola-dice", "tft", "--updates", "3", "--seeds", "2", "--json"]
    argv += ["--episodes", "8", "--steps", "20", "--lookahead", "2", "--baseline", "none"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["a"]["agent"] == "lola-dice(lr=1,lr_in=1,k=2,E=8,T=20,baseline=none)"
    argv += ["--opponent-model", "true"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["a"]["agent"].endswith(",baseline=none,om)")
    for side in "ab":
        assert len(summary[side]["sampled_rewards"]) == 2
        assert -3 <= summary[side]["sampled_reward"] <= 0
    direct = play_matches(
        IPD,
        [AgentSpec("lola-dice", lookahead=2, episodes=8, steps=20, baseline="none")] * 2,
        [AgentSpec("tft")] * 2,
        [0, 1],
        3,
        record_every=3,
    )
    assert summary["a"]["rewards"] == direct.reward_a[:, -1].tolist()
    assert summary["b"]["sampled_rewards"] == direct.sampled_reward_b[:, -1].tolist()


MIXED = {
    "name": "mixed",
    "updates": 6,
    "record_every": 3,
    "seeds": 2,
    "agents": [
        {"kind": "lola-dice", "lr": [0.2, 0.5], "lr_in": 0.3, "episodes": 8, "steps": 20},
        {"kind": "lola", "lr": 1.0},
        {"kind": "tft"},
    ],
}


@pytest.mark.slow
def test_a_sweep_mixing_lola_dice_lola_and_tft_runs_end_to_end_whatever_the_task_size(
    ray_session, tmp_path
):
    """4 variants, a round robin with self-play: 10 pairings x 2 seeds. Matches with a
    sampled learner store a sampled reward beside the exact one, the others null; task sizes
    1 and 20 store the same bits, and the stored values are those of a direct engine call."""
    import pandas as pd

    from sweeps.config import parse_sweep
    from sweeps.runner import run_sweep

    tables = []
    for task_size in (1, 20):
        out = tmp_path / f"tasks{task_size}"
        summary = run_sweep(parse_sweep({**MIXED, "task_size": task_size}), out)
        assert (summary.planned, summary.ok, summary.failed) == (20, 20, 0)
        matches = pd.read_parquet(out / "matches").sort_values("match_id", ignore_index=True)
        curves = pd.read_parquet(out / "curves").sort_values(["match_id", "update"])
        tables.append((matches, curves.reset_index(drop=True)))
    (matches, curves), (other, other_curves) = tables
    columns = ["reward_a", "reward_b", "sampled_reward_a", "sampled_reward_b", "p_coop_a_cc"]
    np.testing.assert_array_equal(matches[columns], other[columns])
    np.testing.assert_array_equal(curves[columns[:4]], other_curves[columns[:4]])
    sampled = (matches["kind_a"] == "lola-dice") | (matches["kind_b"] == "lola-dice")
    assert sampled.sum() == 2 * 7 and (matches["status"] == "ok").all()
    assert matches.loc[sampled, "sampled_reward_a"].notna().all()
    assert matches.loc[~sampled, ["sampled_reward_a", "sampled_reward_b"]].isna().all().all()
    assert (matches.loc[matches["kind_a"] == "lola-dice", "episodes_a"] == 8).all()
    assert matches.loc[matches["kind_a"] != "lola-dice", "episodes_a"].isna().all()
    row = matches[matches["agent_a"] == matches["agent_b"]].query("kind_a == 'lola-dice'").iloc[0]
    spec = AgentSpec("lola-dice", lr=row["lr_a"], lr_in=0.3, episodes=8, steps=20)
    direct = play_matches(IPD, [spec], [spec], [int(row["seed"])], 6, record_every=3)
    assert row["reward_a"] == direct.reward_a[0, -1]
    assert row["sampled_reward_b"] == direct.sampled_reward_b[0, -1]
