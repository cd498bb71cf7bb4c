"""Coin Game play: rollouts of B matches x E episodes x T steps, and the DiCE objectives the
sampled learners (``nl-pg``, ``lola-dice``) take from them.

The API another learner builds on (POLA, LOLA-PG):

- :func:`play` plays E episodes of T steps of B matches between two seats (a policy at given
  parameters, :class:`PolicySeat`, or a fixed strategy, :class:`FixedSeat`), without
  gradients, and records positions, not observations (:class:`CoinRollouts`: a few bytes per
  step); the uniforms are counter-based per match (:func:`uniforms`);
- :func:`log_probs` recomputes one seat's log pi(a_t | o_t) [B, E, T] from the recorded
  positions, differentiable w.r.t. its parameters (observations built on demand, in chunks of
  steps for a reactive policy, step by step for a recurrent one);
- :class:`CoinDiceObjective` is the :class:`agents.rules.SampledObjective` of the Coin Game:
  ``surrogates(theta, theta_opp, rollout)`` plays fresh episodes and returns both players' DiCE
  objectives ``L_i = mean_e sum_t w_i,t box(sum_{t' <= t} log pi_1 + log pi_2)``
  (:mod:`agents.dice`: the same weights, baseline and magic box as the matrix games), and
  ``proximal`` one player's objective with POLA-DiCE's KL from its old policy over the steps
  played (:func:`action_log_probs`: both policies' log-probabilities of the 4 moves).

Random numbers (:mod:`agents.seeding`), per match seed and stream: the start of episode e takes
draws ``4 e .. 4 e + 3`` (agent 0's cell, agent 1's, the coin's, its colour); step t of episode
e takes draws ``4 E + 3 (t E + e) + j``: j = 0, 1 the two seats' action uniforms, j = 2 the new
coin's cell. A match's episodes depend on its seed alone, never on its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from agents import seeding
from agents.coin_policies import CoinPolicy, one_hot_planes
from agents.dice import dice, discounts, magic_box, rollout_stream, weights
from agents.functional import Params, detach
from agents.proximal import categorical_kl
from tournament import coin_game
from tournament.coin_strategies import BEHAVIOURS, view

START_DRAWS, STEP_DRAWS = 4, 3
CHUNK_STEPS = 32  # steps of uniforms drawn, and of observations built, at once


def uniforms(
    seeds: Sequence[int], episodes: int, stream: int, start: int, stop: int, kw: dict
) -> torch.Tensor:
    """Steps ``start .. stop - 1`` of every episode: [B, stop - start, E, 3] (see the module)."""
    offset = START_DRAWS * episodes + STEP_DRAWS * start * episodes
    count = STEP_DRAWS * (stop - start) * episodes
    u = seeding.uniform(seeds, count, stream, offset)
    return torch.as_tensor(u.reshape(len(seeds), stop - start, episodes, STEP_DRAWS), **kw)


def start_uniforms(seeds: Sequence[int], episodes: int, stream: int, kw: dict) -> torch.Tensor:
    """[B, E, 4] uniforms of the episodes' starts."""
    u = seeding.uniform(seeds, START_DRAWS * episodes, stream)
    return torch.as_tensor(u.reshape(len(seeds), episodes, START_DRAWS), **kw)


