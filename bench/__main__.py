"""The benchmark: the engine and a sweep against a plain one-match loop, as ratios from one run.

    .venv/bin/python -m bench [--quick] [--device cuda] [--out results/bench]

Rows (IPD self-play, float32, match-updates per second):
- ``loop``: :mod:`bench.loop`, one match at a time with autograd (the forum thread's way), for
  LOLA k = 0 (the naive learner), 1 and 3: the reference of every ratio;
- ``engine``: ``play_matches`` on B matches, tabular (closed-form engine) and ``mlp:32``
  (autograd engine), initialisation included (the whole call) and excluded (minus a call with
  0 updates); ``engine (cpu, fused)``: the same tabular rows on the closed-form engine's fused
  path (:mod:`tournament.fused`, ``LOLA_ARENA_COMPILE=always``), compiled in the warm-up call;
  below the table, the seconds its compile adds to a fresh process, cold (empty cache) and
  warm (from the on-disk cache);
- ``sweep``: ``lola-arena sweep bench/grand_37.yaml`` (grand.yaml as issue 7 measured it) end
  to end in a fresh process
  (Python and Ray start, planning, Parquet), effective match-updates per second;
- with ``--device cuda``: the engine on the GPU at B = 16,384, 262,144 and 1,048,576, and the
  Coin Game's rows on the GPU at B = 65,536 episodes (no CUDA device: one line, exit code 2);
- ``startup`` (``--startup``: these rows only): ``lola-arena sweep sweeps/configs/quick.yaml``
  and a bare ``ray.init()`` + ``ray.shutdown()``, each end to end in a fresh process,
  alternated 3 times (once with ``--quick``): median seconds and their ratio (target <= 1.5);
- ``sampled``: LOLA-DiCE (k = 1, 64 episodes of 150 steps) and POLA-DiCE (K = 2, M = 10)
  self-play on the sampled engine, one match against a batch, in episode-steps per second (both
  learners' rollouts: 2 per update, 30 per update);
- ``proximal``: POLA (exact, tabular, 100 outer steps per update) self-play on the closed-form
  engine, match-updates per second, ratio to one match's;
- ``solver``: the rules with a linear solve or nested derivatives, CGD, LSS and HOLA of orders
  2 and 3, self-play at grand.yaml's task size (B = 3,500 tabular, closed-form engine) and
  B = 128 ``mlp:32`` (autograd engine), match-updates per second, ratio to the LOLA k = 1 loop;
- ``coin``: the Coin Game's environment, play and NL-PG training in agent-steps per second and
  the peak memory (:mod:`bench.coin`, in a fresh process; ``--coin``: these rows only);
- ``online``: each online learner (``q``, ``jal-q``, ``phc``, ``wolf-phc``) in self-play on
  the online engine, B = 16,384 matches, episodes of T = 200 steps, float64, in agent-steps
  per second (2 B T per episode, the whole call: initialisation and records included); ratio =
  rate / 1,000,000, the issue's target on 2 cores (``--online-only``: these rows alone).

Writes ``bench.json`` and ``bench.md`` (the README's table) to ``--out``. Timings are noisy on a
shared machine; compare ratios from one run, with nothing else busy. The ``loop`` and ``engine``
rates are medians of repeated timings (the loop: 5 matches of 30 updates; the engine: 3 calls),
and an ``engine`` row's ratio pairs each of its 3 calls with a timing of the loop just before
it (the median of the 3 paired ratios): a shared machine's speed drifts between rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import yaml

from agents.kinds import ONLINE
from agents.spec import AgentSpec
from bench.coin import NO_CUDA
from bench.loop import play_one_match
from tournament.games import GAMES
from tournament.match import play_matches

ROOT = Path(__file__).resolve().parents[1]
RULES = {0: AgentSpec("nl"), 1: AgentSpec("lola", lookahead=1), 3: AgentSpec("lola", lookahead=3)}


REPEATS = 5  # timings per rate: the median (the machine's noise is mostly single slow runs)


def loop_once(k: int, updates: int, seed: int = 1) -> float:
    """One timing of the one-match loop, in updates per second."""
    started = time.perf_counter()
    play_one_match(seed, k, updates)
    return updates / (time.perf_counter() - started)


def loop_rate(k: int, updates: int) -> float:
    """The one-match loop's updates per second: the median of :data:`REPEATS` timings."""
    play_one_match(0, k, 2)  # warm-up
    return statistics.median(loop_once(k, updates, seed) for seed in range(1, REPEATS + 1))


