"""The online engine: B matches in which side a, side b or both are online tabular learners
(the ``online`` kinds of :mod:`agents.kinds`: ``q``, ``jal-q``, ``phc``, ``wolf-phc``).

One update of the learning curve is one episode of T steps (the online learner's ``steps``),
played step by step on [B] tensors, every match from the start state; an online learner updates
its tables after every step (:mod:`agents.online`), with ``t`` counting its steps since the
match began, across episodes. Its opponent may be any kind:

- another online learner or a fixed strategy: both act on the sampled episode, nothing else;
- an exact learner (``nl``, ``lola``, ``lola-taylor``, ... any policy module): it plays its
  current policy through the episode, then takes one exact update (its rule on the exact
  value, as in the other engines) against the online learner's *behaviour* policy at the end
  of the episode, seen as a tabular policy at the clamped logits of its P(C | s) (as a fixed
  strategy is seen): epsilon-greedy on Q for ``q``/``jal-q``, pi for ``phc``/``wolf-phc``. The
  official tournament (alshedivat/lola, ``lola/tournament.py``) hands exact LOLA a softmax of
  Q instead (``NaiveQLearner.parameters``), a policy that Q-learners never play; lola-arena
  uses the policy the learner actually plays, so the exact learner shapes the opponent it
  meets. Where the Q values of a state are close, the softmax is near 1/2 while the behaviour
  policy is 1 - epsilon or epsilon;
- a sampled learner (``nl-pg``, ``lola-dice``): it updates once per episode as in the sampled
  engine, its DiCE rollouts played against the same tabular model of the behaviour policy.

Recorded per update: the exact per-step value of the two current policies (an online
learner's behaviour policy), their P(C | s), and, as ``sampled_reward``, the discounted reward
per step ``sum_t gamma^t r_t / sum_t gamma^t`` of the episode just played (what the learners
learned from; NaN before the first episode). The official tournament logs
``(1 - gamma) sum_t gamma^t r_t`` of each episode, this times ``1 - gamma^T``.

Threads: one intra-op thread (:func:`tournament.engines.sampled.one_thread`, for the same reason as
the sampled engine: a step is a few dozen operations on [B] tensors, and on a busy machine two
threads made a step of B = 16,384 matches 15 times slower).

Random numbers: step t of episode e of side a acts on uniform ``t`` of stream
:data:`ONLINE_STREAM` + e under the side seed ``2 s`` (side b: ``2 s + 1``); the tables start
from the side seed too (:func:`agents.online.initial_tables`). A match's numbers depend on its
seed alone, bit for bit, never on the other matches of its batch: every operation is
elementwise per match.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch

from agents import seeding
from agents.dice import DiceObjective
from agents.functional import AutogradObjective, BatchedPolicy, Params, is_finite, per_match
from agents.kinds import ONLINE
from agents.online import ONLINE_RULES, OnlineParams, Transition, at, initial_tables, next_state
from agents.policies import TabularPolicy
from agents.strategies import MODEL_EPS
from tournament.engines.autograd import Side
from tournament.engines.base import Engine, own_payoffs, prefixed, side_seeds
from tournament.engines.sampled import one_thread
from tournament.games import SWAP_VIEW, Game
from tournament.recorder import Snapshot
from tournament.values import discounted_values

# The action streams of agents.seeding: far from the parameter streams and the sampled ones.
ONLINE_STREAM = 1 << 36


class OnlineLearner:
    """One side of B matches that learns online: its tables, rule and hyperparameters. To an
    exact or sampled learner it looks like a tabular policy (``policy``, ``theta``)."""

    def __init__(self, specs, seeds, gamma: torch.Tensor, kw: dict):
        spec = specs[0]
        if any(s.structure() != spec.structure() for s in specs):
            raise ValueError("specs: matches in one batch must share the online learner's kind")
        self.spec = spec
        self.rule = ONLINE_RULES[spec.kind]
        self.tables = initial_tables(spec.kind, seeds, **kw)
        delta, decay = ("delta", "delta_decay")
        if spec.kind == "wolf-phc":
            delta, decay = ("delta_win", "delta_win_decay")

        def column(name: str) -> torch.Tensor:
            return torch.tensor([getattr(s, name) for s in specs], **kw)

        self.hp = OnlineParams(
            gamma,
            column("alpha"),
            column("alpha_decay"),
            column("epsilon"),
            column(delta),
            column(decay),
        )
        self.policy = BatchedPolicy(TabularPolicy, batch_invariant=True)
        self.steps_done = 0

    def p_play(self) -> torch.Tensor:
        """The behaviour policy, P(C | s) [B, 5]."""
        return self.rule.behaviour(self.tables, self.hp)

    def p_at(self, s: torch.Tensor) -> torch.Tensor:
        """The behaviour policy at state ``s[b]`` of each match b, P(C | s) [B]."""
        return self.rule.behaviour(at(self.tables, s, self.rule.acts_on), self.hp)

    @property
    def theta(self) -> Params:
        """The behaviour policy as a tabular policy: logits of P(C | s) clamped to
        [MODEL_EPS, 1 - MODEL_EPS], as a fixed strategy is modelled."""
        p = self.p_play().clamp(MODEL_EPS, 1 - MODEL_EPS)
        return {"logits": torch.log(p) - torch.log(1 - p)}

    def p_model(self, theta: Params) -> torch.Tensor:
        return self.policy.p_coop(theta)

    def learn(self, tr: Transition) -> None:
        self.steps_done += 1
        self.tables = self.rule.update(self.tables, tr, self.steps_done, self.hp)


class OnlineEngine(Engine):
    """Side a and side b of B matches, at least one an online learner (see the module doc)."""

    games = (Game,)

    @classmethod
    def refusal(cls, game, specs) -> str | None:
        if not any(s.online for s in specs):
            return f"needs an online learner ({', '.join(ONLINE)})"
        return None

    @classmethod
    def threads(cls) -> AbstractContextManager:
        return one_thread()

    def __init__(self, game, specs_a, specs_b, seeds, gamma: torch.Tensor, kw: dict):
        self.game, self.gamma, self.kw = game, gamma, kw
        self.side_seeds = side_seeds(seeds)
        payoffs = own_payoffs(game)
        self.r_own = [torch.tensor(p, **kw) for p in payoffs]  # [4] each, own view
        self.players = []
        sides = zip((specs_a, specs_b), self.side_seeds, payoffs, strict=True)
        for specs, seeds_of_side, own in sides:
            if specs[0].online:
                self.players.append(OnlineLearner(specs, seeds_of_side, gamma, kw))
            else:
                self.players.append(Side(specs, seeds_of_side, own, kw, batch_invariant=True))
        lengths = {p.spec.steps for p in self.players if isinstance(p, OnlineLearner)}
        if len(lengths) > 1:
            raise ValueError(
                f"steps: two online learners in one match must play episodes of one length, "
                f"got {' and '.join(map(str, sorted(lengths)))}"
            )
        (self.steps,) = lengths
        self.episodes_done = 0
        self.last_episode = None

    def _values(self, me: int):
        """The exact values (V_me, V_other) as a function of both players' parameters."""
        players = self.players

        def values(theta_me: Params, theta_other: Params):
            p_me = players[me].p_model(theta_me)
            p_other = players[1 - me].p_model(theta_other)
            pair = (p_me, p_other) if me == 0 else (p_other, p_me)
            v_a, v_b = discounted_values(self.game, *pair, self.gamma)
            return (v_a, v_b) if me == 0 else (v_b, v_a)

        return values

    def _objective(self, me: int):
        player, other = self.players[me], self.players[1 - me]
        if not player.spec.sampled:
            return AutogradObjective(self._values(me))
        swap = list(SWAP_VIEW)
        return DiceObjective(
            player.policy.logits,
            other.policy.logits,
            self.r_own[me],
            self.r_own[1 - me][swap],
            self.gamma,
            self.side_seeds[me],
            player.spec.episodes,
            player.spec.steps,
            player.spec.baseline,
            update=self.episodes_done,
        )

    def _play_episode(self) -> tuple[torch.Tensor, torch.Tensor]:
        """T steps of B matches; online learners learn after each. Returns both sides'
        discounted reward per step of the episode, [B] each."""
        kw = self.kw
        batch = len(self.side_seeds[0])
        stream = ONLINE_STREAM + self.episodes_done
        uniforms = [
            torch.as_tensor(seeding.uniform(seeds, self.steps, stream).T.copy(), **kw)
            for seeds in self.side_seeds
        ]  # [T, B] per side: step t's row is contiguous
        fixed = [
            None if isinstance(p, OnlineLearner) else p.p_play().detach() for p in self.players
        ]
        state = [torch.zeros(batch, dtype=torch.long, device=kw["device"])] * 2
        discounted = [torch.zeros(batch, **kw), torch.zeros(batch, **kw)]
        discount, total = torch.ones(batch, **kw), torch.zeros(batch, **kw)
        for t in range(self.steps):
            defect = []
            for side, player in enumerate(self.players):
                if fixed[side] is None:
                    p_now = player.p_at(state[side])
                else:
                    p_now = fixed[side].gather(1, state[side][:, None])[:, 0]
                defect.append((uniforms[side][t] >= p_now).long())
            for side, player in enumerate(self.players):
                own, opp = defect[side], defect[1 - side]
                reward = self.r_own[side].index_select(0, 2 * own + opp)
                discounted[side] = discounted[side] + discount * reward
                if isinstance(player, OnlineLearner):
                    player.learn(Transition(state[side], own, opp, reward, next_state(own, opp)))
            state = [next_state(defect[0], defect[1]), next_state(defect[1], defect[0])]
            total = total + discount
            discount = discount * self.gamma
        return discounted[0] / total, discounted[1] / total

    def step(self) -> torch.Tensor:
        """One episode, then one update of every exact or sampled learner against the others'
        current policies; a match that went non-finite keeps its previous parameters."""
        self.last_episode = self._play_episode()
        finite = torch.ones(len(self.side_seeds[0]), dtype=torch.bool, device=self.kw["device"])
        proposals = {}
        for me, player in enumerate(self.players):
            if isinstance(player, Side) and player.fixed_p is None:
                proposals[me] = player.proposal(self._objective(me), self.players[1 - me])
                finite = finite & is_finite(proposals[me])
        for me, new in proposals.items():
            side = self.players[me]
            side.theta = {
                n: torch.where(per_match(finite, t), t, side.theta[n]) for n, t in new.items()
            }
        self.episodes_done += 1
        return finite

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Each online learner's tables (``a.tables.<name>``) and step count (``a.steps``),
        each exact or sampled learner's parameters and optimiser state (``a.theta.<name>``,
        ``a.optimizer.<name>``; ``b.`` likewise), the last episode's rewards (``episode.a``,
        ``episode.b``: the next record's sampled rewards)."""
        state = {}
        for name, player in zip("ab", self.players, strict=True):
            if isinstance(player, OnlineLearner):
                state.update({f"{name}.tables.{n}": t for n, t in player.tables.items()})
                state[f"{name}.steps"] = torch.tensor(player.steps_done)
            elif player.fixed_p is None:
                state.update({f"{name}.theta.{n}": t for n, t in player.theta.items()})
                optimizer = player.optimizer.state_dict()
                state.update({f"{name}.optimizer.{k}": t for k, t in optimizer.items()})
        if self.last_episode is not None:
            state["episode.a"], state["episode.b"] = self.last_episode
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor], update: int) -> None:
        device = self.kw["device"]
        for name, player in zip("ab", self.players, strict=True):
            if isinstance(player, OnlineLearner):
                player.tables = prefixed(state, f"{name}.tables.", device)
                player.steps_done = int(state[f"{name}.steps"])
            elif player.fixed_p is None:
                player.theta = prefixed(state, f"{name}.theta.", device)
                player.optimizer.load_state_dict(prefixed(state, f"{name}.optimizer.", device))
        if "episode.a" in state:
            self.last_episode = (state["episode.a"].to(device), state["episode.b"].to(device))
        self.episodes_done = update  # the episodes' streams count the updates

    def snapshot(self) -> Snapshot:
        p_a, p_b = (p.p_play().detach() for p in self.players)
        snap = Snapshot.of(self.game, p_a, p_b, self.gamma)
        if self.last_episode is None:
            nan = torch.full_like(snap.reward_a, float("nan"))
            snap.sampled_reward_a, snap.sampled_reward_b = nan, nan.clone()
        else:
            snap.sampled_reward_a, snap.sampled_reward_b = self.last_episode
        return snap
