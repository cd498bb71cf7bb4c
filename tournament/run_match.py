"""One pairing for several seeds: play it batched, summarise the final rewards and policies."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np

from agents.spec import AgentSpec
from tournament.differentiable import DifferentiableGame
from tournament.games import CoinGame, Game
from tournament.match import DEVICES, DTYPES, play_matches


def run_match(
    spec_a: AgentSpec,
    spec_b: AgentSpec,
    game: Game | DifferentiableGame | CoinGame,
    seeds: Sequence[int],
    *,
    updates: int,
    gamma: float,
    dtype: str = "float64",
    device: str = "cpu",
    progress: bool = False,
) -> dict:
    """Play ``spec_a`` vs ``spec_b`` once per seed, batched; a JSON-ready summary.

    The summary holds the settings, each side's label, final per-step reward per seed and its
    mean, the final P(C | state) averaged over seeds, each match's status and the engine
    seconds; with a sampled learner, also each side's final sampled reward per step
    (``sampled_rewards`` per seed, ``sampled_reward`` their mean); in the Coin Game each side's
    own-coin share (``own_coin_shares`` per seed, ``own_coin_share`` their mean) and pickups per
    step instead of P(C | state). Bad input is a one-line
    ``ValueError`` (from :func:`play_matches` for the seeds, updates and gamma).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype: unknown {dtype!r}; accepted: {', '.join(DTYPES)}")
    if device not in DEVICES:
        raise ValueError(f"device: unknown {device!r}; accepted: {', '.join(DEVICES)}")
    seeds = list(seeds)
    results = play_matches(
        game,
        [spec_a] * len(seeds),
        [spec_b] * len(seeds),
        seeds,
        updates=updates,
        gamma=gamma,
        record_every=max(updates, 1),
        dtype=dtype,
        device=device,
        progress=progress,
    )

    def side(spec, rewards, p_coop, params, sampled, own_coin_share, pickups):
        final_rewards = rewards[:, -1].tolist()
        summary = {
            "agent": spec.label(),
            "reward": statistics.fmean(final_rewards),
            "rewards": final_rewards,
        }
        if own_coin_share is not None:  # the Coin Game: its measures instead of P(C | state)
            summary["own_coin_shares"] = own_coin_share[:, -1].tolist()
            summary["own_coin_share"] = float(np.nanmean(own_coin_share[:, -1]))
            summary["pickups_per_step"] = float(pickups[:, -1].mean())
            return summary
        summary["p_coop"] = p_coop[:, -1].mean(axis=0).tolist()
        if params is not None:  # a differentiable game: the final parameters of every seed
            summary["params"] = params[:, -1].tolist()
        if sampled is not None:  # a sampled learner: the sampled reward beside the exact one
            summary["sampled_rewards"] = sampled[:, -1].tolist()
            summary["sampled_reward"] = statistics.fmean(summary["sampled_rewards"])
        return summary

    return {
        "game": game.name,
        "gamma": gamma,
        "updates": updates,
        "seeds": seeds,
        "a": side(
            spec_a,
            results.reward_a,
            results.p_coop_a,
            results.params_a,
            results.sampled_reward_a,
            results.own_coin_share_a,
            results.pickups_a,
        ),
        "b": side(
            spec_b,
            results.reward_b,
            results.p_coop_b,
            results.params_b,
            results.sampled_reward_b,
            results.own_coin_share_b,
            results.pickups_b,
        ),
        "status": results.status,
        "elapsed_s": results.elapsed_s,
    }


def format_match(summary: dict) -> str:
    """:func:`run_match`'s summary as a table: per-seed and mean rewards, mean P(C | state)."""
    lines = [
        f"{summary['a']['agent']} vs {summary['b']['agent']} on {summary['game']} "
        f"(gamma {summary['gamma']}, {summary['updates']} updates, "
        f"{len(summary['seeds'])} seeds, {summary['elapsed_s']:.2f} s)",
        "seed  reward_a  reward_b  status",
    ]
    for i, seed in enumerate(summary["seeds"]):
        lines.append(
            f"{seed:>4}  {summary['a']['rewards'][i]:8.3f}  {summary['b']['rewards'][i]:8.3f}  "
            f"{summary['status'][i]}"
        )
    lines.append(f"mean  {summary['a']['reward']:8.3f}  {summary['b']['reward']:8.3f}")
    if "sampled_reward" in summary["a"]:
        lines.append(
            f"sampled {summary['a']['sampled_reward']:6.3f}  {summary['b']['sampled_reward']:8.3f}"
            "  (mean of the final sampled rewards per step; the rows above are exact)"
        )
    if "own_coin_share" in summary["a"]:
        lines.append(
            "(Coin Game: rewards are discounted per step over sampled evaluation episodes)"
        )
        lines.append("own-coin share, pickups per step (mean over seeds):")
        for key in ("a", "b"):
            s = summary[key]
            lines.append(
                f"  {key}: {s['own_coin_share']:.3f}  {s['pickups_per_step']:.3f}   {s['agent']}"
            )
        return "\n".join(lines)
    if "params" in summary["a"]:
        lines.append("final parameters (a | b), seed by seed; rewards are -loss:")
        for i, seed in enumerate(summary["seeds"]):
            a, b = (" ".join(f"{x:.3f}" for x in summary[k]["params"][i]) for k in "ab")
            lines.append(f"{seed:>4}  {a} | {b}")
        return "\n".join(lines)
    lines.append("P(C | start, CC, CD, DC, DD), mean over seeds:")
    for key in ("a", "b"):
        probs = "  ".join(f"{p:.2f}" for p in summary[key]["p_coop"])
        lines.append(f"  {key}: {probs}   {summary[key]['agent']}")
    return "\n".join(lines)