@contextlib.contextmanager
def compile_mode(mode: str):
    """``LOLA_ARENA_COMPILE`` set to ``mode`` (:mod:`tournament.fused`) inside the block."""
    before = os.environ.get("LOLA_ARENA_COMPILE")
    os.environ["LOLA_ARENA_COMPILE"] = mode
    try:
        yield
    finally:
        if before is None:
            del os.environ["LOLA_ARENA_COMPILE"]
        else:
            os.environ["LOLA_ARENA_COMPILE"] = before


COMPILE_COST = """
from agents.spec import AgentSpec
from tournament.games import GAMES
from tournament.match import play_matches
for k in (0, 1, 3):
    spec = AgentSpec("nl") if k == 0 else AgentSpec("lola", lookahead=k)
    play_matches(GAMES["ipd"], [spec] * 64, [spec] * 64, list(range(64)), 2, dtype="float32")
"""


def compile_costs() -> dict[str, float]:
    """Seconds the fused path adds to a fresh process that plays NL, LOLA k = 1 and k = 3
    (float32): ``cold`` with an empty compile cache, ``warm`` with the cache it left (another
    process, a Ray worker), both against the same process run eager."""

    def seconds(mode: str, cache: str) -> float:
        env = {**os.environ, "LOLA_ARENA_COMPILE": mode, "TORCHINDUCTOR_CACHE_DIR": cache}
        started = time.perf_counter()
        command = [sys.executable, "-c", COMPILE_COST]
        subprocess.run(command, check=True, cwd=ROOT, env=env, capture_output=True)
        return time.perf_counter() - started

    with tempfile.TemporaryDirectory() as cache:
        eager = seconds("never", cache)
        cold = seconds("always", cache) - eager
        warm = seconds("always", cache) - eager
    return {"cold": cold, "warm": warm}


def engine_rates(
    spec: AgentSpec, batch: int, updates: int, device: str, loop: tuple[int, int] | None = None
) -> tuple[float, float, float]:
    """Match-updates per second with and without initialisation (medians of three timings of a
    call with ``updates`` and one with none), and, with ``loop = (k, updates)``, the ratio to
    the one-match loop of that k timed just before each of the three calls (the median of the
    three paired ratios: a shared machine's speed drifts between rows, not within a pair);
    NaN without ``loop``."""

    def timed(n_updates: int) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        play_matches(
            GAMES["ipd"],
            [spec] * batch,
            [spec] * batch,
            list(range(batch)),
            n_updates,
            record_every=max(n_updates, 1),
            dtype="float32",
            device=device,
        )
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    timed(2)  # warm-up
    runs = []
    for _ in range(3):
        loop_per_s = loop_once(*loop) if loop else float("nan")
        runs.append((timed(0), timed(updates), loop_per_s))
    init_s = statistics.median(init for init, _, _ in runs)
    total_s = statistics.median(total for _, total, _ in runs)
    work = batch * updates
    ratio = statistics.median(work / total / loop_per_s for _, total, loop_per_s in runs)
    return work / total_s, work / max(total_s - init_s, 1e-9), ratio


SAMPLED = AgentSpec("lola-dice", lr=0.2, lr_in=0.3, lookahead=1, episodes=64, steps=150)
# POLA as in sweeps/configs/pola_paper.yaml (one update: 100 outer steps), and POLA-DiCE with
# the authors' IPD K and betas but M = 10 outer steps (one update: 10 x 3 rollouts a learner).
POLA = AgentSpec("pola", lr=1.0, lr_in=5.0, beta_in=0.0, beta_out=0.5, inner_steps=1,
                 outer_steps=100)  # fmt: skip
POLA_DICE = AgentSpec("pola-dice", lr=0.2, lr_in=0.3, beta_in=10.0, beta_out=100.0, inner_steps=2,
                      outer_steps=10, episodes=64, steps=150)  # fmt: skip


def rollouts_per_update(spec: AgentSpec) -> int:
    """A sampled learner's rollouts per update: k + 1 (LOLA-DiCE), M (K + 1) (POLA-DiCE)."""
    if spec.kind == "pola-dice":
        return spec.outer_steps * (spec.inner_steps + 1)
    return spec.lookahead + 1


