"""The online learners' rules against updates computed by hand on short fixed trajectories.

States: 0 start, 1 CC, 2 CD, 3 DC, 4 DD (own action first); actions 0 = C, 1 = D. Step sizes
are chosen so the numbers are exact: ``alpha_t = 1 / (1/alpha + t alpha_decay)`` with alpha 0.5
and alpha_decay 1 is 1/3, 1/4, 1/5 at t = 1, 2, 3; gamma 0.5.
"""

import numpy as np
import pytest
import torch

from agents import seeding
from agents.online import (
    ONLINE_RULES,
    OnlineParams,
    Transition,
    initial_tables,
    next_state,
)
from agents.spec import AgentSpec
from tournament.engines import online as online_engine
from tournament.engines.online import ONLINE_STREAM
from tournament.games import GAMES
from tournament.match import play_matches

F64 = torch.float64
C, D = 0, 1


def tensor(*values):
    return torch.tensor(values, dtype=F64)


def params(batch=1, alpha=0.5, alpha_decay=1.0, epsilon=0.1, delta=0.5, delta_decay=1.0):
    def full(x):
        return torch.full((batch,), x, dtype=F64)

    return OnlineParams(
        full(0.5), full(alpha), full(alpha_decay), full(epsilon), full(delta), full(delta_decay)
    )


# (s, a, o, r): start -> DC -> CD -> CC, IPD rewards of the row player.
TRAJECTORY = [(0, D, C, 0.0), (3, C, D, -3.0), (2, C, C, -1.0)]


def play(kind, tables, hp, trajectory=TRAJECTORY):
    """Feed the trajectory to the rule, one step at a time, t = 1, 2, ..."""
    batch = next(iter(tables.values())).shape[0]
    for t, (s, a, o, r) in enumerate(trajectory, start=1):

        def column(x, dtype=torch.long):
            return torch.full((batch,), x, dtype=dtype)

        own, opp = column(a), column(o)
        tr = Transition(column(s), own, opp, column(r, F64), next_state(own, opp))
        if t < len(trajectory):  # a trajectory: each step starts where the last ended
            assert int(tr.s_next[0]) == trajectory[t][0]
        tables = ONLINE_RULES[kind].update(tables, tr, t, hp)
    return tables


Q0 = [[0.0, 1.0], [2.0, -1.0], [0.5, 0.3], [-2.0, 4.0], [1.0, 3.0]]


def test_q_learning_targets_the_max_of_the_next_state():
    """t=1: Q(0,D) = 2/3 * 1 + 1/3 (0 + 0.5 max(-2, 4)) = 4/3 (the max, D's 4, not C's -2);
    t=2: Q(3,C) = 3/4 (-2) + 1/4 (-3 + 0.5 max(0.5, 0.3)) = -2.1875;
    t=3: Q(2,C) = 4/5 0.5 + 1/5 (-1 + 0.5 max(2, -1)) = 0.4. Nothing else moves."""
    tables = {"q": torch.tensor([Q0], dtype=F64)}
    q = play("q", tables, params())["q"][0]
    expected = torch.tensor(Q0, dtype=F64)
    expected[0, D], expected[3, C], expected[2, C] = 4 / 3, -2.1875, 0.4
    assert torch.allclose(q, expected, rtol=0, atol=1e-15)
    # Behaviour: epsilon-greedy, the greedy action flipped with probability 0.1 (ties to C).
    p_coop = ONLINE_RULES["q"].behaviour({"q": q[None]}, params())[0]
    assert torch.allclose(p_coop, tensor(0.1, 0.9, 0.9, 0.1, 0.1), rtol=0, atol=1e-15)


