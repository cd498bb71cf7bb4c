"""The match loop: B matches of one pairing, played as one batched computation.

Each update both sides compute their rule's direction from the same current parameters
(simultaneous play) and then step. Matches in a batch share the agents' structure (kind,
policy, lookahead, optimiser) and may differ in seed, learning rates, eta and gamma.

Seeds: match seed ``s`` initialises side a from ``2 s`` and side b from ``2 s + 1``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from agents.functional import BatchedPolicy, Params, is_finite, per_match
from agents.optim import OPTIMIZERS
from agents.policies import TabularPolicy, policy_factory
from agents.rules import RULES, RuleParams
from agents.spec import AgentSpec
from agents.strategies import fixed_p_coop, model_logits
from tournament.games import SWAP_VIEW, Game, discounted_values, reward_per_step

DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICES = ("cpu", "cuda")


@dataclass
class MatchResults:
    """Learning curves of B matches, recorded at ``updates`` (0 = before learning).

    reward_a/reward_b: [B, R] per-step rewards; p_coop_a/p_coop_b: [B, R, 5] P(C | state) in
    each side's own view; diverged_at: [B] first update with non-finite parameters or values
    (-1 where none; the match's later records are NaN).
    """

    updates: np.ndarray
    reward_a: np.ndarray
    reward_b: np.ndarray
    p_coop_a: np.ndarray
    p_coop_b: np.ndarray
    diverged_at: np.ndarray
    elapsed_s: float

    @property
    def status(self) -> list[str]:
        return ["diverged" if d >= 0 else "ok" for d in self.diverged_at]


class Side:
    """One side of B matches: its actual policy, its parameters and how it learns.

    A fixed strategy plays its exact probabilities; to a learner that models it as a naive
    learner it appears as a tabular policy at the clamped logits of those probabilities.
    """

    def __init__(
        self,
        specs: Sequence[AgentSpec],
        seeds: Sequence[int],
        own_payoffs: Sequence[float],
        dtype: torch.dtype,
        device: torch.device,
    ):
        spec = specs[0]
        if any(s.structure() != spec.structure() for s in specs):
            raise ValueError("specs: matches in one batch must share kind, lookahead, policy, p")
        self.spec = spec
        kw = dict(dtype=dtype, device=device)
        if spec.learner:
            self.policy = BatchedPolicy(policy_factory(spec.policy))
            self.theta = self.policy.init(seeds, dtype, device)
            self.fixed_p = None
            lr = torch.tensor([s.lr for s in specs], **kw)
            self.optimizer = OPTIMIZERS[spec.optimizer](lr)
            self.rule = RULES[spec.kind]
            self.hp = RuleParams(
                lr_in=torch.tensor([s.inner_lr for s in specs], **kw),
                eta=torch.tensor([s.eta for s in specs], **kw),
                lookahead=spec.lookahead,
            )
        else:
            p = fixed_p_coop(spec.kind, own_payoffs, spec.p)
            self.fixed_p = torch.tensor([p] * len(seeds), **kw)  # [B, 5]
            self.policy = BatchedPolicy(TabularPolicy)
            self.theta = {"logits": torch.tensor([model_logits(p)] * len(seeds), **kw)}

    def p_model(self, theta: Params) -> torch.Tensor:
        """P(C | state) [B, 5] as a learner sees it (differentiable in ``theta``)."""
        return self.policy.p_coop(theta)

    def p_play(self) -> torch.Tensor:
        """P(C | state) [B, 5] actually played."""
        if self.fixed_p is not None:
            return self.fixed_p
        with torch.no_grad():
            return self.policy.p_coop(self.theta)


def play_matches(
    game: Game,
    specs_a: Sequence[AgentSpec],
    specs_b: Sequence[AgentSpec],
    seeds: Sequence[int],
    updates: int,
    gamma: float | Sequence[float] = 0.96,
    record_every: int = 1,
    dtype: str | torch.dtype = "float64",
    device: str = "cpu",
    progress: bool = False,
) -> MatchResults:
    """Play B = len(seeds) matches of a vs b for ``updates`` learning steps, batched.

    ``progress`` shows a progress bar over the updates on stderr (when it is a terminal).
    """
    if not (len(specs_a) == len(specs_b) == len(seeds)) or not seeds:
        raise ValueError("specs_a, specs_b and seeds: need the same non-zero length")
    if updates < 0:
        raise ValueError(f"updates: must be >= 0, got {updates}")
    if record_every < 1:
        raise ValueError(f"record_every: must be >= 1, got {record_every}")
    dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    device = torch.device(device)
    gamma_t = torch.as_tensor(gamma, dtype=dtype, device=device).expand(len(seeds)).clone()

    started = time.perf_counter()
    col_payoffs_own_view = [game.payoffs_col[i] for i in SWAP_VIEW]
    a = Side(specs_a, [2 * s for s in seeds], game.payoffs_row, dtype, device)
    b = Side(specs_b, [2 * s + 1 for s in seeds], col_payoffs_own_view, dtype, device)

    def objective_a(theta_a: Params, theta_b: Params):
        return discounted_values(game, a.p_model(theta_a), b.p_model(theta_b), gamma_t)

    def objective_b(theta_b: Params, theta_a: Params):
        v_a, v_b = discounted_values(game, a.p_model(theta_a), b.p_model(theta_b), gamma_t)
        return v_b, v_a

    recorder = _Recorder(len(seeds), device)
    recorder.record(0, game, a, b, gamma_t)
    bar = tqdm(
        range(1, updates + 1), unit="update", disable=None if progress else True, leave=False
    )
    for update in bar:
        new_a = _step(a, b, objective_a)
        new_b = _step(b, a, objective_b)
        recorder.freeze_diverged(update, a, b, new_a, new_b)
        if update % record_every == 0 or update == updates:
            recorder.record(update, game, a, b, gamma_t)
    return recorder.results(time.perf_counter() - started)


def _step(side: Side, other: Side, objective) -> Params:
    if side.fixed_p is not None:
        return side.theta
    direction = side.rule(side.theta, other.theta, objective, side.hp)
    return {n: t.detach() for n, t in side.optimizer.step(side.theta, direction).items()}


class _Recorder:
    """Collects curves; keeps a match whose update went non-finite at its last finite state."""

    def __init__(self, batch: int, device: torch.device):
        self.diverged_at = torch.full((batch,), -1, dtype=torch.long, device=device)
        self.rows = []

    def freeze_diverged(self, update: int, a: Side, b: Side, new_a: Params, new_b: Params):
        finite = is_finite(new_a) & is_finite(new_b)
        self._mark(~finite, update)
        for side, new in ((a, new_a), (b, new_b)):
            side.theta = {
                n: torch.where(per_match(finite, t), t, side.theta[n]) for n, t in new.items()
            }

    def record(self, update: int, game: Game, a: Side, b: Side, gamma: torch.Tensor):
        p_a, p_b = a.p_play(), b.p_play()
        r_a, r_b = reward_per_step(game, p_a, p_b, gamma)
        self._mark(~(r_a.isfinite() & r_b.isfinite()), update)
        gone = self.diverged_at >= 0
        nan = torch.tensor(float("nan"), dtype=p_a.dtype, device=p_a.device)
        self.rows.append(
            (
                update,
                torch.where(gone, nan, r_a),
                torch.where(gone, nan, r_b),
                torch.where(gone[:, None], nan, p_a),
                torch.where(gone[:, None], nan, p_b),
            )
        )

    def _mark(self, diverged: torch.Tensor, update: int):
        """Record ``update`` as the divergence point of newly diverged matches."""
        first = diverged & (self.diverged_at < 0)
        self.diverged_at = torch.where(first, update, self.diverged_at)

    def results(self, elapsed_s: float) -> MatchResults:
        def stack(i, dim=1):
            return torch.stack([row[i] for row in self.rows], dim=dim).cpu().numpy()

        return MatchResults(
            updates=np.array([row[0] for row in self.rows]),
            reward_a=stack(1),
            reward_b=stack(2),
            p_coop_a=stack(3),
            p_coop_b=stack(4),
            diverged_at=self.diverged_at.cpu().numpy(),
            elapsed_s=elapsed_s,
        )