def sampled_rate(batch: int, updates: int, spec: AgentSpec = SAMPLED) -> float:
    """Episode-steps per second of the learning rollouts: B x updates x 2 learners x rollouts
    per update x E x T, over the whole call."""
    play_matches(GAMES["ipd"], [spec] * batch, [spec] * batch, list(range(batch)), 1)
    started = time.perf_counter()
    play_matches(GAMES["ipd"], [spec] * batch, [spec] * batch, list(range(batch)), updates)
    steps = batch * updates * 2 * rollouts_per_update(spec) * spec.episodes * spec.steps
    return steps / (time.perf_counter() - started)


ONLINE_TARGET = 1_000_000  # agent-steps per second on 2 cores


def online_rate(kind: str, batch: int, episodes: int, steps: int = 200) -> float:
    """Agent-steps per second of ``kind`` in self-play: 2 B T per episode, the whole call."""
    spec = AgentSpec(kind, steps=steps)
    play_matches(GAMES["ipd"], [spec] * 8, [spec] * 8, list(range(8)), 1)  # warm-up
    started = time.perf_counter()
    play_matches(GAMES["ipd"], [spec] * batch, [spec] * batch, list(range(batch)), episodes)
    return 2 * batch * steps * episodes / (time.perf_counter() - started)


# The costliest rules: an iterative solve (CGD, LSS) or derivatives of derivatives (HOLA).
SOLVERS = (
    AgentSpec("cgd"),
    AgentSpec("lss"),
    AgentSpec("hola", order=2),
    AgentSpec("hola", order=3),
)


def solver_rows(loop_k1: float, quick: bool) -> list[dict]:
    rows = []
    for spec in SOLVERS:
        for policy, batch in (("tabular", 3500), ("mlp:32", 128)):
            if policy != "tabular" and spec.kind == "lss":
                continue  # as CGD's costs, twice over
            spec = replace(spec, policy=policy)
            rate, rate_no_init, _ = engine_rates(spec, batch, 2 if quick else 5, "cpu")
            ratio = rate / loop_k1
            rows.append(
                row("solver (cpu)", spec.label(), 1, policy, batch, rate, rate_no_init, ratio)
            )
    return rows


def online_rows(quick: bool) -> list[dict]:
    batch = 2048 if quick else 16384
    rows = []
    for kind in ONLINE:
        rate = online_rate(kind, batch, episodes=1 if quick else 2)
        label = AgentSpec(kind, steps=200).label()
        rows.append(
            row("online (cpu)", label, 0, "tabular", batch, rate, rate, rate / ONLINE_TARGET)
        )
        print(f"online {kind:<10} B={batch:<8} {rate:>12,.0f} agent-steps/s", file=sys.stderr)
    return rows


def sweep_rate(config: Path) -> tuple[float, float, int]:
    """``lola-arena sweep`` end to end in a fresh process: (match-updates/s, wall s, matches)."""
    sweep = yaml.safe_load(config.read_text())
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "cli", "sweep", str(config), "--out", out],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        wall = time.perf_counter() - started
        import pyarrow.dataset as ds

        matches = ds.dataset(Path(out) / "matches", partitioning="hive").count_rows()
    return matches * sweep["updates"] / wall, wall, matches


BARE_RAY = "import ray; ray.init(); ray.shutdown()"
STARTUP_SWEEP = ROOT / "sweeps/configs/quick.yaml"
STARTUP_TARGET = 1.5  # the sweep's seconds over bare Ray's, at most (issue 21)


SETTLE_S = 3.0  # a run's Ray processes end within this after it returns (sweeps.reaper)


def wall_s(command: list[str]) -> float:
    """Seconds ``command`` takes, from the start of a fresh process to its end; then a pause
    so that what it leaves ending does not slow the next run down."""
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    wall = time.perf_counter() - started
    time.sleep(SETTLE_S)
    return wall


