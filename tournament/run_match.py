"""One pairing for several seeds, as the ``lola-arena match`` command runs it."""

from __future__ import annotations

import statistics

from agents.spec import parse_agent
from tournament.games import get_game
from tournament.match import DEVICES, play_matches


def _payoffs(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"payoffs: need comma-separated numbers, got {text!r}") from None


def run_match_from_args(args) -> dict:
    """Play ``args.agent_a`` vs ``args.agent_b`` for seeds 0..N-1; a JSON-ready summary."""
    if args.seeds < 1:
        raise ValueError(f"seeds: must be >= 1, got {args.seeds}")
    if args.updates < 0:
        raise ValueError(f"updates: must be >= 0, got {args.updates}")
    if args.device not in DEVICES:
        raise ValueError(f"device: unknown {args.device!r}; accepted: {', '.join(DEVICES)}")
    game = get_game(args.game, _payoffs(args.payoffs))
    options = dict(
        lr=args.lr,
        lr_in=args.lr_in,
        lookahead=args.lookahead,
        eta=args.eta,
        policy=args.policy,
        optimizer=args.optimizer,
    )
    spec_a, spec_b = parse_agent(args.agent_a, **options), parse_agent(args.agent_b, **options)
    seeds = list(range(args.seeds))
    results = play_matches(
        game,
        [spec_a] * len(seeds),
        [spec_b] * len(seeds),
        seeds,
        updates=args.updates,
        gamma=args.gamma,
        record_every=max(args.updates, 1),
        dtype=args.dtype,
        device=args.device,
        progress=True,
    )

    def side(spec, rewards, p_coop):
        final_rewards = rewards[:, -1].tolist()
        return {
            "agent": spec.label(),
            "reward": statistics.fmean(final_rewards),
            "rewards": final_rewards,
            "p_coop": p_coop[:, -1].mean(axis=0).tolist(),
        }

    return {
        "game": game.name,
        "gamma": args.gamma,
        "updates": args.updates,
        "seeds": seeds,
        "a": side(spec_a, results.reward_a, results.p_coop_a),
        "b": side(spec_b, results.reward_b, results.p_coop_b),
        "status": results.status,
        "elapsed_s": results.elapsed_s,
    }


def match_summary(summary: dict) -> str:
    """A human-readable table of the summary: per-seed and mean rewards, mean P(C | state)."""
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
    lines.append("P(C | start, CC, CD, DC, DD), mean over seeds:")
    for key in ("a", "b"):
        probs = "  ".join(f"{p:.2f}" for p in summary[key]["p_coop"])
        lines.append(f"  {key}: {probs}   {summary[key]['agent']}")
    return "\n".join(lines)
