"""The sampled engine: B matches in which side a, side b or both learn from sampled episodes
(the ``sampled`` kinds of :mod:`agents.kinds`: ``nl-pg``, ``lola-dice``, ``lola-pg``).

It is the autograd engine (:class:`tournament.engines.autograd.AutogradEngine`) with one change:
a sampled learner's rule gets, each update, a fresh :class:`agents.dice.DiceObjective` instead
of the exact value. Everything else is as in the other engines:

- its opponent may be any learner or fixed strategy. A fixed strategy plays its exact
  probabilities in every episode; a sampled learner models it, as the exact learners do, as a
  tabular policy at the clamped logits of those probabilities (with ``opponent_model``, any
  opponent as the tabular policy fitted to its sampled actions). An exact learner facing a
  sampled one still computes its own update from the exact value (it plays the same policy);
- both seats' episodes are played by the sampled learner itself, each of its rollouts from its
  own stream: seat a's under the side seed ``2 s``, seat b's under ``2 s + 1``, stream (update,
  rollout) (:data:`agents.dice.LEARNING_STREAM`), so a match's episodes depend on its seed
  alone, never on the other matches of its task;
- the recorded reward is the exact value of the recorded policies (memory-one: it always
  exists); beside it, the sampled discounted reward per step of an evaluation rollout of those
  policies (E episodes of T steps of the sampled learner, seat a's if both are, under the match
  seed, :data:`agents.dice.EVALUATION_STREAM` + update).

Threads: a sampled update is thousands of small operations on [B, E, T] tensors (~10^4 to 10^5
numbers), where waking torch's intra-op thread pool costs more than it gains: on 2 cores,
LOLA-DiCE (B = 5, E = 64, T = 150) takes 23 ms per update on one thread and 210 ms on two.
:meth:`SampledEngine.threads` runs it on one intra-op thread and restores the setting
after; for more throughput, batch more matches (or run several processes, as a sweep does).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import torch

from agents.dice import (
    EVALUATION_STREAM,
    DiceObjective,
    rollout_uniforms,
    sample_rollouts,
)
from agents.kinds import SAMPLED
from tournament.engines.autograd import AutogradEngine
from tournament.engines.base import own_payoffs, refuse_online, side_seeds
from tournament.games import SWAP_VIEW, Game
from tournament.recorder import Snapshot


class SampledEngine(AutogradEngine):
    """Side a and side b of B matches, at least one of them a sampled learner. Probabilities in
    batch-invariant bits: one bit can flip a sampled action, and a match's episodes must not
    depend on its batch."""

    BATCH_INVARIANT = True

    games = (Game,)

    @classmethod
    def refusal(cls, game, specs) -> str | None:
        if not any(s.sampled for s in specs):
            return f"needs a sampled learner ({', '.join(SAMPLED)})"
        return refuse_online(specs)

    @classmethod
    def threads(cls) -> AbstractContextManager:
        return one_thread()

    def __init__(self, game, specs_a, specs_b, seeds, gamma: torch.Tensor, kw: dict):
        super().__init__(game, specs_a, specs_b, seeds, gamma, kw)
        payoffs_a, payoffs_b = (torch.tensor(p, **kw) for p in own_payoffs(game))
        swap = list(SWAP_VIEW)
        # Per seat: itself, its opponent, both payoffs in its own view, its seeds.
        seeds_a, seeds_b = side_seeds(seeds)
        self.seats = (
            (self.a, self.b, payoffs_a, payoffs_b[swap], seeds_a),
            (self.b, self.a, payoffs_b, payoffs_a[swap], seeds_b),
        )
        self.seeds = list(seeds)
        self.updates_done = 0
        evaluator = self.a.spec if self.a.spec.sampled else self.b.spec
        self.episodes, self.steps = evaluator.episodes, evaluator.steps

    def _objective(self, seat: int, exact):
        me, other, r_me, r_other, seeds = self.seats[seat]
        if not me.spec.sampled:
            return exact
        spec = me.spec
        return DiceObjective(
            me.policy.logits,
            other.policy.logits,
            r_me,
            r_other,
            self.gamma,
            seeds,
            spec.episodes,
            spec.steps,
            spec.baseline,
            update=self.updates_done,
        )

    def load_state_dict(self, state: dict[str, torch.Tensor], update: int) -> None:
        super().load_state_dict(state, update)
        self.updates_done = update  # the rollouts' streams count the updates

    def step(self) -> torch.Tensor:
        finite = self._step(
            self._objective(0, self.objective_a), self._objective(1, self.objective_b)
        )
        self.updates_done += 1
        return finite

    def snapshot(self) -> Snapshot:
        snap = super().snapshot()
        _, _, r_a, r_b, _ = self.seats[0]
        stream = EVALUATION_STREAM + self.updates_done
        uniforms = rollout_uniforms(self.seeds, self.episodes, self.steps, stream)
        play = sample_rollouts(snap.p_coop_a, snap.p_coop_b, r_a, r_b, uniforms)
        snap.sampled_reward_a, snap.sampled_reward_b = play.discounted_reward_per_step(self.gamma)
        return snap


@contextmanager
def one_thread() -> Iterator[None]:
    """torch's intra-op threads set to 1 for the block, then restored."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