def sample_action(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The action of probabilities softmax(logits) [..., 4] drawn by u [...]: the number of
    cumulative weights below ``u`` times their total (elementwise: batch-invariant bits)."""
    w = torch.exp(logits - logits.max(dim=-1, keepdim=True).values)
    cumulative = torch.cumsum(w, dim=-1)
    return (u[..., None] * cumulative[..., -1:] >= cumulative[..., :-1]).sum(dim=-1)


class PolicySeat:
    """A policy at parameters theta [B, ...] (sampled actions; its recurrent state if any)."""

    def __init__(self, policy: CoinPolicy, theta: Params):
        self.policy, self.theta = policy, detach(theta)

    def start(self, batch: int, episodes: int, like: torch.Tensor):
        return self.policy.initial_hidden(batch, episodes, like) if self.policy.recurrent else None

    def act(self, state, last, side: int, memory, u: torch.Tensor, grid_size: int):
        batch, episodes = u.shape
        ones = coin_game.observed_ones(state, side, grid_size).reshape(batch, episodes, -1)
        with torch.no_grad():
            logits, memory = self.policy.logits_of_active(self.theta, ones, memory)
        return sample_action(logits, u).reshape(-1), memory


class FixedSeat:
    """A fixed Coin Game strategy (:mod:`tournament.coin_strategies`)."""

    def __init__(self, kind: str):
        self.behaviour = BEHAVIOURS[kind]

    def start(self, batch: int, episodes: int, like: torch.Tensor):
        return torch.zeros(batch * episodes, dtype=torch.long, device=like.device)

    def act(self, state, last, side: int, memory, u: torch.Tensor, grid_size: int):
        return self.behaviour(view(state, last, side), memory, u.reshape(-1), grid_size)


@dataclass
class CoinRollouts:
    """E episodes of T steps of B matches, [B, E, T, ...]: ``pos`` [.., 2] both agents' cells
    and ``coin``, ``owner`` the coin's cell and owner, all where the agents acted (int16/int8);
    ``actions`` [.., 2] (int8); ``rewards`` [.., 2]; ``picked``, ``picked_own`` [.., 2]
    (bool): agent i stepped onto the coin, of its own colour."""

    pos: torch.Tensor
    coin: torch.Tensor
    owner: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    picked: torch.Tensor
    picked_own: torch.Tensor
    grid_size: int

    def observations(self, side: int, start: int, stop: int, dtype) -> torch.Tensor:
        """Agent ``side``'s observations at steps start .. stop - 1, [B, E, t, 4, G, G]."""
        return one_hot_planes(self.observed_ones(side, start, stop), self.grid_size, dtype)

    def observed_ones(self, side: int, start: int, stop: int) -> torch.Tensor:
        """Where those observations have their ones (:func:`coin_game.observed_ones`),
        [B, E, t, 3]."""
        pos = self.pos[:, :, start:stop].long()
        return coin_game.ones_of_cells(
            pos[..., side],
            pos[..., 1 - side],
            self.coin[:, :, start:stop].long(),
            self.owner[:, :, start:stop].long() == side,
            self.grid_size,
        )

    def statistics(self, gamma: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per match [B], both agents (suffix ``_0``, ``_1``): ``reward`` the discounted reward
        per step ``sum_t gamma^t r_t / sum_t gamma^t`` (mean over episodes); ``pickups`` coins
        picked up per step; ``own_coin_share`` of the coins an agent picked up, the share of its
        own colour (NaN where it picked none)."""
        steps = self.rewards.shape[2]
        discount = discounts(gamma, steps)  # [B, 1, T]
        out = {}
        for i in range(2):
            r = (self.rewards[..., i] * discount).sum(dim=2).mean(dim=1)
            out[f"reward_{i}"] = r / discount.sum(dim=2)[:, 0]
            picked = self.picked[..., i].sum(dim=(1, 2)).to(gamma.dtype)
            own = self.picked_own[..., i].sum(dim=(1, 2)).to(gamma.dtype)
            out[f"pickups_{i}"] = picked / (steps * self.rewards.shape[1])
            out[f"own_coin_share_{i}"] = own / picked  # NaN for 0 / 0
        return out


def play(
    seats: tuple,
    seeds: Sequence[int],
    episodes: int,
    steps: int,
    grid_size: int,
    stream: int,
    kw: dict,
) -> CoinRollouts:
    """E episodes of T steps of B = len(seeds) matches between ``seats`` (agent 0's, agent 1's),
    no gradients."""
    batch, n = len(seeds), len(seeds) * episodes
    device = kw["device"]
    like = torch.zeros((), **kw)
    state = coin_game.reset(start_uniforms(seeds, episodes, stream, kw).reshape(n, 4), grid_size)
    memory = [seat.start(batch, episodes, like) for seat in seats]
    last = None

    def record(*shape, dtype):  # [T, N, *shape]
        return torch.empty(steps, n, *shape, dtype=dtype, device=device)

    pos, coin, owner = (
        record(2, dtype=torch.int16),
        record(dtype=torch.int16),
        record(dtype=torch.int8),
    )
    actions, rewards = record(2, dtype=torch.int8), record(2, dtype=kw["dtype"])
    picked, picked_own = record(2, dtype=torch.bool), record(2, dtype=torch.bool)
    for start in range(0, steps, CHUNK_STEPS):
        u_chunk = uniforms(seeds, episodes, stream, start, min(start + CHUNK_STEPS, steps), kw)
        for t, u in enumerate(u_chunk.unbind(dim=1), start):  # u: [B, E, 3]
            acted = []
            for side, seat in enumerate(seats):
                action, memory[side] = seat.act(
                    state, last, side, memory[side], u[..., side], grid_size
                )
                acted.append(action)
            acted = torch.stack(acted, dim=1)  # [N, 2]
            pos[t], coin[t], owner[t], actions[t] = state.pos, state.coin, state.owner, acted
            state, last = coin_game.step(state, acted, u[..., 2].reshape(n), grid_size)
            rewards[t], picked[t], picked_own[t] = last.rewards, last.picked, last.picked_own

    def per_match(x):  # [T, N, ...] -> [B, E, T, ...]
        return x.reshape(steps, batch, episodes, *x.shape[2:]).movedim(0, 2).contiguous()

    return CoinRollouts(
        *(per_match(x) for x in (pos, coin, owner, actions, rewards, picked, picked_own)),
        grid_size,
    )


def action_log_probs(
    policy: CoinPolicy, theta: Params, rollouts: CoinRollouts, side: int
) -> torch.Tensor:
    """log pi(. | o_1..t) of agent ``side`` over its 4 actions at every recorded step,
    [B, E, T, 4], differentiable w.r.t. ``theta``; observations rebuilt from the positions,
    CHUNK_STEPS steps at a time (a recurrent policy: step by step, from a zero hidden state)."""
    batch, episodes, steps = rollouts.coin.shape
    dtype = next(iter(theta.values())).dtype
    if policy.recurrent:
        hidden = policy.initial_hidden(batch, episodes, next(iter(theta.values())))
        logits = []
        for t in range(steps):
            obs = rollouts.observations(side, t, t + 1, dtype)[:, :, 0]
            step_logits, hidden = policy.logits(theta, obs, hidden)
            logits.append(step_logits)
        logits = torch.stack(logits, dim=2)  # [B, E, T, 4]
    else:
        chunks = []
        for start in range(0, steps, CHUNK_STEPS):
            obs = rollouts.observations(side, start, min(start + CHUNK_STEPS, steps), dtype)
            flat, _ = policy.logits(theta, obs.reshape(batch, -1, *obs.shape[3:]))
            chunks.append(flat.reshape(batch, episodes, -1, flat.shape[-1]))
        logits = torch.cat(chunks, dim=2)
    # log softmax written out (torch's log_softmax is slow over 4 classes)
    shifted = logits - logits.max(dim=-1, keepdim=True).values.detach()
    return shifted - torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))


def chosen(log_pi: torch.Tensor, rollouts: CoinRollouts, side: int) -> torch.Tensor:
    """log pi(a_t | o_1..t) [B, E, T] of agent ``side``'s recorded actions, from
    :func:`action_log_probs`."""
    actions = rollouts.actions[..., side].long()  # [B, E, T]
    return torch.gather(log_pi, -1, actions[..., None])[..., 0]


def log_probs(policy: CoinPolicy, theta: Params, rollouts: CoinRollouts, side: int) -> torch.Tensor:
    """log pi(a_t | o_1..t) of agent ``side``'s recorded actions, [B, E, T], differentiable
    w.r.t. ``theta``."""
    return chosen(action_log_probs(policy, theta, rollouts, side), rollouts, side)


class CoinDiceObjective:
    """Both players' DiCE objectives over fresh Coin Game rollouts, from one player's seat (it
    plays agent 0 of its own rollouts; the game is symmetric): an
    :class:`agents.rules.SampledObjective`.

    policy: this player's :class:`CoinPolicy`; opponent: the opponent's ``CoinPolicy`` or, for
    a fixed strategy, its kind (its log-probabilities do not depend on any parameter, so they
    are left out of the box: they would add zero to every derivative; so are a policy's at
    parameters that do not require grad, as NL-PG's opponent's); gamma: [B]; seeds: this
    seat's seed per match; ``update``: which update's streams the rollouts use.
    """

    def __init__(
        self,
        policy: CoinPolicy,
        opponent: CoinPolicy | str,
        grid_size: int,
        gamma: torch.Tensor,
        seeds: Sequence[int],
        episodes: int,
        steps: int,
        baseline: str,
        update: int = 0,
    ):
        self.policy, self.opponent, self.grid_size = policy, opponent, grid_size
        self.gamma, self.seeds = gamma, list(seeds)
        self.episodes, self.steps, self.baseline, self.update = episodes, steps, baseline, update
        self.discount = discounts(gamma, steps)  # [B, 1, T]
        self.kw = dict(dtype=gamma.dtype, device=gamma.device)

    def seats(self, theta: Params, theta_opp: Params) -> tuple:
        fixed = isinstance(self.opponent, str)
        opp = FixedSeat(self.opponent) if fixed else PolicySeat(self.opponent, theta_opp)
        return PolicySeat(self.policy, theta), opp

    def rollouts(self, theta: Params, theta_opp: Params, rollout: int) -> CoinRollouts:
        """E fresh episodes of rollout ``rollout`` of this update at these parameters."""
        return play(
            self.seats(theta, theta_opp),
            self.seeds,
            self.episodes,
            self.steps,
            self.grid_size,
            rollout_stream(self.update, rollout),
            self.kw,
        )

    def surrogates(
        self, theta: Params, theta_opp: Params, rollout: int, of: str = "both"
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(L_self, L_opp)`` [B] on rollout ``rollout``; ``of`` = ``self`` or ``opp`` leaves
        the other None."""
        played = self.rollouts(theta, theta_opp, rollout)
        return self._dice(played, *self._log_pis(theta, theta_opp, played), of)

    def old_policies(self, theta: Params, theta_opp: Params) -> tuple[Params, Params]:
        """Both players' policies at these parameters as constants, what :meth:`proximal`
        measures its KL from: the parameters themselves, detached (a Coin Game policy is a
        network, not a table)."""
        return detach(theta), detach(theta_opp)

    def proximal(
        self, theta: Params, theta_opp: Params, rollout: int, of: str, theta_old: Params
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """POLA-DiCE's two terms on rollout ``rollout`` for player ``of`` (``self`` or
        ``opp``): its DiCE objective ``L`` and ``D``, the KL from its policy at ``theta_old``
        (a constant) to its current one, averaged over the steps of those episodes (each step
        is a visited state: both agents act at every step),

            D = mean_{e, t} sum_a pi_old(a | o_e,1..t) (log pi_old(a | .) - log pi(a | .))

        (:func:`agents.proximal.categorical_kl`; a recurrent policy: both conditioned on the
        episode's observations so far). [B] each."""
        side = {"self": 0, "opp": 1}[of]
        policy = self.policy if side == 0 else self.opponent
        if isinstance(policy, str):
            raise ValueError(f"proximal: a fixed strategy ({policy}) has no policy to move")
        played = self.rollouts(theta, theta_opp, rollout)
        log_pis = self._log_pis(theta, theta_opp, played, keep=side)
        with torch.no_grad():
            log_pi_old = action_log_probs(policy, theta_old, played, side)
        kl = categorical_kl(log_pi_old, log_pis[side]).mean(dim=(1, 2))
        return self._dice(played, *log_pis, of)[side], kl

    def _log_pis(self, theta: Params, theta_opp: Params, played: CoinRollouts, keep=None):
        """Both seats' log pi(. | o) [B, E, T, 4]; None for a seat that cannot move the
        objectives: a fixed strategy, or parameters that do not require grad (constants: they
        add zero to the box's value and to every derivative), unless it is seat ``keep``."""
        seats = ((self.policy, theta), (self.opponent, theta_opp))
        return tuple(
            action_log_probs(policy, params, played, side)
            if not isinstance(policy, str)
            and (side == keep or any(t.requires_grad for t in params.values()))
            else None
            for side, (policy, params) in enumerate(seats)
        )

    def _dice(self, played: CoinRollouts, log_pi, log_pi_opp, of: str):
        """Both DiCE objectives (``of``: which) from the seats' log-probabilities, those left
        out (None) out of the box."""
        terms = [
            chosen(log_pi, played, side)
            for side, log_pi in enumerate((log_pi, log_pi_opp))
            if log_pi is not None
        ]
        box = magic_box(torch.cumsum(sum(terms[1:], terms[0]), dim=2)) if terms else 1.0
        wanted = {"both": (True, True), "self": (True, False), "opp": (False, True)}[of]
        return tuple(
            dice(box, weights(played.rewards[..., i], self.discount, self.baseline))
            if want
            else None
            for i, want in enumerate(wanted)
        )

    def model_opponent(self, theta: Params, theta_opp: Params):
        raise ValueError(
            "opponent_model: the Coin Game has no tabular opponent model; set it to false"
        )