def startup_rows(repeats: int) -> list[dict]:
    """``lola-arena sweep sweeps/configs/quick.yaml`` end to end against a bare ``ray.init()``
    + ``ray.shutdown()``, each in a fresh process, alternated ``repeats`` times: the median
    seconds of each and the ratio of the medians (target <= ``STARTUP_TARGET``)."""
    bare, sweep = [], []
    for _ in range(repeats):
        bare.append(wall_s([sys.executable, "-c", BARE_RAY]))
        with tempfile.TemporaryDirectory() as out:
            sweep.append(wall_s([sys.executable, "-m", "cli", "sweep", str(STARTUP_SWEEP),
                                 "--out", out]))  # fmt: skip
    bare_s, sweep_s = statistics.median(bare), statistics.median(sweep)
    print(f"startup: bare Ray {bare_s:.2f} s, quick.yaml {sweep_s:.2f} s", file=sys.stderr)
    return [
        dict(what="bare ray.init() + ray.shutdown()", seconds=bare_s, ratio=1.0),
        dict(what=f"sweep {STARTUP_SWEEP.name}", seconds=sweep_s, ratio=sweep_s / bare_s),
    ]


def startup_markdown(rows: list[dict]) -> str:
    lines = [
        f"Start-up: seconds end to end in a fresh process (median of alternated runs); ratio = "
        f"seconds / bare Ray's (target <= {STARTUP_TARGET}).",
        "",
        "| what | seconds | x bare Ray |",
        "|---|---|---|",
    ]
    lines += [f"| {r['what']} | {r['seconds']:.2f} | {r['ratio']:.2f}x |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller B and fewer updates")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--out", default="results/bench", help="folder for bench.json, bench.md")
    parser.add_argument("--sweep", help="sweep file (default: bench/grand_37.yaml; --quick: quick)")
    parser.add_argument("--coin", action="store_true", help="only the Coin Game's rows")
    parser.add_argument("--online-only", action="store_true", help="only the online rows")
    parser.add_argument("--startup", action="store_true", help="only the start-up rows")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.exit(2, f"{parser.prog}: error: {NO_CUDA}\n")
    repeats = 1 if args.quick else 3
    if args.startup:
        write(Path(args.out), [], [], _machine(), startup_rows(repeats))
        return
    if args.coin:
        write(Path(args.out), [], coin_rows(args.device, args.quick), _machine())
        return
    if args.online_only:
        write(Path(args.out), online_rows(args.quick), [], _machine())
        return

    updates = 20 if args.quick else 100
    batches = (1, 128, 2048) if args.quick else (1, 128, 16384)
    rows = []
    loop_updates = 10 if args.quick else 30
    loop = {k: loop_rate(k, loop_updates) for k in RULES}
    for k, rate in loop.items():
        rows.append(row("loop", RULES[k].label(), k, "tabular", 1, rate, rate, 1.0))
    cases = [(k, "tabular", b, "cpu") for k in RULES for b in batches]
    cases += [(k, "mlp:32", b, "cpu") for k in (0, 1) for b in batches[:2] + (1024,)]
    if args.device == "cuda":
        cases += [(k, "tabular", b, "cuda") for k in RULES for b in (16384, 262144, 1048576)]
    cases += [(k, "fused", b, "cpu") for k in RULES for b in batches[1:]]
    for k, policy, batch, device in cases:
        fused = policy == "fused"
        policy = "tabular" if fused else policy
        spec = AgentSpec(RULES[k].kind, lookahead=max(k, 1), policy=policy)
        n = updates if policy == "tabular" or batch <= 128 else max(updates // 10, 5)
        with compile_mode("always" if fused else "never"):
            rate, rate_no_init, ratio = engine_rates(spec, batch, n, device, (k, loop_updates))
        what = f"engine ({device}, fused)" if fused else f"engine ({device})"
        rows.append(row(what, spec.label(), k, policy, batch, rate, rate_no_init, ratio))
        print(
            f"{rows[-1]['what']:<14} {spec.label():<36} B={batch:<8} {rate:>12,.0f}/s",
            file=sys.stderr,
        )
    default = "sweeps/configs/quick.yaml" if args.quick else "bench/grand_37.yaml"
    sweep = Path(args.sweep or ROOT / default)
    rate, wall, matches = sweep_rate(sweep)
    rule = f"{sweep.stem}.yaml ({matches} matches, {wall:.1f} s)"
    rows.append(row("sweep", rule, 1, "tabular", matches, rate, rate, rate / loop[1]))

    for spec, n in ((SAMPLED, 5 if args.quick else 20), (POLA_DICE, 1 if args.quick else 2)):
        sampled = {b: sampled_rate(b, n, spec) for b in (1, 16)}
        for batch, rate in sampled.items():
            ratio = rate / sampled[1]
            rows.append(row("sampled (cpu)", spec.label(), 1, "tabular", batch, rate, rate, ratio))
    pola = {}
    for batch in (1, 128, 2048) if args.quick else (1, 128, 16384):
        pola[batch] = engine_rates(POLA, batch, 2 if args.quick else 5, "cpu")[:2]
        rate, rate_no_init = pola[batch]
        ratio = rate / pola[1][0]
        rows.append(
            row("proximal (cpu)", POLA.label(), 1, "tabular", batch, rate, rate_no_init, ratio)
        )

    rows += solver_rows(loop[1], args.quick)
    rows += online_rows(args.quick)
    coin = coin_rows(args.device, args.quick)
    compile_s = {} if args.quick else compile_costs()
    write(Path(args.out), rows, coin, _machine(), startup_rows(repeats), compile_s)


def _machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, Python {platform.python_version()}"
    )


