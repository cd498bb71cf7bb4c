"""Sampled play and DiCE: derivatives of any order of a value that is only known from episodes.

A sampled learner sees the game only through rollouts: B matches x E episodes x T steps of
play between two memory-one policies (:func:`sample_rollouts`). Its objective is the DiCE
("Dice") objective of Foerster, Farquhar et al. (ICML 2018), for player i over one rollout:

    L_i = mean_e  sum_t  gamma^t r_i,t  box( sum_{t' <= t} log pi_1(a_t') + log pi_2(b_t') )
    box(x) = exp(x - sg(x))                                     (the magic box, = 1 in value)

``box`` evaluates to 1, so ``L_i`` is the sampled discounted return, and each derivative
w.r.t. either player's parameters, of any order, is an unbiased estimate of the same derivative
of the exact value ``V_i`` (up to the truncation after T steps). Both players' log-probabilities
stay differentiable w.r.t. their parameters, so an opponent's policy-gradient step taken on its
own ``L_2`` is a differentiable function of the learner's parameters: what LOLA needs.

Variance reduction (``baseline``):

- ``none``: the objective above;
- ``mean``: each step's discounted reward minus its mean over the *other* episodes of the
  rollout, ``x_t^e - mean_{e' != e} x_t^e'``. The official LOLA-DiCE code centres the rewards on
  the mean over all episodes (``rets - mean(rets, axis=batch)``), which is this times
  ``(E - 1) / E``; leaving the episode out keeps every derivative order unbiased (the other
  episodes are independent of this one's log-probabilities). Its first derivative is REINFORCE
  with the mean return-to-go of the other episodes as the baseline.

Opponent modelling (LOLA-OM): instead of reading the opponent's parameters, a learner can fit a
tabular model of its policy to the actions it took in E fresh episodes (:func:`fit_tabular`:
the most likely memory-one policy under a uniform prior, in closed form) and look ahead with it.

Random numbers: the uniforms of a rollout are counter-based (:mod:`agents.seeding`): draw
``2 (e T + t) + player`` of one stream per (update, rollout) under the side's seed, so a match's
episodes depend on its seed alone, never on the other matches of its batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from agents import seeding
from agents.functional import log_sigmoid
from agents.objective import Params
from agents.proximal import visited_kl

BASELINES = ("mean", "none")
# Rollout streams of agents.seeding: far above the parameter streams of the initialisation.
LEARNING_STREAM = 1 << 38
EVALUATION_STREAM = 1 << 37
MAX_ROLLOUTS = 1 << 10  # per update: the outer rollout, lookahead steps, the model's episodes
MODEL_ROLLOUT = MAX_ROLLOUTS - 1  # the episodes an opponent model is fitted to


def rollout_stream(update: int, rollout: int) -> int:
    """The random stream of rollout ``rollout`` (of at most :data:`MAX_ROLLOUTS`) of update
    ``update``: every rollout of every update its own."""
    if not 0 <= rollout < MAX_ROLLOUTS:
        raise ValueError(f"rollout: must be in [0, {MAX_ROLLOUTS}), got {rollout}")
    return LEARNING_STREAM + update * MAX_ROLLOUTS + rollout


def magic_box(x: torch.Tensor) -> torch.Tensor:
    """DiCE's operator: 1 in value, ``d box(x) = box(x) dx`` under differentiation."""
    return torch.exp(x - x.detach())


