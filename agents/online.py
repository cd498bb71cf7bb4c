"""Online tabular learners: Q-learning, the joint-action learner, PHC and WoLF-PHC.

These learners update after every step of play from the transition they saw, not once per
episode from a value: what the LOLA paper's round robin pits LOLA against (Foerster et al. 2018,
the tournament; the official ``lola/baselines.py`` of alshedivat/lola, whose defaults the
options keep). Every function here is pure and batched over B matches: tables are tensors with
a leading match dimension, an update returns new tables.

State ``s``: 0 = start, then the previous joint action, own action first (1..4 = CC, CD, DC,
DD, as everywhere in lola-arena). Actions: 0 = C, 1 = D. A transition is ``(s, a, o, r, s')``:
the state, own action, the opponent's action, own reward and the next state. The step counter
``t`` counts the learner's steps since the match began, across episodes, starting at 1 (as the
official code's ``T``); step sizes decay with it,

    alpha_t = 1 / (1 / alpha + t * alpha_decay),   delta_t = 1 / (1 / delta + t * delta_decay)

Tables (a dict of tensors, like :data:`agents.functional.Params`): ``q`` [B, 5, 2] Q(s, a)
(``jal-q``: [B, 5, 2, 2] Q(s, a, o)) initialised N(0, 1) from the side's seed; ``counts``
[B, 5, 2] the opponent's actions seen per state (``jal-q``); ``pi`` [B, 5, 2] the policy and
``pi_avg``, ``visits`` [B, 5] its running average (``wolf-phc``).

Behaviour: ``q`` and ``jal-q`` act epsilon-greedily as the official code does (the greedy
action, flipped with probability epsilon: P(greedy) = 1 - epsilon; ties go to C); ``phc`` and
``wolf-phc`` act from ``pi``. :func:`behaviour` is that policy as P(C | s) [B, 5], which the
engine samples from and hands to exact learners.

Not as in the official code: pi is not clipped to [1e-8, 1 - 1e-8] after a step, nor pi_avg
clipped and renormalised (PHC's clipped step keeps pi a distribution, and pi_avg is a convex
combination of distributions); an exact learner sees these policies through the clamped
logits of :data:`agents.strategies.MODEL_EPS` as it sees fixed strategies.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from agents import seeding

N_STATES, N_ACTIONS = 5, 2
Tables = dict[str, torch.Tensor]


@dataclass
class OnlineParams:
    """Per-match hyperparameters, [B] each: the match's discount ``gamma``, the options of
    :mod:`agents.options` (``delta``/``delta_decay`` are PHC's or WoLF-PHC's ``delta_win``
    and its decay; ``epsilon`` unused by the PHC learners)."""

    gamma: torch.Tensor
    alpha: torch.Tensor
    alpha_decay: torch.Tensor
    epsilon: torch.Tensor
    delta: torch.Tensor
    delta_decay: torch.Tensor


@dataclass
class Transition:
    """One step of B matches, [B] each, from the learner's own view."""

    s: torch.Tensor
    a: torch.Tensor
    o: torch.Tensor
    r: torch.Tensor
    s_next: torch.Tensor


def next_state(own: torch.Tensor, opp: torch.Tensor) -> torch.Tensor:
    """The egocentric state after the joint action (own, opp): 1 + 2 own + opp."""
    return 1 + 2 * own + opp


def decayed(rate: torch.Tensor, decay: torch.Tensor, t: int) -> torch.Tensor:
    """``1 / (1 / rate + t * decay)``: the step size at step t (``reciprocal`` is what
    ``1 / x`` computes, without its Python wrapper)."""
    return (rate.reciprocal() + t * decay).reciprocal()


@functools.lru_cache(maxsize=64)
def _arange(n: int, device: torch.device) -> torch.Tensor:
    """``arange(n)``, made once per size (a step would otherwise build several)."""
    return torch.arange(n, device=device)


@functools.lru_cache(maxsize=64)
def _offsets(batch: int, states: int, device: torch.device) -> torch.Tensor:
    """Where match b's rows begin in a [B * states, ...] table: ``b * states``, [B]."""
    return torch.arange(batch, device=device) * states