def test_joint_action_learner_weights_its_q_by_the_opponents_empirical_actions():
    """Q(3) = [[4, 0], [0, 2]] (own a rows, opponent o columns), counts(3) = (1, 3): the
    opponent defected 3 times in 4, so Q'(3, C) = 4/4 = 1, Q'(3, D) = 2 * 3/4 = 1.5 and
    max Q' = 1.5 (the raw max would be 4).
    t=1 (0, D, C, r 0): Q(0, D, C) = 2/3 0.3 + 1/3 (0 + 0.5 * 1.5) = 0.45; counts(0) = (1, 0).
    t=2 (3, C, D, r -3): state 2 never seen, Q'(2) = 0: Q(3, C, D) = 3/4 0 + 1/4 (-3) = -0.75;
    counts(3) = (1, 4)."""
    q = torch.zeros(1, 5, 2, 2, dtype=F64)
    q[0, 0] = torch.tensor([[0.0, 0.0], [0.3, -1.0]], dtype=F64)
    q[0, 3] = torch.tensor([[4.0, 0.0], [0.0, 2.0]], dtype=F64)
    counts = torch.zeros(1, 5, 2, dtype=F64)
    counts[0, 3] = tensor(1, 3)
    out = play("jal-q", {"q": q, "counts": counts}, params(), TRAJECTORY[:2])
    expected_q, expected_counts = q.clone(), counts.clone()
    expected_q[0, 0, D, C], expected_q[0, 3, C, D] = 0.45, -0.75
    expected_counts[0, 0], expected_counts[0, 3] = tensor(1, 0), tensor(1, 4)
    assert torch.allclose(out["q"], expected_q, rtol=0, atol=1e-15)
    assert torch.equal(out["counts"], expected_counts)
    # Behaviour on Q': state 3, Q'(C) = (4 - 0.75 * 4) / 5 = 0.2 < Q'(D) = 8/5: defect.
    # State 0, Q'(C) = 0 < Q'(D) = 0.45: defect. Unseen states: Q' = 0, a tie: cooperate.
    p_coop = ONLINE_RULES["jal-q"].behaviour(out, params())[0]
    assert torch.allclose(p_coop, tensor(0.1, 0.9, 0.9, 0.1, 0.9), rtol=0, atol=1e-15)


def test_phc_steps_toward_the_greedy_action_clipped_to_keep_a_distribution():
    """delta_t = 1 / (1/0.5 + t) = 1/3, 1/4, 1/5; Q as in Q-learning.
    t=1, state 0: greedy D (Q(0) = (0, 4/3)); pi(0) = (0.3, 0.7): the step 1/3 is clipped to
    min(0.3, 1/3) = 0.3, giving (0, 1) and not (-0.03, 1.03).
    t=2, state 3: greedy D; pi(3) = (0.9, 0.1) -> (0.65, 0.35).
    t=3, state 2: Q(2) = (0.4, 0.3), greedy C; pi(2) = (0.5, 0.5) -> (0.7, 0.3)."""
    pi = torch.full((1, 5, 2), 0.5, dtype=F64)
    pi[0, 0], pi[0, 3] = tensor(0.3, 0.7), tensor(0.9, 0.1)
    tables = {"q": torch.tensor([Q0], dtype=F64), "pi": pi}
    out = play("phc", tables, params())
    expected = pi.clone()
    expected[0, 0], expected[0, 3] = tensor(0, 1), tensor(0.65, 0.35)
    expected[0, 2] = tensor(0.7, 0.3)
    assert torch.allclose(out["pi"], expected, rtol=0, atol=1e-15)
    assert torch.equal(out["pi"].sum(dim=2), torch.ones(1, 5, dtype=F64))
    assert torch.allclose(ONLINE_RULES["phc"].behaviour(out, params()), expected[:, :, 0])


