"""The match loop: B matches played as one batched computation.

Each update every side computes its rule's direction (:mod:`agents.rules`) from the same current
parameters (simultaneous play), then steps. Two engines play the same rules:

- ``closed_form`` (tabular policies and fixed strategies): all 2B sides live in one [2B, 5] logit
  tensor and may mix kinds, lookahead depths, learning rates, eta and gamma; each update runs
  every rule once over all sides of its kind, with the exact value's gradients in closed form
  (:class:`tournament.values.TabularObjective`). Every operation is elementwise per side, so a
  match's numbers do not depend on the other matches in its batch.
- ``autograd`` (any ``nn.Module`` policy): side a's matches share one structure, and so do side
  b's; gradients come from autograd through ``functional_call`` (the reference for the other).
- ``sampled`` (:mod:`tournament.sampled`): the autograd engine where a side learns from sampled
  episodes (``nl-pg``, ``lola-dice``); it also records a sampled return beside the exact one.

``engine="auto"`` uses the sampled engine when a learner is sampled, else the closed form when
no learner has a module policy.

Seeds: match seed ``s`` initialises side a from ``2 s`` and side b from ``2 s + 1``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from tqdm import tqdm

from agents import seeding
from agents.functional import AutogradObjective, BatchedPolicy, Params, is_finite, per_match
from agents.kinds import SAMPLED
from agents.optim import OPTIMIZERS
from agents.options import BY_NAME, flag
from agents.policies import TabularPolicy, policy_factory
from agents.rules import RULES, RuleParams
from agents.spec import AgentSpec
from agents.strategies import fixed_p_coop, model_logits
from tournament.differentiable import DifferentiableGame
from tournament.games import SWAP_VIEW, Game
from tournament.values import TabularObjective, discounted_values, reward_per_step, sigmoid

# Bumped whenever stored results would change: 2 = closed-form engine, counter-based init.
ENGINE_VERSION = 2
DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICES = ("cpu", "cuda")
ENGINES = ("auto", "closed_form", "autograd", "sampled")


@dataclass
class MatchResults:
    """Learning curves of B matches, recorded at ``updates`` (0 = before learning).

    reward_a/reward_b: [B, R] per-step rewards (a differentiable game: the values, -loss);
    p_coop_a/p_coop_b: [B, R, 5] P(C | state) in each side's own view (NaN in a differentiable
    game); params_a/params_b: [B, R, dims] a differentiable game's parameters (else None);
    diverged_at: [B] first update with non-finite parameters or values (-1 where none; the
    match's later records are NaN); sampled_reward_a/sampled_reward_b: [B, R] the sampled
    discounted reward per step of the recorded policies (the sampled engine only, else None).
    """

    updates: np.ndarray
    reward_a: np.ndarray
    reward_b: np.ndarray
    p_coop_a: np.ndarray
    p_coop_b: np.ndarray
    diverged_at: np.ndarray
    elapsed_s: float
    params_a: np.ndarray | None = None
    params_b: np.ndarray | None = None
    sampled_reward_a: np.ndarray | None = None
    sampled_reward_b: np.ndarray | None = None
    state: BatchState | None = None

    @property
    def status(self) -> list[str]:
        return ["diverged" if d >= 0 else "ok" for d in self.diverged_at]


def join_results(pieces: Sequence[MatchResults]) -> MatchResults:
    """The results of play in pieces (each resumed from the previous one's state) as one:
    the curves one after the other, the last divergence marks and state, the summed time."""
    recorded = [p for p in pieces if len(p.updates)] or [pieces[0]]
    last = pieces[-1]

    def curve(name: str):
        arrays = [getattr(p, name) for p in recorded]
        return None if arrays[0] is None else np.concatenate(arrays, axis=1)

    joined = {f.name: curve(f.name) for f in fields(MatchResults) if f.name in CURVE_FIELDS}
    return MatchResults(
        updates=np.concatenate([p.updates for p in recorded]),
        diverged_at=last.diverged_at,
        elapsed_s=sum(p.elapsed_s for p in pieces),
        state=last.state,
        **joined,
    )


@dataclass
class BatchState:
    """Where B matches stand after ``update`` updates: all that the next update reads. The
    counter-based seeding (:mod:`agents.seeding`) makes that the sides' parameters, their
    optimisers' state and the count, so play resumed from a state gives, bit for bit, what
    uninterrupted play gives. ``tensors``: the engine's own names (its ``state_dict``);
    ``diverged_at``: [B] as in :class:`MatchResults`."""

    update: int
    tensors: dict[str, torch.Tensor]
    diverged_at: torch.Tensor


# The fields of MatchResults that are curves [B, R, ...].
CURVE_FIELDS = (
    "reward_a",
    "reward_b",
    "p_coop_a",
    "p_coop_b",
    "params_a",
    "params_b",
    "sampled_reward_a",
    "sampled_reward_b",
)


def own_payoffs(game: Game) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Each side's payoffs for CC, CD, DC, DD in its own view (own action first)."""
    return game.payoffs_row, tuple(game.payoffs_col[i] for i in SWAP_VIEW)


# The per-match hyperparameters of the rules: the fields of RuleParams that are agent options.
HP_FIELDS = tuple(f.name for f in fields(RuleParams) if f.name in BY_NAME)


def _rule_params(specs: Sequence[AgentSpec], kw: dict) -> RuleParams:
    """[B] tensors of every option a rule reads (integer options as integers)."""

    def column(name: str) -> torch.Tensor:
        values = [getattr(s, name) for s in specs]
        if BY_NAME[name].type in (int, flag):  # integers or bools
            return torch.tensor(values, device=kw["device"])
        return torch.tensor(values, **kw)

    return RuleParams(**{name: column(name) for name in HP_FIELDS})


def _rows(hp: RuleParams, rows) -> RuleParams:
    return RuleParams(**{name: getattr(hp, name)[rows] for name in HP_FIELDS})


class ClosedFormSides:
    """All 2B sides of B matches as one [2B, 5] tensor of logits (own views), sorted so that the
    sides of each (optimiser, kind) are one contiguous slice: each rule runs on a view, without
    gathering. ``order[i]`` is the original side of sorted row i (a's sides are 0..B-1, b's
    B..2B-1)."""

    def __init__(self, game, specs_a, specs_b, seeds, gamma: torch.Tensor, kw: dict):
        n = len(seeds)
        device = kw["device"]
        payoffs = own_payoffs(game)
        self.game, self.gamma_match = game, gamma
        # Per distinct (spec, side) once, then gathered per side: a batch holds few distinct specs.
        distinct: dict[tuple[AgentSpec, int], int] = {}
        codes = [distinct.setdefault((s, 0), len(distinct)) for s in specs_a]
        codes += [distinct.setdefault((s, 1), len(distinct)) for s in specs_b]
        table = list(distinct)
        specs = [s for s, _ in table]
        optimizers, kinds = list(OPTIMIZERS), list(RULES)

        def group(spec: AgentSpec) -> tuple[int, int]:
            if not spec.learner:
                return (len(optimizers), 0)  # fixed strategies last
            return (optimizers.index(spec.optimizer), kinds.index(spec.kind))

        groups = [group(s) for s in specs]
        order = sorted(range(2 * n), key=lambda i: groups[codes[i]])
        self.n = n
        self.order = torch.tensor(order, device=device)
        self.unsort = torch.empty_like(self.order)
        self.unsort[self.order] = torch.arange(2 * n, device=device)
        code = torch.tensor(codes, device=device)[self.order]  # [2B], sorted

        p_fixed = [
            (0.5,) * 5 if s.learner else fixed_p_coop(s.kind, payoffs[side], s.p)
            for s, side in table
        ]
        learner = torch.tensor([s.learner for s in specs], device=device)[code]
        self.fixed = ~learner
        self.p_fixed = torch.tensor(p_fixed, **kw)[code]
        model = torch.tensor([model_logits(p) for p in p_fixed], **kw)[code]
        side_seeds = torch.tensor([2 * s for s in seeds] + [2 * s + 1 for s in seeds])
        init = BatchedPolicy(TabularPolicy).init(side_seeds[self.order.cpu()].tolist(), **kw)
        self.theta = torch.where(learner[:, None], init["logits"], model)  # [2B, 5]
        opp = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(device)
        self.opp = self.unsort[opp[self.order]]
        r_a, r_b = (torch.tensor(p, **kw) for p in payoffs)
        is_b = (self.order >= n)[:, None]
        r_self = torch.where(is_b, r_b, r_a)  # [2B, 4]
        r_opp = torch.where(is_b, r_a[list(SWAP_VIEW)], r_b[list(SWAP_VIEW)])
        gamma = torch.cat([gamma, gamma])[self.order]
        hp = _rows(_rule_params(specs, kw), code)
        lr = torch.tensor([s.lr for s in specs], **kw)[code]

        side_groups = [groups[c] for c in code.tolist()]
        self.rules, self.optimizers = [], []
        for (opt, kind), rows in _runs(side_groups):
            if opt == len(optimizers):
                continue
            objective = TabularObjective(r_self[rows], r_opp[rows], gamma[rows])
            self.rules.append(
                (RULES[kinds[kind]], rows, self.opp[rows], objective, _rows(hp, rows))
            )
        for opt, rows in _runs([opt for opt, _ in side_groups]):
            if opt < len(optimizers):
                self.optimizers.append((rows, OPTIMIZERS[optimizers[opt]](lr[rows])))
        self.learners = slice(0, int(learner.sum()))

    def step(self) -> torch.Tensor:
        """One simultaneous update; returns the per-match flag [B] that it stayed finite (a match
        that did not keeps its previous parameters)."""
        theta = self.theta
        direction = torch.cat(
            [
                rule({"logits": theta[rows]}, {"logits": theta[opp]}, objective, hp)["logits"]
                for rule, rows, opp, objective, hp in self.rules
            ]
            or [theta[:0]]
        ).detach()
        stepped = [
            optimizer.step({"logits": theta[rows]}, {"logits": direction[rows]})["logits"]
            for rows, optimizer in self.optimizers
        ]
        new = torch.cat([*stepped, theta[self.learners.stop :]])
        finite = new.isfinite().all(dim=1)[self.unsort]  # original side order
        finite = finite[: self.n] & finite[self.n :]
        self.theta = torch.where(torch.cat([finite, finite])[self.order, None], new, theta)
        return finite

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {"theta": self.theta}
        for i, (_, optimizer) in enumerate(self.optimizers):
            state.update({f"optimizer{i}.{k}": t for k, t in optimizer.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor], update: int) -> None:
        self.theta = state["theta"].to(self.theta.device)
        for i, (_, optimizer) in enumerate(self.optimizers):
            optimizer.load_state_dict(_prefixed(state, f"optimizer{i}.", self.theta.device))

    def snapshot(self) -> Snapshot:
        p = torch.where(self.fixed[:, None], self.p_fixed, sigmoid(self.theta))[self.unsort]
        return Snapshot.of(self.game, p[: self.n], p[self.n :], self.gamma_match)


def _prefixed(state: dict[str, torch.Tensor], prefix: str, device) -> dict[str, torch.Tensor]:
    """The entries of ``state`` under ``prefix``, without it, on ``device``."""
    return {k[len(prefix) :]: t.to(device) for k, t in state.items() if k.startswith(prefix)}


def _runs(keys: list) -> list[tuple[object, slice]]:
    """Consecutive equal keys -> (key, slice of their rows)."""
    runs, start = [], 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            runs.append((keys[start], slice(start, i)))
            start = i
    return runs


class Side:
    """One side of B matches in the autograd engine: its policy, parameters and rule.

    A fixed strategy plays its exact probabilities; to a learner that models it as a naive
    learner it appears as a tabular policy at the clamped logits of those probabilities.
    """

    def __init__(
        self,
        specs,
        seeds,
        own_payoffs_,
        kw: dict,
        theta: Params | None = None,
        batch_invariant: bool = False,
    ):
        spec = specs[0]
        if any(s.structure() != spec.structure() for s in specs):
            raise ValueError(
                "specs: matches in one batch must share kind, policy, optimizer, p (and a "
                "sampled learner's episodes, steps, baseline)"
            )
        self.spec = spec
        if spec.learner:
            self.policy = BatchedPolicy(policy_factory(spec.policy), batch_invariant)
            self.theta = self.policy.init(seeds, **kw) if theta is None else theta
            self.fixed_p = None
            self.optimizer = OPTIMIZERS[spec.optimizer](torch.tensor([s.lr for s in specs], **kw))
            self.rule = RULES[spec.kind]
            self.hp = _rule_params(specs, kw)
        else:
            p = fixed_p_coop(spec.kind, own_payoffs_, spec.p)
            self.fixed_p = torch.tensor([p] * len(seeds), **kw)  # [B, 5]
            self.policy = BatchedPolicy(TabularPolicy, batch_invariant)
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

    def proposal(self, objective: AutogradObjective, other: Side) -> Params:
        if self.fixed_p is not None:
            return self.theta
        direction = self.rule(self.theta, other.theta, objective, self.hp)
        return {n: t.detach() for n, t in self.optimizer.step(self.theta, direction).items()}


class AutogradSides:
    """Side a and side b of B matches, any ``nn.Module`` policies (or the raw parameters of a
    differentiable game), autograd gradients. ``BATCH_INVARIANT``: the policies' probabilities
    in bits that do not depend on the batch (:class:`agents.functional.BatchedPolicy`)."""

    BATCH_INVARIANT = False

    def __init__(self, game, specs_a, specs_b, seeds, gamma: torch.Tensor, kw: dict):
        self.game, self.gamma = game, gamma
        side_seeds = ([2 * s for s in seeds], [2 * s + 1 for s in seeds])
        if isinstance(game, DifferentiableGame):
            start = [{"theta": game.init_std * _normal(s, game.dims, kw)} for s in side_seeds]
            self.a = Side(specs_a, side_seeds[0], None, kw, theta=start[0])
            self.b = Side(specs_b, side_seeds[1], None, kw, theta=start[1])

            def values_a(theta_a: Params, theta_b: Params):
                return game.values(theta_a["theta"], theta_b["theta"])
        else:
            payoffs_a, payoffs_b = own_payoffs(game)
            invariant = self.BATCH_INVARIANT
            self.a = Side(specs_a, side_seeds[0], payoffs_a, kw, batch_invariant=invariant)
            self.b = Side(specs_b, side_seeds[1], payoffs_b, kw, batch_invariant=invariant)

            def values_a(theta_a: Params, theta_b: Params):
                p_a, p_b = self.a.p_model(theta_a), self.b.p_model(theta_b)
                return discounted_values(game, p_a, p_b, gamma)

        def values_b(theta_b: Params, theta_a: Params):
            v_a, v_b = values_a(theta_a, theta_b)
            return v_b, v_a

        self.objective_a = AutogradObjective(values_a)
        self.objective_b = AutogradObjective(values_b)

    def step(self) -> torch.Tensor:
        return self._step(self.objective_a, self.objective_b)

    def _step(self, objective_a, objective_b) -> torch.Tensor:
        """Both sides' proposals from the same parameters; a match that went non-finite keeps
        its previous parameters. Returns the per-match flag [B] that it stayed finite."""
        new_a = self.a.proposal(objective_a, self.b)
        new_b = self.b.proposal(objective_b, self.a)
        finite = is_finite(new_a) & is_finite(new_b)
        for side, new in ((self.a, new_a), (self.b, new_b)):
            side.theta = {
                n: torch.where(per_match(finite, t), t, side.theta[n]) for n, t in new.items()
            }
        return finite

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {}
        for name, side in (("a", self.a), ("b", self.b)):
            if side.fixed_p is None:
                state.update({f"{name}.theta.{n}": t for n, t in side.theta.items()})
                optimizer = side.optimizer.state_dict()
                state.update({f"{name}.optimizer.{k}": t for k, t in optimizer.items()})
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor], update: int) -> None:
        for name, side in (("a", self.a), ("b", self.b)):
            if side.fixed_p is None:
                device = next(iter(side.theta.values())).device
                side.theta = _prefixed(state, f"{name}.theta.", device)
                side.optimizer.load_state_dict(_prefixed(state, f"{name}.optimizer.", device))

    def snapshot(self) -> Snapshot:
        if isinstance(self.game, DifferentiableGame):
            with torch.no_grad():
                v_a, v_b = self.objective_a.values(self.a.theta, self.b.theta)
            nan = torch.full((len(v_a), 5), float("nan"), dtype=v_a.dtype, device=v_a.device)
            return Snapshot(v_a, v_b, nan, nan, self.a.theta["theta"], self.b.theta["theta"])
        return Snapshot.of(self.game, self.a.p_play(), self.b.p_play(), self.gamma)