def _flat_index(table: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Positions of the entries ``table[b, s[b], ...]`` in ``table.reshape(B, -1)``, [B, K]."""
    row = math.prod(table.shape[2:])
    return s[:, None] * row + _arange(row, s.device)


def _rows(table: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``table[b, s[b]]`` for every match b: [B, *table.shape[2:]] (one row per match
    selected from the [B * 5, ...] table: faster than a gather of its entries)."""
    batch, states = table.shape[:2]
    rows = _offsets(batch, states, s.device) + s
    return table.reshape(batch * states, *table.shape[2:]).index_select(0, rows)


def _put_rows(table: torch.Tensor, s: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``table`` with ``table[b, s[b]] = rows[b]``, out of place."""
    batch = table.shape[0]
    flat = table.reshape(batch, -1).scatter(1, _flat_index(table, s), rows.reshape(batch, -1))
    return flat.reshape(table.shape)


def one_hot(action: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[B, A] in ``like``'s dtype: 1 at ``action``, else 0."""
    return (action[:, None] == _arange(N_ACTIONS, action.device)).to(like.dtype)


def _per_match(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, *([1] * (like.dim() - 1)))


def td_update(q_s: torch.Tensor, a: torch.Tensor, target: torch.Tensor, alpha_t: torch.Tensor):
    """``Q(s, a) <- (1 - alpha_t) Q(s, a) + alpha_t target`` on the rows ``q_s`` = Q(s, .)
    [B, A, ...] at own action ``a`` (any trailing dimensions: the opponent's action, one-hot
    in ``target``'s place for the joint-action learner)."""
    mask = one_hot(a, q_s)
    mask = mask.reshape(*mask.shape, *([1] * (q_s.dim() - 2)))
    return q_s + mask * _per_match(alpha_t, q_s) * (target - q_s)


def _max(x: torch.Tensor) -> torch.Tensor:
    """The larger of the two actions' values, [B] from [B, 2] (elementwise: faster than a
    reduction over a dimension of 2)."""
    return torch.maximum(x[:, 0], x[:, 1])


def _q_step(q: torch.Tensor, tr: Transition, t: int, hp: OnlineParams):
    """Q-learning's table and its new row Q(s, .), [B, 2] (:func:`q_learning`)."""
    target = tr.r + hp.gamma * _max(_rows(q, tr.s_next))
    alpha_t = decayed(hp.alpha, hp.alpha_decay, t)
    new_row = td_update(_rows(q, tr.s), tr.a, target[:, None], alpha_t)
    return _put_rows(q, tr.s, new_row), new_row


def q_learning(tables: Tables, tr: Transition, t: int, hp: OnlineParams) -> Tables:
    """NL-Q, tabular Q-learning (Watkins & Dayan 1992; the official ``NaiveQLearner``):

    Q(s, a) <- (1 - alpha_t) Q(s, a) + alpha_t (r + gamma max_a' Q(s', a'))
    """
    q, _ = _q_step(tables["q"], tr, t, hp)
    return {**tables, "q": q}


def opponent_weighted(q: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """JAL's value of own actions, ``Q'(s, a) = sum_o Q(s, a, o) P^(o | s)`` with the empirical
    ``P^(o | s) = counts(s, o) / N(s)`` (0 where s was never seen: Q' = 0 there, as in the
    official code's ``C / (N + 1e-8)``): [..., 2] from q [..., 2, 2] and counts [..., 2] (all
    states, [B, 5, ...], or one state per match, [B, ...])."""
    seen = counts[..., 0] + counts[..., 1]
    seen = torch.where(seen > 0, seen, torch.ones_like(seen)).unsqueeze(-1)
    p_c, p_d = counts[..., 0:1] / seen, counts[..., 1:2] / seen
    return q[..., 0] * p_c + q[..., 1] * p_d


def joint_action_learning(tables: Tables, tr: Transition, t: int, hp: OnlineParams) -> Tables:
    """JAL-Q, the joint-action learner (Claus & Boutilier 1998; the official
    ``JointActionLearner``): Q over joint actions and counts of the opponent's actions,

        Q(s, a, o) <- (1 - alpha_t) Q(s, a, o) + alpha_t (r + gamma max_a' Q'(s', a'))
        counts(s, o) <- counts(s, o) + 1          (after the target, as the official code)

    with ``Q'`` of :func:`opponent_weighted`; it acts epsilon-greedily on ``Q'``.
    """
    q, counts = tables["q"], tables["counts"]
    q_next = opponent_weighted(_rows(q, tr.s_next), _rows(counts, tr.s_next))  # Q'(s', .)
    target = tr.r + hp.gamma * _max(q_next)
    alpha_t = decayed(hp.alpha, hp.alpha_decay, t)
    opp = one_hot(tr.o, q)  # [B, 2]
    q_s = _rows(q, tr.s)  # [B, 2 own, 2 opp]
    # Only the entry (a, o) moves: the target stands in for Q(s, a, o) where o was played.
    per_opp = opp[:, None, :] * target[:, None, None] + (1 - opp[:, None, :]) * q_s
    new_row = td_update(q_s, tr.a, per_opp, alpha_t)
    new_counts = _put_rows(counts, tr.s, _rows(counts, tr.s) + opp)
    return {**tables, "q": _put_rows(q, tr.s, new_row), "counts": new_counts}


def hill_climb(pi_s: torch.Tensor, q_s: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """PHC's policy step at one state (Bowling & Veloso 2002, Table 1), [B, A] rows: with
    ``a*`` = argmax_a Q(s, a) (ties to the first action),

        pi(s, a) <- pi(s, a) + { -d_a                  a != a*
                                 sum_{a' != a*} d_a'   a  = a* }
        d_a = min(pi(s, a), delta / (A - 1))

    The ``min`` clips the step so that pi stays a distribution (no probability below 0, the
    total unchanged). With two actions: ``min(pi(s, other), delta)`` moves from the other
    action to a*."""
    greedy_c = q_s[:, 0] >= q_s[:, 1]
    moved = torch.minimum(torch.where(greedy_c, pi_s[:, 1], pi_s[:, 0]), delta)
    toward_c = torch.where(greedy_c, moved, -moved)
    return torch.stack([pi_s[:, 0] + toward_c, pi_s[:, 1] - toward_c], dim=1)


def policy_hill_climbing(tables: Tables, tr: Transition, t: int, hp: OnlineParams) -> Tables:
    """PHC, policy hill-climbing (Bowling & Veloso 2002; the official ``PolicyHillClimbing``):
    Q-learning (:func:`q_learning`), then pi(s) moves toward the greedy action by
    ``delta_t = 1 / (1 / delta + t * delta_decay)`` (:func:`hill_climb`); it acts from pi."""
    q, q_s = _q_step(tables["q"], tr, t, hp)
    new_pi = hill_climb(_rows(tables["pi"], tr.s), q_s, decayed(hp.delta, hp.delta_decay, t))
    return {**tables, "q": q, "pi": _put_rows(tables["pi"], tr.s, new_pi)}


def _expected(pi_s: torch.Tensor, q_s: torch.Tensor) -> torch.Tensor:
    """``sum_a pi(s, a) Q(s, a)``, [B]."""
    return pi_s[:, 0] * q_s[:, 0] + pi_s[:, 1] * q_s[:, 1]


def wolf_policy_hill_climbing(tables: Tables, tr: Transition, t: int, hp: OnlineParams) -> Tables:
    """WoLF-PHC, "win or learn fast" (Bowling & Veloso 2002, Table 2; the official
    ``WoLF_PolicyHillClimbing``): Q-learning, then the average policy and a two-speed step,

        C(s) <- C(s) + 1,   pi_avg(s) <- pi_avg(s) + (pi(s) - pi_avg(s)) / C(s)
        delta = delta_t        if sum_a pi(s, a) Q(s, a) > sum_a pi_avg(s, a) Q(s, a)  (winning)
                2 delta_t      otherwise                                           (losing)

    with ``delta_t = 1 / (1 / delta_win + t * delta_win_decay)`` and pi(s) stepped as PHC
    (:func:`hill_climb`); it acts from pi.
    """
    q, q_s = _q_step(tables["q"], tr, t, hp)
    pi_s = _rows(tables["pi"], tr.s)
    visits = _rows(tables["visits"], tr.s) + 1  # [B]
    avg_s = _rows(tables["pi_avg"], tr.s)
    avg_s = avg_s + (pi_s - avg_s) / visits[:, None]
    winning = _expected(pi_s, q_s) > _expected(avg_s, q_s)
    delta_win = decayed(hp.delta, hp.delta_decay, t)
    delta = torch.where(winning, delta_win, 2 * delta_win)
    return {
        **tables,
        "q": q,
        "pi": _put_rows(tables["pi"], tr.s, hill_climb(pi_s, q_s, delta)),
        "pi_avg": _put_rows(tables["pi_avg"], tr.s, avg_s),
        "visits": _put_rows(tables["visits"], tr.s, visits),
    }


def epsilon_greedy(values: torch.Tensor, epsilon: torch.Tensor) -> torch.Tensor:
    """P(C | s) of acting greedily on ``values`` [..., 2] and flipping the action with
    probability epsilon (ties to C): [B, 5] for all states, [B] for one state per match."""
    greedy_c = values[..., 0] >= values[..., 1]
    eps = _per_match(epsilon, greedy_c)
    return torch.where(greedy_c, 1 - eps, eps)


def at(tables: Tables, s: torch.Tensor, names: Sequence[str]) -> Tables:
    """The rows at state ``s[b]`` of each match b of the tables ``names`` (what
    :attr:`OnlineRule.behaviour` reads, :attr:`OnlineRule.acts_on`, to give P(C | s) [B] at
    those states only)."""
    return {name: _rows(tables[name], s) for name in names}


@dataclass(frozen=True)
class OnlineRule:
    """An online learner: its update; its behaviour policy, P(C | s) [B, 5] from the tables or
    [B] from their rows at one state per match (:func:`at`), and the tables it reads;
    whether its Q table is over joint actions and whether it keeps a policy."""

    update: Callable[[Tables, Transition, int, OnlineParams], Tables]
    behaviour: Callable[[Tables, OnlineParams], torch.Tensor]
    acts_on: tuple[str, ...]
    joint: bool = False
    policy_tables: bool = False


def _greedy_behaviour(tables: Tables, hp: OnlineParams) -> torch.Tensor:
    return epsilon_greedy(tables["q"], hp.epsilon)


def _jal_behaviour(tables: Tables, hp: OnlineParams) -> torch.Tensor:
    return epsilon_greedy(opponent_weighted(tables["q"], tables["counts"]), hp.epsilon)


def _policy_behaviour(tables: Tables, hp: OnlineParams) -> torch.Tensor:
    return tables["pi"][..., 0]


ONLINE_RULES: dict[str, OnlineRule] = {
    "q": OnlineRule(q_learning, _greedy_behaviour, ("q",)),
    "jal-q": OnlineRule(joint_action_learning, _jal_behaviour, ("q", "counts"), joint=True),
    "phc": OnlineRule(policy_hill_climbing, _policy_behaviour, ("pi",), policy_tables=True),
    "wolf-phc": OnlineRule(
        wolf_policy_hill_climbing, _policy_behaviour, ("pi",), policy_tables=True
    ),
}


def initial_tables(kind: str, seeds: Sequence[int], dtype, device) -> Tables:
    """A learner's tables at the start of B matches: Q ~ N(0, 1) from each side's seed
    (:mod:`agents.seeding`, stream 0, as the tabular logits), counts 0, pi and pi_avg uniform."""
    rule = ONLINE_RULES[kind]
    shape = (N_STATES, N_ACTIONS, N_ACTIONS) if rule.joint else (N_STATES, N_ACTIONS)
    size = len(seeds)
    draws = seeding.normal(seeds, N_STATES * N_ACTIONS * (N_ACTIONS if rule.joint else 1))
    tables = {"q": torch.as_tensor(draws, dtype=dtype, device=device).reshape(size, *shape)}
    if rule.joint:
        tables["counts"] = torch.zeros(size, N_STATES, N_ACTIONS, dtype=dtype, device=device)
    if rule.policy_tables:
        uniform = torch.full((size, N_STATES, N_ACTIONS), 1 / N_ACTIONS, dtype=dtype, device=device)
        tables["pi"], tables["pi_avg"] = uniform, uniform.clone()
        tables["visits"] = torch.zeros(size, N_STATES, dtype=dtype, device=device)
    return tables
