"""The proximal term of POLA: the KL divergence between a player's old and new policies.

A memory-one policy is a Bernoulli distribution over (C, D) in each of the five states, given by
its cooperation logit ``l``: ``pi(C | s) = p = sigmoid(l)``. In one state,

    KL(pi_old || pi) = p_old (log p_old - log p) + (1 - p_old) (log(1 - p_old) - log(1 - p))
    d KL / d l       = p - p_old                                  (zero at the old policy)

POLA (Zhao, Lu, Grosse & Foerster, NeurIPS 2022) penalises a step by ``D(pi_old, pi)``, the KL
averaged over states: over the five states for the exact value (:func:`mean_kl`), over the
states visited in a rollout for the sampled version (:func:`visited_kl`), as in the authors'
POLA-DiCE code (``kl_div_jax``: ``target * (log target - log curr)``, the old policy as
target, mean over the batch's states). The authors' exact code (``LOLA_exact.py``) sums over
the five states instead of averaging: its ``outer_beta`` is ours divided by 5.

A Coin Game policy is a categorical distribution over 4 moves given the observations; its KL
in one visited state is :func:`categorical_kl` of the two policies' log-probabilities there
(:meth:`tournament.coin_play.CoinDiceObjective.proximal` averages it over the steps played).
"""

from __future__ import annotations

import torch

from agents.functional import log_sigmoid


def policy_kl(logits_old: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``KL(pi_old(. | s) || pi(. | s))`` in every state, [B, 5], from cooperation logits
    [B, 5] (log-probabilities by :func:`agents.functional.log_sigmoid`: no overflow, and the
    same bits in any batch)."""
    log_c_old, log_d_old = log_sigmoid(logits_old), log_sigmoid(-logits_old)
    log_c, log_d = log_sigmoid(logits), log_sigmoid(-logits)
    return torch.exp(log_c_old) * (log_c_old - log_c) + torch.exp(log_d_old) * (log_d_old - log_d)


def mean_kl(logits_old: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``D = (1/5) sum_s KL(pi_old(. | s) || pi(. | s))``, [B]."""
    return policy_kl(logits_old, logits).contiguous().mean(dim=1)


def visited_kl(
    logits_old: torch.Tensor, logits: torch.Tensor, states: torch.Tensor
) -> torch.Tensor:
    """``D = mean_{e, t} KL(pi_old(. | s_et) || pi(. | s_et))`` over the states ``states``
    [B, E, T] in which the player acted, [B]."""
    batch = states.shape[0]
    kl = torch.gather(policy_kl(logits_old, logits), 1, states.reshape(batch, -1))
    return kl.mean(dim=1)


def categorical_kl(log_p_old: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """``KL(pi_old || pi) = sum_a pi_old(a) (log pi_old(a) - log pi(a))`` over the last
    dimension, from both distributions' log-probabilities [..., A]; [...]."""
    return (torch.exp(log_p_old) * (log_p_old - log_p)).sum(dim=-1)
