"""Engine throughput: batched matches versus one match at a time.

    .venv/bin/python bench/bench_engine.py [--updates 50] [--device cpu] [--json]

For each rule (tabular policy, IPD, self-play) it times one batched ``play_matches`` call of B
matches and B separate calls of one match, and prints match-updates per second for both.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from agents.spec import AgentSpec
from tournament.games import GAMES
from tournament.match import play_matches

CASES = {
    "nl": AgentSpec("nl"),
    "lola-taylor": AgentSpec("lola-taylor"),
    "lola k=1": AgentSpec("lola", lookahead=1),
    "lola k=3": AgentSpec("lola", lookahead=3),
    "sos": AgentSpec("sos"),
    "lola k=1 mlp:32": AgentSpec("lola", policy="mlp:32"),
}


def timed(spec, seeds, updates, device):
    started = time.perf_counter()
    play_matches(
        GAMES["ipd"], [spec] * len(seeds), [spec] * len(seeds), seeds, updates, device=device
    )
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16, 128])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for name, spec in CASES.items():
        timed(spec, [0], 2, args.device)  # warm-up
        loop_s = sum(timed(spec, [s], args.updates, args.device) for s in range(8)) / 8
        for batch in args.batch:
            batched_s = timed(spec, list(range(batch)), args.updates, args.device)
            rows.append(
                {
                    "rule": name,
                    "batch": batch,
                    "batched_match_updates_per_s": batch * args.updates / batched_s,
                    "loop_match_updates_per_s": args.updates / loop_s,
                }
            )
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"{'rule':<18}{'B':>6}{'batched upd/s':>16}{'loop upd/s':>14}{'speed-up':>10}")
    for r in rows:
        speedup = r["batched_match_updates_per_s"] / r["loop_match_updates_per_s"]
        print(
            f"{r['rule']:<18}{r['batch']:>6}{r['batched_match_updates_per_s']:>16.0f}"
            f"{r['loop_match_updates_per_s']:>14.0f}{speedup:>10.1f}"
        )


if __name__ == "__main__":
    main()