@dataclass
class Rollouts:
    """E episodes of T steps of B matches, seen from one seat ("self") against "opp".

    states_*: [B, E, T] the egocentric state each player acted in (0 = start, then 1..4 = CC,
    CD, DC, DD, own action first); coop_*: [B, E, T] True where the player cooperated;
    choice_*: [B, E, T] the (state, action) pair as one index, ``state`` for C and ``5 + state``
    for D (what :func:`log_probs` reads); reward_*: [B, E, T] each player's reward.
    """

    states_self: torch.Tensor
    states_opp: torch.Tensor
    coop_self: torch.Tensor
    coop_opp: torch.Tensor
    choice_self: torch.Tensor
    choice_opp: torch.Tensor
    reward_self: torch.Tensor
    reward_opp: torch.Tensor

    def discounted_reward_per_step(self, gamma: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``sum_t gamma^t r_t / sum_t gamma^t`` over the T steps, mean over episodes, of both
        players, [B] each: the estimate of the exact ``(1 - gamma) V`` (the same scale for any
        T; the official LOLA-DiCE code logs ``(1 - gamma) sum_t gamma^t r_t``, which is this
        times ``1 - gamma^T``, 0.998 at T = 150)."""
        discount = discounts(gamma, self.reward_self.shape[2])
        total = discount.sum(dim=2)[:, 0]
        return tuple(
            (r * discount).sum(dim=2).mean(dim=1) / total
            for r in (self.reward_self, self.reward_opp)
        )


def discounts(gamma: torch.Tensor, steps: int) -> torch.Tensor:
    """``gamma^t`` for t = 0 .. steps - 1, [B, 1, T] (a product per step, not ``pow``: the
    same bits in every batch)."""
    powers = [torch.ones_like(gamma)]
    for _ in range(steps - 1):
        powers.append(powers[-1] * gamma)
    return torch.stack(powers, dim=1)[:, None, :]


def sample_rollouts(
    p_self: torch.Tensor,
    p_opp: torch.Tensor,
    r_self: torch.Tensor,
    r_opp: torch.Tensor,
    uniforms: np.ndarray,
) -> Rollouts:
    """Play E episodes of T steps of B matches (no gradients; a loop over the T steps on
    [2, B, E] arrays).

    p_self, p_opp: [B, 5] P(C | state), each in its player's own view; r_self, r_opp: [4] or
    [B, 4] both players' payoffs for the outcomes CC, CD, DC, DD in self's view; uniforms:
    [B, E, T, 2] in (0, 1), one per player and step (a player cooperates when its uniform is
    below its probability).
    """
    batch, episodes, steps, _ = uniforms.shape
    p = torch.stack([p_self, p_opp]).detach().to("cpu", torch.float64).numpy().reshape(-1)
    # Row of each player's and match's five probabilities in p, [2, B, 1].
    row = 5 * np.arange(2 * batch).reshape(2, batch, 1)
    u = np.ascontiguousarray(uniforms.transpose(2, 3, 0, 1))  # [T, 2, B, E]
    state = np.zeros((2, batch, episodes), dtype=np.int64)  # both players start
    states = np.empty((steps, 2, batch, episodes), dtype=np.int64)
    defect = np.empty((steps, 2, batch, episodes), dtype=np.int64)
    for t in range(steps):
        states[t] = state
        d = defect[t]
        np.greater_equal(u[t], p[row + state], out=d, casting="unsafe")
        # The outcome in each player's own view (own action first): CC, CD, DC, DD = 0..3.
        state = 1 + 2 * d + d[::-1]
    to_torch = {"device": r_self.device}
    states_t = torch.as_tensor(states.transpose(1, 2, 3, 0).copy(), **to_torch)  # [2, B, E, T]
    defect_t = torch.as_tensor(defect.transpose(1, 2, 3, 0).copy(), **to_torch)
    choice = states_t + 5 * defect_t
    outcome = 2 * defect_t[0] + defect_t[1]  # self's view
    rewards = [_payoff(r, outcome) for r in (r_self, r_opp)]
    coop = defect_t == 0
    return Rollouts(states_t[0], states_t[1], coop[0], coop[1], choice[0], choice[1], *rewards)


def _payoff(r: torch.Tensor, outcome: torch.Tensor) -> torch.Tensor:
    """r [4] or [B, 4] at outcome [B, E, T] -> [B, E, T]."""
    batch = outcome.shape[0]
    if r.dim() == 1:
        return r[outcome]
    return torch.gather(r, 1, outcome.reshape(batch, -1)).reshape(outcome.shape)


def log_probs(logits: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """log pi(action | state) [B, E, T] from cooperation logits [B, 5], differentiable: one
    gather from the ten log-probabilities (C in each state, then D in each state) at
    ``choice`` [B, E, T] (:class:`Rollouts`)."""
    batch = logits.shape[0]
    table = torch.cat([log_sigmoid(logits), log_sigmoid(-logits)], dim=1)  # [B, 10]
    return torch.gather(table, 1, choice.reshape(batch, -1)).reshape(choice.shape)


def weights(rewards: torch.Tensor, discount: torch.Tensor, baseline: str = "mean") -> torch.Tensor:
    """What DiCE weighs, [B, E, T], a constant: the discounted rewards ``gamma^t r_t`` or, with
    the ``mean`` baseline, those minus the mean of the other episodes at the same step.
    discount: [B, 1, T] (:func:`discounts`)."""
    x = rewards * discount
    if baseline not in BASELINES:
        raise ValueError(f"baseline: unknown {baseline!r}; accepted: {', '.join(BASELINES)}")
    episodes = x.shape[1]
    if baseline == "none" or episodes < 2:
        return x
    others = (x.sum(dim=1, keepdim=True) - x) / (episodes - 1)
    return x - others


def dice(box: torch.Tensor, weighted: torch.Tensor) -> torch.Tensor:
    """``mean_e sum_t weighted_t box_t`` [B]; box: the magic box of the cumulative log-probs."""
    return (box * weighted).sum(dim=2).mean(dim=1)


def dice_objective(
    log_p: torch.Tensor, rewards: torch.Tensor, gamma: torch.Tensor, baseline: str = "mean"
) -> torch.Tensor:
    """``mean_e sum_t gamma^t r_t box(sum_{t' <= t} log_p_t')`` [B] (with ``baseline``).

    log_p: [B, E, T] log-probability of both players' actions at each step (their sum);
    rewards: [B, E, T] one player's rewards; gamma: [B].
    """
    box = magic_box(torch.cumsum(log_p, dim=2))
    return dice(box, weights(rewards, discounts(gamma, rewards.shape[2]), baseline))


def rollout_uniforms(seeds: Sequence[int], episodes: int, steps: int, stream: int) -> np.ndarray:
    """[B, E, T, 2] uniforms of one rollout: draw ``2 (e T + t) + player`` of ``stream`` under
    each seed (:mod:`agents.seeding`)."""
    u = seeding.uniform(seeds, episodes * steps * 2, stream)
    return u.reshape(len(seeds), episodes, steps, 2)


Logits = Callable[[Params], torch.Tensor]  # parameters -> cooperation logits [B, 5]


def tabular_logits(theta: Params) -> torch.Tensor:
    """A tabular policy's cooperation logits: its parameters, [B, 5]."""
    return theta["logits"]


def fit_tabular(states: torch.Tensor, coop: torch.Tensor) -> torch.Tensor:
    """The cooperation logits [B, 5] of the memory-one policy that best explains a player's
    actions (states, coop: [B, E, T]) under a uniform prior on each P(C | state): the logit of
    ``(cooperations + 1) / (visits + 2)`` per state (a state never visited: 0, P = 1/2)."""
    batch = states.shape[0]
    index = states.reshape(batch, -1)
    counts = torch.zeros(batch, 5, dtype=torch.float64, device=states.device)
    visits = counts.scatter_add(1, index, torch.ones_like(index, dtype=torch.float64))
    cooperations = counts.scatter_add(1, index, coop.reshape(batch, -1).to(torch.float64))
    return torch.log(cooperations + 1) - torch.log(visits - cooperations + 1)


class DiceObjective:
    """Both players' DiCE objectives over fresh rollouts, from one player's seat: what the
    sampled rules (:mod:`agents.rules`) see instead of exact values.

    ``surrogates(theta, theta_opp, rollout, of)`` plays E episodes of T steps at these parameters
    (rollout ``j`` of this update: its own random stream) and returns ``(L_self, L_opp)`` [B],
    differentiable w.r.t. both parameter dicts (to any order).

    logits_self, logits_opp: the two policies as functions of their parameters; r_self, r_opp:
    [4] or [B, 4] payoffs in self's view; gamma: [B]; seeds: this seat's seed per match.
    """

    def __init__(
        self,
        logits_self: Logits,
        logits_opp: Logits,
        r_self: torch.Tensor,
        r_opp: torch.Tensor,
        gamma: torch.Tensor,
        seeds: Sequence[int],
        episodes: int,
        steps: int,
        baseline: str,
        update: int = 0,
    ):
        self.logits_self, self.logits_opp = logits_self, logits_opp
        self.r_self, self.r_opp, self.gamma = r_self, r_opp, gamma
        self.seeds, self.episodes, self.steps = list(seeds), episodes, steps
        self.baseline, self.update = baseline, update
        self.discount = discounts(gamma, steps)  # [B, 1, T]

    def uniforms(self, rollout: int) -> np.ndarray:
        """[B, E, T, 2] uniforms of rollout ``rollout`` of this update."""
        stream = rollout_stream(self.update, rollout)
        return rollout_uniforms(self.seeds, self.episodes, self.steps, stream)

    def rollouts(self, logits: torch.Tensor, logits_opp: torch.Tensor, rollout: int) -> Rollouts:
        p_self, p_opp = (torch.exp(log_sigmoid(x.detach())) for x in (logits, logits_opp))
        return sample_rollouts(p_self, p_opp, self.r_self, self.r_opp, self.uniforms(rollout))

    def model_opponent(self, theta: Params, theta_opp: Params) -> tuple[Params, DiceObjective]:
        """LOLA-OM: a tabular model of the opponent (``{"logits": [B, 5]}``) fitted to its
        actions in the E episodes of rollout :data:`MODEL_ROLLOUT`, played at these parameters,
        and this objective with that tabular model in the opponent's seat."""
        with torch.no_grad():
            logits, logits_opp = self.logits_self(theta), self.logits_opp(theta_opp)
            play = self.rollouts(logits, logits_opp, MODEL_ROLLOUT)
            model = fit_tabular(play.states_opp, play.coop_opp).to(logits.dtype)
        modelled = DiceObjective(
            self.logits_self,
            tabular_logits,
            self.r_self,
            self.r_opp,
            self.gamma,
            self.seeds,
            self.episodes,
            self.steps,
            self.baseline,
            self.update,
        )
        return {"logits": model}, modelled

    def logits(self, theta: Params, theta_opp: Params) -> tuple[torch.Tensor, torch.Tensor]:
        """Both players' cooperation logits [B, 5], differentiable in their parameters."""
        return self.logits_self(theta), self.logits_opp(theta_opp)

    def surrogates(
        self, theta: Params, theta_opp: Params, rollout: int, of: str = "both"
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(L_self, L_opp)`` [B] on rollout ``rollout``; ``of`` = ``self`` or ``opp`` leaves
        the other None (not computed)."""
        return self._surrogates(theta, theta_opp, rollout, of)[0]

    def old_policies(self, theta: Params, theta_opp: Params) -> tuple[torch.Tensor, torch.Tensor]:
        """Both players' policies at these parameters as constants, what :meth:`proximal`
        measures its KL from: their cooperation logits [B, 5], detached."""
        return tuple(x.detach() for x in self.logits(theta, theta_opp))

    def proximal(
        self, theta: Params, theta_opp: Params, rollout: int, of: str, logits_old: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """POLA-DiCE's two terms on rollout ``rollout`` for player ``of`` (``self`` or ``opp``):
        its DiCE objective ``L`` and ``D``, the KL from its old policy (cooperation logits
        ``logits_old`` [B, 5], a constant) to its current one, averaged over the states it
        acted in during those episodes (:func:`agents.proximal.visited_kl`). [B] each."""
        surrogates, play, logits = self._surrogates(theta, theta_opp, rollout, of)
        states = play.states_self if of == "self" else play.states_opp
        current = logits[0] if of == "self" else logits[1]
        surrogate = surrogates[0] if of == "self" else surrogates[1]
        return surrogate, visited_kl(logits_old, current, states)

    def _surrogates(self, theta: Params, theta_opp: Params, rollout: int, of: str):
        logits, logits_opp = self.logits(theta, theta_opp)
        play = self.rollouts(logits, logits_opp, rollout)
        log_p = log_probs(logits, play.choice_self) + log_probs(logits_opp, play.choice_opp)
        box = magic_box(torch.cumsum(log_p, dim=2))
        wanted = {"both": (True, True), "self": (True, False), "opp": (False, True)}[of]
        surrogates = tuple(
            dice(box, weights(r, self.discount, self.baseline)) if want else None
            for r, want in zip((play.reward_self, play.reward_opp), wanted, strict=True)
        )
        return surrogates, play, (logits, logits_opp)