def _normal(seeds: Sequence[int], count: int, kw: dict) -> torch.Tensor:
    return torch.as_tensor(seeding.normal(seeds, count), **kw)


@dataclass
class Snapshot:
    """What is recorded: rewards per step [B] (values V = -L for a differentiable game),
    P(C | state) [B, 5] (NaN where it does not apply), a differentiable game's parameters and
    the sampled engine's sampled rewards per step [B]."""

    reward_a: torch.Tensor
    reward_b: torch.Tensor
    p_a: torch.Tensor
    p_b: torch.Tensor
    params_a: torch.Tensor | None = None
    params_b: torch.Tensor | None = None
    sampled_a: torch.Tensor | None = None
    sampled_b: torch.Tensor | None = None

    @classmethod
    def of(cls, game: Game, p_a, p_b, gamma) -> Snapshot:
        return cls(*reward_per_step(game, p_a, p_b, gamma), p_a, p_b)


def play_matches(
    game: Game | DifferentiableGame,
    specs_a: Sequence[AgentSpec],
    specs_b: Sequence[AgentSpec],
    seeds: Sequence[int],
    updates: int,
    gamma: float | Sequence[float] = 0.96,
    record_every: int = 1,
    dtype: str | torch.dtype = "float64",
    device: str = "cpu",
    progress: bool = False,
    engine: str = "auto",
    state: BatchState | None = None,
    deadline: float | None = None,
) -> MatchResults:
    """Play B = len(seeds) matches of a vs b for ``updates`` learning steps, batched.

    ``progress`` shows a progress bar over the updates on stderr (when it is a terminal);
    ``engine``: ``auto``, ``closed_form`` (tabular only) or ``autograd`` (see the module doc).
    Play in pieces: ``state`` (a result's :attr:`MatchResults.state`, same arguments
    otherwise) resumes where that play stopped; ``deadline`` (a ``time.monotonic()`` value)
    stops after the update during which it passes. The results hold the updates recorded by
    this call (update 0 only when starting), and ``state``, where the play stands.
    """
    if not (len(specs_a) == len(specs_b) == len(seeds)) or not seeds:
        raise ValueError("specs_a, specs_b and seeds: need the same non-zero length")
    if updates < 0:
        raise ValueError(f"updates: must be >= 0, got {updates}")
    if record_every < 1:
        raise ValueError(f"record_every: must be >= 1, got {record_every}")
    if engine not in ENGINES:
        raise ValueError(f"engine: unknown {engine!r}; accepted: {', '.join(ENGINES)}")
    if isinstance(game, DifferentiableGame):
        check_players(game, [*specs_a, *specs_b])
    tabular = on_closed_form(game, [*specs_a, *specs_b])
    sampled = any(s.sampled for s in (*specs_a, *specs_b))
    if sampled and engine not in ("auto", "sampled"):
        raise ValueError(f"engine: {engine} cannot play sampled learners; use auto or sampled")
    if engine == "sampled" and not sampled:
        raise ValueError(f"engine: sampled needs a sampled learner ({', '.join(SAMPLED)})")
    if engine == "closed_form" and not tabular:
        raise ValueError("engine: closed_form needs tabular policies in a 2x2 game; use autograd")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: cuda requested but this machine has no CUDA device")
    kw = dict(dtype=DTYPES[dtype] if isinstance(dtype, str) else dtype, device=torch.device(device))
    gamma_t = torch.as_tensor(gamma, **kw).expand(len(seeds)).clone()

    started = time.perf_counter()
    if sampled:
        from tournament.sampled import SampledSides, one_thread  # builds on this module

        engine_sides, threads = SampledSides, one_thread()
    elif engine == "closed_form" or (engine == "auto" and tabular):
        engine_sides, threads = ClosedFormSides, contextlib.nullcontext()
    else:
        engine_sides, threads = AutogradSides, contextlib.nullcontext()
    with threads:
        sides = engine_sides(game, specs_a, specs_b, seeds, gamma_t, kw)
        recorder = _Recorder(len(seeds), kw["device"])
        done = 0
        if state is None:
            recorder.record(0, sides.snapshot())
        else:
            done = state.update
            sides.load_state_dict(state.tensors, done)
            recorder.diverged_at = state.diverged_at.to(kw["device"])
        bar = tqdm(
            range(done + 1, updates + 1),
            unit="update",
            disable=None if progress else True,
            leave=False,
        )
        for update in bar:
            recorder.mark(~sides.step(), update)
            if update % record_every == 0 or update == updates:
                recorder.record(update, sides.snapshot())
            done = update
            if deadline is not None and time.monotonic() >= deadline:
                break
        bar.close()
    results = recorder.results(time.perf_counter() - started)
    results.state = BatchState(done, sides.state_dict(), recorder.diverged_at)
    return results