def test_wolf_phc_steps_slowly_when_winning_and_twice_as_fast_when_losing():
    """One step, two matches, (s, a, o, r) = (start, C, C, -1): alpha_t = 0.5 (no decay), Q(0)
    = (2, 0) -> (0.5 * 2 + 0.5 (-1 + 0.5 * 2), 0) = (1, 0), greedy C; delta_win = 0.1.
    Match 0: pi(0) = (0.8, 0.2), pi_avg(0) = (0.5, 0.5) seen once: pi_avg(0) -> (0.65, 0.35);
    pi.Q = 0.8 > pi_avg.Q = 0.65, winning: step 0.1 -> pi(0) = (0.9, 0.1).
    Match 1: pi(0) = (0.3, 0.7), pi_avg(0) = (0.6, 0.4) seen twice: pi_avg(0) -> (0.5, 0.5);
    pi.Q = 0.3 < 0.5, losing: step 0.2 -> pi(0) = (0.5, 0.5)."""
    q = torch.zeros(2, 5, 2, dtype=F64)
    q[:, 0], q[:, 1] = tensor(2, 0), tensor(2, -1)
    pi = torch.full((2, 5, 2), 0.5, dtype=F64)
    pi_avg = pi.clone()
    pi[0, 0], pi[1, 0] = tensor(0.8, 0.2), tensor(0.3, 0.7)
    pi_avg[1, 0] = tensor(0.6, 0.4)
    visits = torch.zeros(2, 5, dtype=F64)
    visits[:, 0] = tensor(1, 2)
    tables = {"q": q, "pi": pi, "pi_avg": pi_avg, "visits": visits}
    hp = params(batch=2, alpha_decay=0.0, delta=0.1, delta_decay=0.0)
    out = play("wolf-phc", tables, hp, [(0, C, C, -1.0)])
    assert torch.allclose(out["q"][:, 0], tensor(1, 0).expand(2, 2), rtol=0, atol=1e-15)
    assert torch.allclose(out["pi_avg"][:, 0], torch.stack([tensor(0.65, 0.35), tensor(0.5, 0.5)]))
    assert torch.allclose(out["pi"][:, 0], torch.stack([tensor(0.9, 0.1), tensor(0.5, 0.5)]))
    assert torch.equal(out["visits"][:, 0], tensor(2, 3))
    assert torch.equal(out["pi"][:, 1:], pi[:, 1:])  # other states untouched


@pytest.mark.parametrize("kind", list(ONLINE_RULES))
def test_initial_tables_depend_on_the_seed_alone(kind):
    """Q ~ N(0, 1) from each side's seed, whatever the other seeds of the batch."""
    together = initial_tables(kind, [5, 9, 13], F64, "cpu")
    alone = initial_tables(kind, [9], F64, "cpu")
    for name, table in alone.items():
        assert torch.equal(together[name][1:2], table)
    assert together["q"][0].std() > 0.3 and not torch.equal(together["q"][0], together["q"][1])


# --- the online engine -----------------------------------------------------------------------

IPD = GAMES["ipd"]


def reference_q_vs_fixed(seed, p_opp, episodes, steps, gamma, alpha, decay, epsilon):
    """Q-learning against a fixed memory-one opponent, one match, plain Python floats, as the
    official ``NaiveQLearner`` plays (the same uniforms as the engine). Returns the discounted
    reward per step of each episode and the final epsilon-greedy P(C | s)."""
    q = [list(row) for row in seeding.normal([2 * seed], 10)[0].reshape(5, 2)]
    own = (-1.0, -3.0, 0.0, -2.0)  # IPD payoffs in a player's own view: CC, CD, DC, DD
    t, per_episode = 0, []
    for episode in range(episodes):
        u_self = seeding.uniform([2 * seed], steps, ONLINE_STREAM + episode)[0]
        u_opp = seeding.uniform([2 * seed + 1], steps, ONLINE_STREAM + episode)[0]
        s, s_opp, total, norm, discount = 0, 0, 0.0, 0.0, 1.0
        for k in range(steps):
            # Epsilon-greedy; a player cooperates when its uniform is below its P(C | s).
            p_coop = 1 - epsilon if q[s][0] >= q[s][1] else epsilon
            a = 0 if u_self[k] < p_coop else 1
            o = 0 if u_opp[k] < p_opp[s_opp] else 1
            r = own[2 * a + o]
            t += 1
            alpha_t = 1 / (1 / alpha + t * decay)
            s_next = 1 + 2 * a + o
            q[s][a] = (1 - alpha_t) * q[s][a] + alpha_t * (r + gamma * max(q[s_next]))
            total, norm, discount = total + discount * r, norm + discount, discount * gamma
            s, s_opp = s_next, 1 + 2 * o + a
        per_episode.append(total / norm)
    p_coop = [1 - epsilon if row[0] >= row[1] else epsilon for row in q]
    return per_episode, p_coop


