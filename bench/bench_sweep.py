"""Sweep throughput (matches/s) for several task sizes, on embedded Ray; not run in CI.

    .venv/bin/python bench/bench_sweep.py [--updates 100] [--seeds 8] [--task-sizes 8 32 128]

One Ray instance serves all runs; each run writes to a fresh temporary directory. Reported:
wall time of the whole run (planning, Ray tasks, Parquet writes) and matches per second.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import ray

from sweeps.config import parse_sweep
from sweeps.runner import run_sweep

AGENTS = [
    {"kind": "lola", "lr": [0.5, 1.0]},
    {"kind": "lola-taylor"},
    {"kind": "nl", "lr": [0.5, 1.0]},
    {"kind": "tft"},
    {"kind": "alld"},
    {"kind": "allc"},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--task-sizes", type=int, nargs="+", default=[8, 32, 128])
    args = parser.parse_args()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING")
    _run(args, args.task_sizes[-1], seeds=1)  # warm-up: workers start and import torch
    print(f"{'task_size':>9} {'matches':>8} {'wall_s':>8} {'matches/s':>10}")
    for task_size in args.task_sizes:
        summary = _run(args, task_size, args.seeds)
        rate = summary.planned / summary.wall_s
        print(f"{task_size:>9} {summary.planned:>8} {summary.wall_s:>8.2f} {rate:>10.1f}")
    ray.shutdown()


def _run(args, task_size: int, seeds: int):
    config = parse_sweep(
        {
            "name": "bench",
            "updates": args.updates,
            "seeds": seeds,
            "task_size": task_size,
            "agents": AGENTS,
        }
    )
    with tempfile.TemporaryDirectory() as out:
        return run_sweep(config, Path(out))


if __name__ == "__main__":
    main()