def on_closed_form(game: Game | DifferentiableGame, specs: Sequence[AgentSpec]) -> bool:
    """Whether matches of these agents can share the closed-form engine: every learner tabular
    and exact (not sampled), in an iterated 2x2 game (any kinds, options and fixed strategies
    mix)."""
    return isinstance(game, Game) and all(
        s.policy == "tabular" and not s.sampled for s in specs if s.learner
    )


def check_players(game: DifferentiableGame, specs: Sequence[AgentSpec]) -> None:
    """A differentiable game is played by learners, on their raw parameters."""
    for spec in specs:
        if not spec.learner:
            raise ValueError(
                f"kind: {spec.kind} is a fixed strategy; {game.name} is a differentiable game, "
                f"played by learners only"
            )
        if spec.sampled:
            raise ValueError(
                f"kind: {spec.kind} learns from sampled episodes of an iterated game; "
                f"{game.name} is a differentiable game"
            )
        if spec.policy != "tabular":
            raise ValueError(
                f"policy: {game.name} players hold raw parameters, not a policy ({spec.policy!r})"
            )


class _Recorder:
    """Collects curves; a match whose update went non-finite is marked diverged from then on."""

    def __init__(self, batch: int, device: torch.device):
        self.diverged_at = torch.full((batch,), -1, dtype=torch.long, device=device)
        self.rows = []

    def record(self, update: int, snap: Snapshot):
        self.mark(~(snap.reward_a.isfinite() & snap.reward_b.isfinite()), update)
        gone = self.diverged_at >= 0

        def hide(t):
            return None if t is None else torch.where(per_match(gone, t), torch.nan, t)

        self.rows.append(
            (
                update,
                *(hide(t) for t in (snap.reward_a, snap.reward_b, snap.p_a, snap.p_b)),
                hide(snap.params_a),
                hide(snap.params_b),
                hide(snap.sampled_a),
                hide(snap.sampled_b),
            )
        )

    def mark(self, diverged: torch.Tensor, update: int):
        """Record ``update`` as the divergence point of newly diverged matches."""
        first = diverged & (self.diverged_at < 0)
        self.diverged_at = torch.where(first, update, self.diverged_at)

    def results(self, elapsed_s: float) -> MatchResults:
        if not self.rows:  # a piece of play that ended between two recorded updates
            batch = len(self.diverged_at)
            return MatchResults(
                updates=np.zeros(0, dtype=np.int64),
                reward_a=np.zeros((batch, 0)),
                reward_b=np.zeros((batch, 0)),
                p_coop_a=np.zeros((batch, 0, 5)),
                p_coop_b=np.zeros((batch, 0, 5)),
                diverged_at=self.diverged_at.cpu().numpy(),
                elapsed_s=elapsed_s,
            )

        def stack(i, dim=1):
            return torch.stack([row[i] for row in self.rows], dim=dim).cpu().numpy()

        params, sampled = self.rows[0][5] is not None, self.rows[0][7] is not None
        return MatchResults(
            updates=np.array([row[0] for row in self.rows]),
            reward_a=stack(1),
            reward_b=stack(2),
            p_coop_a=stack(3),
            p_coop_b=stack(4),
            diverged_at=self.diverged_at.cpu().numpy(),
            elapsed_s=elapsed_s,
            params_a=stack(5) if params else None,
            params_b=stack(6) if params else None,
            sampled_reward_a=stack(7) if sampled else None,
            sampled_reward_b=stack(8) if sampled else None,
        )