def test_q_learner_against_tft_matches_a_plain_python_replay():
    """The engine's episodes (states, rewards, the step counter across episodes, actions from
    the counter-based uniforms) against a scalar replay of the official algorithm; large
    step sizes so that Q, and with it the behaviour, changes within the run."""
    seeds, episodes, steps = [3, 8], 4, 30
    spec = AgentSpec("q", alpha=0.5, alpha_decay=0.01, epsilon=0.2, steps=steps)
    tft = AgentSpec("tft")
    results = play_matches(IPD, [spec] * 2, [tft] * 2, seeds, episodes, gamma=0.9)
    for i, seed in enumerate(seeds):
        rewards, p_coop = reference_q_vs_fixed(
            seed, (1, 1, 0, 1, 0), episodes, steps, 0.9, 0.5, 0.01, 0.2
        )
        assert np.isnan(results.sampled_reward_a[i, 0])  # no episode before the first update
        assert np.allclose(results.sampled_reward_a[i, 1:], rewards, rtol=0, atol=1e-12)
        assert np.allclose(results.p_coop_a[i, -1], p_coop, rtol=0, atol=0)
    assert len(set(np.round(results.p_coop_a[:, 1:].reshape(-1, 5).sum(axis=1), 6))) > 1


def test_an_exact_learner_takes_one_exact_step_against_the_behaviour_policy():
    """After one episode, nl's update is its exact gradient step against the online learner's
    behaviour policy at the end of that episode: the same step as against memory1 with those
    probabilities (clamped alike), on the closed-form engine."""
    for kind in ONLINE_RULES:
        online = AgentSpec(kind, steps=50, alpha=0.3, delta=0.2, delta_win=0.2)
        results = play_matches(IPD, [AgentSpec("nl", lr=0.7)], [online], [5], 1)
        behaviour = tuple(float(x) for x in results.p_coop_b[0, 1])
        against_fixed = play_matches(
            IPD, [AgentSpec("nl", lr=0.7)], [AgentSpec("memory1", p=behaviour)], [5], 1
        )
        assert np.allclose(results.p_coop_a[0, 1], against_fixed.p_coop_a[0, 1], atol=1e-12)
        assert not np.allclose(results.p_coop_a[0, 1], results.p_coop_a[0, 0], atol=1e-3)
        assert np.isclose(results.reward_a[0, 1], against_fixed.reward_a[0, 1], atol=1e-12)


BATCH_OPPONENTS = {
    "q-vs-tft": ("q", AgentSpec("tft")),
    "jal-q-vs-wolf-phc": ("jal-q", AgentSpec("wolf-phc", steps=40)),
    "phc-vs-lola": ("phc", AgentSpec("lola", lr=1.0, lr_in=1.0)),
    "wolf-phc-vs-lola-taylor-mlp": ("wolf-phc", AgentSpec("lola-taylor", policy="mlp:4")),
    "q-vs-nl-pg": ("q", AgentSpec("nl-pg", lr=0.3, episodes=4, steps=20)),
}


@pytest.mark.parametrize("case", list(BATCH_OPPONENTS))
def test_an_online_match_does_not_depend_on_its_batch(case):
    """Bit for bit, whatever else shares the batch (each side's options differ per match)."""
    kind, opponent = BATCH_OPPONENTS[case]
    specs = [AgentSpec(kind, steps=40, alpha=a, epsilon=0.1) for a in (0.1, 0.5, 0.9)]
    batched = play_matches(IPD, specs, [opponent] * 3, [0, 7, 9], 4)
    alone = play_matches(IPD, specs[1:2], [opponent], [7], 4)
    for name in ("reward_a", "reward_b", "p_coop_a", "p_coop_b", "sampled_reward_a"):
        assert np.array_equal(getattr(batched, name)[1], getattr(alone, name)[0], equal_nan=True)
    assert not np.array_equal(batched.p_coop_a[0], batched.p_coop_a[1])