def coin_rows(device: str, quick: bool) -> list[dict]:
    """:mod:`bench.coin`'s rows, from a fresh process (its peak memory is its own)."""
    command = [sys.executable, "-m", "bench.coin", "--device", device]
    done = subprocess.run(
        command + (["--quick"] if quick else []), check=True, cwd=ROOT, capture_output=True
    )
    return json.loads(done.stdout)


def write(
    out: Path,
    rows: list[dict],
    coin: list[dict],
    machine: str,
    startup: list[dict] = (),
    compile_s: dict | None = None,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    compile_s = compile_s or {}
    report = {
        "machine": machine,
        "rows": rows,
        "coin": coin,
        "startup": list(startup),
        "compile_s": compile_s,
    }
    (out / "bench.json").write_text(json.dumps(report, indent=1))
    table = (markdown(rows, machine) + "\n" if rows else "") + (coin_markdown(coin) if coin else "")
    table += ("\n" if table and startup else "") + (startup_markdown(startup) if startup else "")
    if compile_s:
        table += (
            f"\nFused path's compile (NL, LOLA k = 1 and 3, float32, in a fresh process): "
            f"{compile_s['cold']:.0f} s with an empty cache, {compile_s['warm']:.0f} s from the "
            f"on-disk cache.\n"
        )
    (out / "bench.md").write_text(table)
    print(table)


@dataclass(frozen=True)
class Row:
    """One row of the benchmark table (bench.json, README)."""

    what: str
    rule: str
    k: int
    policy: str
    batch: int
    rate: float
    rate_no_init: float
    ratio: float


def row(*values) -> dict:
    """A :class:`Row` of ``values``, as the mapping bench.json and the table read."""
    return asdict(Row(*values))


def coin_markdown(rows: list[dict]) -> str:
    lines = [
        "The Coin Game (3x3), agent-steps per second, float32, one torch thread on the CPU; "
        "peak: the process's peak memory after the row.",
        "",
        "| what | setting | agent-steps/s | peak MiB |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['what']} | {r['setting']} | {r['rate']:,.0f} | {r['peak_mib']:,.0f} |")
    return "\n".join(lines) + "\n"


def markdown(rows: list[dict], machine: str) -> str:
    lines = [
        f"Match-updates per second, IPD self-play, float32; ratio = rate / the one-match loop of "
        f"the same k (engine rows: the median of 3 calls' ratios, each to the loop timed just "
        f"before it; loop rows: the median of 5 timings) ({machine}). Sampled rows: "
        f"episode-steps per second, float64, ratio = rate / one match's. Proximal rows: POLA "
        f"match-updates (of 100 outer steps) per second, "
        f"float32, ratio = rate / one match's. Solver rows: ratio = rate / the k = 1 loop. "
        f"Online rows: agent-steps per second, float64, T = 200, ratio = rate / 1,000,000.",
        "",
        "| what | rule | policy | B | rate (init incl.) | rate (init excl.) | x loop |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['what']} | {r['rule']} | {r['policy']} | {r['batch']:,} | {r['rate']:,.0f} | "
            f"{r['rate_no_init']:,.0f} | {r['ratio']:,.{2 if r['ratio'] < 10 else 0}f}x |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
