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

import ctypes
import ctypes.util
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


# glibc's mallopt parameters, and the most its adaptive thresholds reach on 64-bit Linux.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
ADAPTIVE_MMAP_MAX, ADAPTIVE_TRIM_MAX = 32 << 20, 64 << 20
KEEP = (1 << 31) - 1  # the largest threshold mallopt takes (a C int): 2 GiB


@contextmanager
def keep_freed_memory() -> Iterator[None]:
    """glibc's malloc told to keep freed memory for reuse during the block, then to give it
    back. glibc serves every block above 32 MiB with its own ``mmap`` and unmaps it when it is
    freed, so each such tensor is zero-filled by the kernel page by page when it is next
    allocated: in a Coin Game update (rollouts and activations of 10^5 to 10^6 steps, 50-100
    MiB each) that was about half of the CPU time, a third of it system time. Inside the block
    such blocks come from the heap and stay there after ``free`` (the process's resident
    memory stays at its peak until the block ends); after it, the thresholds are set to the
    most glibc's adaptive ones reach and the heap is trimmed. Nothing happens where the C
    library has no ``mallopt`` (not glibc)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if not hasattr(libc, "mallopt"):
        yield
        return
    libc.mallopt(M_MMAP_THRESHOLD, KEEP)
    libc.mallopt(M_TRIM_THRESHOLD, KEEP)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, ADAPTIVE_MMAP_MAX)
        libc.mallopt(M_TRIM_THRESHOLD, ADAPTIVE_TRIM_MAX)
        libc.malloc_trim(0)