ROUND_ROBIN = [
    AgentSpec("q", steps=8, alpha=0.5, epsilon=0.2),
    AgentSpec("jal-q", steps=8, alpha=0.4),
    AgentSpec("phc", steps=8, alpha=0.3, delta=0.2),
    AgentSpec("wolf-phc", steps=8, alpha=0.3, delta_win=0.1),
    AgentSpec("nl", lr=0.7),
    AgentSpec("lola-taylor", lr=1.0),
    AgentSpec("tft"),
    AgentSpec("nl-pg", lr=0.3, episodes=2, steps=6),
]


def test_a_round_robin_of_mixed_online_kinds_in_one_batch_equals_each_pairing_alone():
    """Every ordered pairing with an online side (online, exact, fixed and sampled agents on
    either side) in iterated matching pennies (whose sides differ), all in one call, bit for
    bit as each pairing played alone: each side's rule runs on its kind's rows, elementwise
    per match."""
    game = "imp"
    pairs = [(a, b) for a in ROUND_ROBIN for b in ROUND_ROBIN if a.online or b.online]
    seeds = [3, 11]
    specs_a = [a for a, _ in pairs for _ in seeds]
    specs_b = [b for _, b in pairs for _ in seeds]
    mixed = play_matches(GAMES[game], specs_a, specs_b, seeds * len(pairs), 3, gamma=0.9)
    for i, (a, b) in enumerate(pairs):
        alone = play_matches(GAMES[game], [a] * 2, [b] * 2, seeds, 3, gamma=0.9)
        rows = slice(2 * i, 2 * i + 2)
        for name in ("reward_a", "reward_b", "p_coop_a", "p_coop_b", "diverged_at"):
            assert torch.equal(
                torch.as_tensor(getattr(mixed, name)[rows]), torch.as_tensor(getattr(alone, name))
            ), (a.kind, b.kind, name)
        for name in ("sampled_reward_a", "sampled_reward_b"):
            assert np.array_equal(getattr(mixed, name)[rows], getattr(alone, name), equal_nan=True)
    assert len({float(x) for x in mixed.reward_a[:, -1]}) > len(pairs)


def test_an_online_kind_cut_into_runs_of_five_rows_plays_the_same_bits(monkeypatch):
    """A kind's rows beyond ``MAX_RUN`` are stepped in pieces: same numbers."""
    specs_a = [AgentSpec("q", steps=6, alpha=a) for a in (0.1, 0.3, 0.5, 0.7)] * 3
    specs_b = [AgentSpec("phc", steps=6), AgentSpec("q", steps=6), AgentSpec("nl")] * 4
    whole = play_matches(IPD, specs_a, specs_b, list(range(12)), 3)
    monkeypatch.setattr(online_engine, "MAX_RUN", 5)
    pieces = play_matches(IPD, specs_a, specs_b, list(range(12)), 3)
    for name in ("reward_a", "reward_b", "p_coop_a", "p_coop_b", "sampled_reward_b"):
        assert np.array_equal(getattr(whole, name), getattr(pieces, name), equal_nan=True)


def test_an_online_batch_refuses_a_match_without_an_online_learner():
    with pytest.raises(ValueError, match=r"specs: match 1 \(nl vs tft\) has no online learner"):
        play_matches(IPD, [AgentSpec("q"), AgentSpec("nl")], [AgentSpec("tft")] * 2, [0, 1], 1)
    with pytest.raises(ValueError, match="steps: the online learners of one batch must play"):
        play_matches(
            IPD, [AgentSpec("q", steps=5), AgentSpec("phc", steps=6)], [AgentSpec("tft")] * 2,
            [0, 1], 1,
        )  # fmt: skip


def test_two_online_learners_must_share_the_episode_length():
    with pytest.raises(ValueError, match="steps: two online learners in one match"):
        play_matches(IPD, [AgentSpec("q", steps=10)], [AgentSpec("phc", steps=20)], [0], 1)
    with pytest.raises(ValueError, match="engine: closed_form cannot play online learners"):
        play_matches(IPD, [AgentSpec("q")], [AgentSpec("tft")], [0], 1, engine="closed_form")
