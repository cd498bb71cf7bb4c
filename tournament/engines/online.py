"""The online engine: B matches in which side a, side b or both are online tabular learners
(the ``online`` kinds of :mod:`agents.kinds`: ``q``, ``jal-q``, ``phc``, ``wolf-phc``).

One update of the learning curve is one episode of T steps (the online learner's ``steps``),
played step by step on [B] tensors, every match from the start state; an online learner updates
its tables after every step (:mod:`agents.online`), with ``t`` counting its steps since the
match began, across episodes. One batch mixes kinds, as the closed-form engine does: all 2B
sides are sorted so that the online learners of each kind are one contiguous run of rows
(:data:`MAX_RUN` at most), each rule stepping its run once per step, whatever the pairings
(a round robin's step costs about one rule call per kind present); the other sides follow,
one run per side and structure. Every match must have an online learner, and the online
learners of a batch play episodes of one length. An online learner's opponent may be any kind:

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
from dataclasses import dataclass

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
from tournament.engines.closed_form import runs
from tournament.engines.sampled import one_thread
from tournament.games import SWAP_VIEW, Game
from tournament.recorder import Snapshot
from tournament.values import discounted_values

# The action streams of agents.seeding: far from the parameter streams and the sampled ones.
ONLINE_STREAM = 1 << 36
# The most sides one online rule call steps: a longer run of a kind is cut into pieces, since
# beyond this its tables outgrow the cache (2 cores: WoLF-PHC's step on 32,768 rows took 14%
# more time than on two pieces of 16,384).
MAX_RUN = 16_384


class OnlineLearners:
    """The online learners of one kind among the sides of a batch, [N] rows: their tables, rule
    and per-match hyperparameters."""

    def __init__(self, specs, seeds, gamma: torch.Tensor, kw: dict):
        kind = specs[0].kind
        if any(s.kind != kind for s in specs):
            raise ValueError("specs: the online learners of one group must share one kind")
        self.kind = kind
        self.rule = ONLINE_RULES[kind]
        self.tables = initial_tables(kind, seeds, **kw)
        delta, decay = ("delta", "delta_decay")
        if kind == "wolf-phc":
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

    def p_play(self) -> torch.Tensor:
        """The behaviour policy, P(C | s) [N, 5]."""
        return self.rule.behaviour(self.tables, self.hp)

    def p_at(self, s: torch.Tensor) -> torch.Tensor:
        """The behaviour policy at state ``s[i]`` of each row i, P(C | s) [N]."""
        return self.rule.behaviour(at(self.tables, s, self.rule.acts_on), self.hp)

    def learn(self, tr: Transition, t: int) -> None:
        """The tables after the transition ``tr`` at step ``t`` of the match."""
        self.tables = self.rule.update(self.tables, tr, t, self.hp)


@dataclass(frozen=True)
class Model:
    """The opponents of a group of exact or sampled learners as those see them: tabular
    policies at ``theta``."""

    theta: Params


@dataclass
class Group:
    """A run of sorted rows: the player holding them (online learners of one kind, or an
    exact, sampled or fixed :class:`~tournament.engines.autograd.Side` of one structure on
    side ``me``), and the sorted rows of their opponents ``opp`` [N]."""

    player: OnlineLearners | Side
    rows: slice
    me: int
    opp: torch.Tensor
    matches: torch.Tensor  # [N]: the match of each row


class OnlineEngine(Engine):
    """Side a and side b of B matches, each with an online learner on at least one side (see the
    module doc): all 2B sides in one sorted order, the online learners of each kind one
    contiguous run (each rule runs once per step on its run), then the other sides, one run
    per (side, structure). ``order[j]`` is the original side of sorted row j (a's sides are
    0..B-1, b's B..2B-1)."""

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
        n = len(seeds)
        device = kw["device"]
        self.game, self.gamma, self.kw, self.n = game, gamma, kw, n
        for i, (a, b) in enumerate(zip(specs_a, specs_b, strict=True)):
            if not (a.online or b.online):
                raise ValueError(
                    f"specs: match {i} ({a.kind} vs {b.kind}) has no online learner "
                    f"({', '.join(ONLINE)}); play it on another engine"
                )
            if a.online and b.online and a.steps != b.steps:
                raise ValueError(
                    f"steps: two online learners in one match must play episodes of one "
                    f"length, got {' and '.join(map(str, sorted((a.steps, b.steps))))}"
                )
        lengths = {s.steps for s in (*specs_a, *specs_b) if s.online}
        if len(lengths) > 1:
            raise ValueError(
                f"steps: the online learners of one batch must play episodes of one length, "
                f"got {', '.join(map(str, sorted(lengths)))}"
            )
        (self.steps,) = lengths
        specs = [*specs_a, *specs_b]
        seeds_ab = [seed for seeds_side in side_seeds(seeds) for seed in seeds_side]  # [2B]
        others: dict[tuple, int] = {}

        def group(i: int) -> tuple:
            spec = specs[i]
            if spec.online:
                return (0, ONLINE.index(spec.kind))
            return (1, others.setdefault((i >= n, spec.structure()), len(others)))

        keys = [group(i) for i in range(2 * n)]
        order = sorted(range(2 * n), key=keys.__getitem__)
        self.order = torch.tensor(order, device=device)
        self.unsort = torch.empty_like(self.order)
        self.unsort[self.order] = torch.arange(2 * n, device=device)
        opp = self.unsort[(self.order + n) % (2 * n)]  # [2B]: the sorted row of the opponent
        gamma_ab = torch.cat([gamma, gamma])[self.order]
        payoffs = own_payoffs(game)
        self.r_own = [torch.tensor(p, **kw) for p in payoffs]  # [4] each, own view
        r_rows = torch.stack(self.r_own)[(self.order >= n).long()]  # [2B, 4], sorted
        self.r_flat = r_rows.reshape(-1)
        self.r_base = torch.arange(2 * n, device=device) * 4 - 1  # row j's payoffs, less 1
        self.seeds = [seeds_ab[i] for i in order]
        self.groups: list[Group] = []
        for key, run in runs([keys[i] for i in order]):
            # An online kind's run in pieces of at most MAX_RUN rows (see MAX_RUN).
            size = MAX_RUN if key[0] == 0 else run.stop - run.start
            for start in range(run.start, run.stop, size):
                rows = slice(start, min(start + size, run.stop))
                group_specs = [specs[i] for i in order[rows]]
                group_seeds = self.seeds[rows]
                me = int(order[rows.start] >= n)
                if key[0] == 0:
                    player = OnlineLearners(group_specs, group_seeds, gamma_ab[rows], kw)
                else:
                    player = Side(group_specs, group_seeds, payoffs[me], kw, batch_invariant=True)
                self.groups.append(Group(player, rows, me, opp[rows], self.order[rows] % n))
        self.online = [g for g in self.groups if isinstance(g.player, OnlineLearners)]
        self.others = [g for g in self.groups if isinstance(g.player, Side)]
        self.n_online = sum(g.rows.stop - g.rows.start for g in self.online)
        self.opp = opp
        self.gamma_ab = gamma_ab
        self.model = BatchedPolicy(TabularPolicy, batch_invariant=True)
        self.steps_done = 0  # every online learner's steps since its match began
        self.episodes_done = 0
        self.last_episode = None  # [2B] sorted

    def _p_online(self) -> torch.Tensor:
        """The online learners' behaviour policies, P(C | s) [N_online, 5] (sorted rows)."""
        return torch.cat([g.player.p_play() for g in self.online])

    def _p_play(self) -> torch.Tensor:
        """Every side's P(C | s) played, [2B, 5] (sorted rows)."""
        return torch.cat([self._p_online(), *(g.player.p_play().detach() for g in self.others)])

    def _objective(self, g: Group):
        """The objective of the exact or sampled learners of group ``g``."""
        player = g.player
        if not player.spec.sampled:
            gamma = self.gamma_ab[g.rows]

            def values(theta_me: Params, theta_other: Params):
                p_me, p_other = player.p_model(theta_me), self.model.p_coop(theta_other)
                pair = (p_me, p_other) if g.me == 0 else (p_other, p_me)
                v_a, v_b = discounted_values(self.game, *pair, gamma)
                return (v_a, v_b) if g.me == 0 else (v_b, v_a)

            return AutogradObjective(values)
        swap = list(SWAP_VIEW)
        return DiceObjective(
            player.policy.logits,
            self.model.logits,
            self.r_own[g.me],
            self.r_own[1 - g.me][swap],
            self.gamma_ab[g.rows],
            self.seeds[g.rows],
            player.spec.episodes,
            player.spec.steps,
            player.spec.baseline,
            update=self.episodes_done,
        )

    def _play_episode(self) -> torch.Tensor:
        """T steps of B matches; online learners learn after each. Returns every side's
        discounted reward per step of the episode, [2B] (sorted rows)."""
        kw = self.kw
        rows = 2 * self.n
        stream = ONLINE_STREAM + self.episodes_done
        uniforms = torch.as_tensor(
            seeding.uniform(self.seeds, self.steps, stream).T.copy(), **kw
        )  # [T, 2B]: step t's row is contiguous
        fixed = torch.cat(
            [torch.zeros(0, 5, **kw), *(g.player.p_play().detach() for g in self.others)]
        )  # [2B - N_online, 5]: the other sides' policies, fixed through the episode
        state = torch.zeros(rows, dtype=torch.long, device=kw["device"])
        discounted = torch.zeros(rows, **kw)
        discount, total = torch.ones(rows, **kw), torch.zeros(rows, **kw)
        for t in range(self.steps):
            p_now = [g.player.p_at(state[g.rows]) for g in self.online]
            if self.others:
                p_now.append(fixed.gather(1, state[self.n_online :, None])[:, 0])
            p_now = torch.cat(p_now) if len(p_now) > 1 else p_now[0]
            own = (uniforms[t] >= p_now).long()
            opp = own.index_select(0, self.opp)
            state_next = next_state(own, opp)  # 1 + 2 own + opp: also the payoff's index + 1
            reward = self.r_flat.index_select(0, self.r_base + state_next)
            discounted = discounted + discount * reward
            self.steps_done += 1
            for g in self.online:
                r = g.rows
                tr = Transition(state[r], own[r], opp[r], reward[r], state_next[r])
                g.player.learn(tr, self.steps_done)
            state = state_next
            total = total + discount
            discount = discount * self.gamma_ab
        return discounted / total

    def step(self) -> torch.Tensor:
        """One episode, then one update of every exact or sampled learner against the online
        learners' current behaviour policies; a match that went non-finite keeps its previous
        parameters."""
        self.last_episode = self._play_episode()
        finite = torch.ones(self.n, dtype=torch.bool, device=self.kw["device"])
        learners = [g for g in self.others if g.player.fixed_p is None]
        if not learners:
            self.episodes_done += 1
            return finite
        # The online learners' behaviour as tabular logits, clamped as a fixed strategy's.
        p = self._p_online().clamp(MODEL_EPS, 1 - MODEL_EPS)
        logits = torch.log(p) - torch.log(1 - p)  # [N_online, 5]
        proposals = []
        for g in learners:
            model = Model({"logits": logits.index_select(0, g.opp)})
            proposals.append(g.player.proposal(self._objective(g), model))
            finite[g.matches] &= is_finite(proposals[-1])
        for g, new in zip(learners, proposals, strict=True):
            keep = finite[g.matches]
            side = g.player
            side.theta = {
                n: torch.where(per_match(keep, t), t, side.theta[n]) for n, t in new.items()
            }
        self.episodes_done += 1
        return finite

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Each group's state under ``<i>.``: an online kind's tables (``<i>.tables.<name>``),
        an exact or sampled learner's parameters and optimiser state (``<i>.theta.<name>``,
        ``<i>.optimizer.<name>``); the online learners' step count (``steps``); the last
        episode's rewards of every sorted side (``episode``: the next record's sampled
        rewards)."""
        state = {"steps": torch.tensor(self.steps_done)}
        for i, g in enumerate(self.groups):
            player = g.player
            if isinstance(player, OnlineLearners):
                state.update({f"{i}.tables.{n}": t for n, t in player.tables.items()})
            elif player.fixed_p is None:
                state.update({f"{i}.theta.{n}": t for n, t in player.theta.items()})
                optimizer = player.optimizer.state_dict()
                state.update({f"{i}.optimizer.{k}": t for k, t in optimizer.items()})
        if self.last_episode is not None:
            state["episode"] = self.last_episode
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor], update: int) -> None:
        device = self.kw["device"]
        self.steps_done = int(state["steps"])
        for i, g in enumerate(self.groups):
            player = g.player
            if isinstance(player, OnlineLearners):
                player.tables = prefixed(state, f"{i}.tables.", device)
            elif player.fixed_p is None:
                player.theta = prefixed(state, f"{i}.theta.", device)
                player.optimizer.load_state_dict(prefixed(state, f"{i}.optimizer.", device))
        if "episode" in state:
            self.last_episode = state["episode"].to(device)
        self.episodes_done = update  # the episodes' streams count the updates

    def snapshot(self) -> Snapshot:
        p = self._p_play().detach()[self.unsort]  # [2B, 5], match order
        snap = Snapshot.of(self.game, p[: self.n], p[self.n :], self.gamma)
        if self.last_episode is None:
            nan = torch.full_like(snap.reward_a, float("nan"))
            snap.sampled_reward_a, snap.sampled_reward_b = nan, nan.clone()
        else:
            episode = self.last_episode[self.unsort]
            snap.sampled_reward_a, snap.sampled_reward_b = episode[: self.n], episode[self.n :]
        return snap
