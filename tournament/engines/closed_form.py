"""The closed-form engine: tabular policies and fixed strategies in an iterated 2x2 game.

All 2B sides live in one [2B, 5] logit tensor and may mix kinds, lookahead depths, learning
rates, eta and gamma; each update runs every rule once over all sides of its kind, with the
exact value's gradients in closed form (:class:`tournament.values.TabularObjective`). Every
operation is elementwise per side, so a match's numbers do not depend on the other matches in
its batch. NL and LOLA groups large and long enough run fused (:mod:`tournament.fused`: compiled
kernels, the same bits).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from agents.functional import BatchedPolicy, finite_rows
from agents.optim import OPTIMIZERS
from agents.policies import TabularPolicy
from agents.rules import RULES
from agents.spec import AgentSpec
from agents.strategies import fixed_p_coop, model_logits
from tournament.differentiable import DifferentiableGame
from tournament.engines.base import (
    Engine,
    own_payoffs,
    prefixed,
    refuse_online,
    refuse_sampled,
    rule_params,
    rule_params_rows,
    side_seeds,
)
from tournament.fused import fused_rules, pays
from tournament.games import SWAP_VIEW, Game
from tournament.recorder import Snapshot
from tournament.values import TabularObjective, sigmoid

FUSED = fused_rules(RULES)


def on_closed_form(game: Game | DifferentiableGame, specs: Sequence[AgentSpec]) -> bool:
    """Whether matches of these agents can share the closed-form engine: every learner tabular
    and exact (not sampled, not online), in an iterated 2x2 game (any kinds, options and fixed
    strategies mix)."""
    return isinstance(game, Game) and all(
        s.policy == "tabular" and not s.sampled and not s.online for s in specs if s.learner
    )


class ClosedFormEngine(Engine):
    """All 2B sides of B matches as one [2B, 5] tensor of logits (own views), sorted so that the
    sides of each (optimiser, kind) are one contiguous slice: each rule runs on a view, without
    gathering. ``order[i]`` is the original side of sorted row i (a's sides are 0..B-1, b's
    B..2B-1)."""

    games = (Game,)

    @classmethod
    def refusal(cls, game, specs) -> str | None:
        refused = refuse_online(specs) or refuse_sampled(specs)
        if refused is None and not on_closed_form(game, specs):
            return "needs tabular policies in a 2x2 game; use autograd"
        return refused

    def __init__(self, game, specs_a, specs_b, seeds, gamma: torch.Tensor, kw: dict):
        n = len(seeds)
        device = kw["device"]
        payoffs = own_payoffs(game)
        self.game, self.gamma_match = game, gamma
        # Per distinct (spec, side) once, then gathered per side: a batch holds few distinct specs.
        distinct: dict[tuple[AgentSpec, int], int] = {}

        def codes_of(side_specs: Sequence[AgentSpec], side: int) -> list[int]:
            """Each spec's row in ``distinct``, by object first: hashing a spec is slow, and a
            batch of thousands of matches holds few spec objects."""
            by_object = dict(zip(map(id, side_specs), side_specs, strict=True))
            code = {i: distinct.setdefault((s, side), len(distinct)) for i, s in by_object.items()}
            return list(map(code.__getitem__, map(id, side_specs)))

        codes = torch.tensor(codes_of(specs_a, 0) + codes_of(specs_b, 1), device=device)  # [2B]
        table = list(distinct)
        specs = [s for s, _ in table]
        optimizers, kinds = list(OPTIMIZERS), list(RULES)

        def group(spec: AgentSpec) -> tuple[int, int]:
            if not spec.learner:
                return (len(optimizers), 0)  # fixed strategies last
            return (optimizers.index(spec.optimizer), kinds.index(spec.kind))

        spec_groups = [group(s) for s in specs]
        groups = sorted(set(spec_groups))  # the (optimiser, kind) groups, in row order
        rank = torch.tensor([groups.index(g) for g in spec_groups], device=device)[codes]
        self.n = n
        self.order = torch.sort(rank, stable=True).indices  # [2B]: each group's sides in order
        self.unsort = torch.empty_like(self.order)
        self.unsort[self.order] = torch.arange(2 * n, device=device)
        code = codes[self.order]  # [2B], sorted

        p_fixed = [
            (0.5,) * 5 if s.learner else fixed_p_coop(s.kind, payoffs[side], s.p)
            for s, side in table
        ]
        learner = torch.tensor([s.learner for s in specs], device=device)[code]
        self.fixed = ~learner
        self.p_fixed = torch.tensor(p_fixed, **kw)[code]
        model = torch.tensor([model_logits(p) for p in p_fixed], **kw)[code]
        seeds_a, seeds_b = side_seeds(seeds)
        seeds_ab = np.array(seeds_a + seeds_b, dtype=np.int64)  # [2B]
        scale = torch.tensor([s.init for s in specs], **kw)[code]
        sorted_seeds = seeds_ab[self.order.cpu().numpy()]
        init = BatchedPolicy(TabularPolicy).init(sorted_seeds, **kw, scale=scale)
        self.theta = torch.where(learner[:, None], init["logits"], model)  # [2B, 5]
        opp = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(device)
        self.opp = self.unsort[opp[self.order]]
        r_a, r_b = (torch.tensor(p, **kw) for p in payoffs)
        is_b = (self.order >= n)[:, None]
        r_self = torch.where(is_b, r_b, r_a)  # [2B, 4]
        r_opp = torch.where(is_b, r_a[list(SWAP_VIEW)], r_b[list(SWAP_VIEW)])
        gamma = torch.cat([gamma, gamma])[self.order]
        hp = rule_params_rows(rule_params(specs, kw), code)
        lr = torch.tensor([s.lr for s in specs], **kw)[code]

        sizes = torch.bincount(rank, minlength=len(groups)).tolist()  # sides per group
        self.rules, self.optimizers = [], []
        for (opt, kind), rows in runs(groups, sizes):
            if opt == len(optimizers):
                continue
            objective = TabularObjective(r_self[rows], r_opp[rows], gamma[rows])
            rule = kinds[kind]
            self.rules.append((rule, rows, self.opp[rows], objective, rule_params_rows(hp, rows)))
        for opt, rows in runs([opt for opt, _ in groups], sizes):
            if opt < len(optimizers):
                self.optimizers.append((rows, OPTIMIZERS[optimizers[opt]](lr[rows])))
        self.learners = slice(0, int(learner.sum()))
        self.will_play(0)

    def will_play(self, updates: int) -> None:
        """Each rule group runs fused (:mod:`tournament.fused`) where its sides x ``updates``
        pay for the compile, else eager: the same numbers either way."""
        self.run_rules = [
            (
                FUSED[kind] if pays(kind, (rows.stop - rows.start) * updates) else RULES[kind],
                rows,
                *rest,
            )
            for kind, rows, *rest in self.rules
        ]

    def step(self) -> torch.Tensor:
        """One simultaneous update; returns the per-match flag [B] that it stayed finite (a match
        that did not keeps its previous parameters)."""
        theta = self.theta
        direction = torch.cat(
            [
                rule({"logits": theta[rows]}, {"logits": theta[opp]}, objective, hp)["logits"]
                for rule, rows, opp, objective, hp in self.run_rules
            ]
            or [theta[:0]]
        ).detach()
        stepped = [
            optimizer.step({"logits": theta[rows]}, {"logits": direction[rows]})["logits"]
            for rows, optimizer in self.optimizers
        ]
        new = torch.cat([*stepped, theta[self.learners.stop :]])
        finite = finite_rows(new)  # [2B], sorted rows
        finite = finite & finite[self.opp]  # both sides of the row's match
        self.theta = torch.where(finite[:, None], new, theta)
        return finite[self.unsort[: self.n]]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The sorted logits [2B, 5] (``theta``) and each optimiser's state
        (``optimizer<i>.<name>``)."""
        state = {"theta": self.theta}
        for i, (_, optimizer) in enumerate(self.optimizers):
            state.update({f"optimizer{i}.{k}": t for k, t in optimizer.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor], update: int) -> None:
        self.theta = state["theta"].to(self.theta.device)
        for i, (_, optimizer) in enumerate(self.optimizers):
            optimizer.load_state_dict(prefixed(state, f"optimizer{i}.", self.theta.device))

    def snapshot(self) -> Snapshot:
        p = torch.where(self.fixed[:, None], self.p_fixed, sigmoid(self.theta))[self.unsort]
        return Snapshot.of(self.game, p[: self.n], p[self.n :], self.gamma_match)


def runs(keys: list, sizes: list[int] | None = None) -> list[tuple[object, slice]]:
    """Consecutive equal keys -> (key, slice of their rows); key i covers ``sizes[i]`` rows
    (default: one each)."""
    runs, start = [], 0
    for key, size in zip(keys, [1] * len(keys) if sizes is None else sizes, strict=True):
        if runs and runs[-1][0] == key:
            runs[-1] = (key, slice(runs[-1][1].start, start + size))
        else:
            runs.append((key, slice(start, start + size)))
        start += size
    return runs
