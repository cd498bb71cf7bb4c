"""The Coin Game's benchmark rows, in agent-steps per second (one step of one agent):

- ``env``: :func:`tournament.coin_game.step` alone on B parallel episodes, actions and uniforms
  drawn beforehand (the environment's own cost);
- ``play``: :func:`tournament.coin_play.play` of ``random`` against ``random``: the environment,
  the strategies, the counter-based uniforms and the recorded positions;
- ``train``: NL-PG ``mlp:32`` self-play updates of the Coin Game engine (both learners' rollouts
  of E episodes x T steps and their policy gradients, the evaluation rollout excluded):
  2 learners x E x T x 2 agents per match and update.

On a GPU (``--device cuda``), each row plays B = 65,536 episodes at once: the environment's
batch, the play's 64 matches of 1,024 episodes, the training's 64 matches of 1,024 episodes.

Each row also states the process's peak memory (CPU: the resident set's maximum; CUDA: the
allocator's peak). Run alone (``python -m bench.coin [--device cuda]``) it prints one JSON
object; ``python -m bench`` runs it in a fresh process so that the peaks are its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import time

import torch

from agents.spec import AgentSpec
from tournament import coin_game
from tournament.coin_play import FixedSeat, play
from tournament.engines.coin import CoinEngine
from tournament.games import CoinGame

NO_CUDA = "--device: cuda requested but this machine has no CUDA device; accepted: cpu"

GRID = 3
EPISODES_PER_MATCH = 1024
CUDA_EPISODES = 65_536  # episodes played at once on a GPU (the CPU's rows: 16,384)
TRAINER = AgentSpec("nl-pg", policy="mlp:32", optimizer="adam", lr=0.05, episodes=1024, steps=50)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def peak_mib(device: str) -> float:
    """The peak memory so far: CUDA's allocator, else the process's resident set (KiB on Linux)."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def env_rate(batch: int, steps: int, device: str) -> float:
    kw = dict(dtype=torch.float32, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    state = coin_game.reset(torch.rand(batch, 4, generator=gen, **kw), GRID)
    actions = torch.randint(4, (steps, batch, 2), generator=gen, device=device)
    uniforms = torch.rand(steps, batch, generator=gen, **kw)
    coin_game.step(state, actions[0], uniforms[0], GRID)  # warm-up
    _sync(device)
    started = time.perf_counter()
    for t in range(steps):
        state, _ = coin_game.step(state, actions[t], uniforms[t], GRID)
    _sync(device)
    return 2 * batch * steps / (time.perf_counter() - started)


def play_rate(matches: int, episodes: int, steps: int, device: str) -> float:
    kw = dict(dtype=torch.float32, device=torch.device(device))
    seats = (FixedSeat("random"), FixedSeat("random"))
    play(seats, list(range(matches)), episodes, 2, GRID, 0, kw)  # warm-up
    _sync(device)
    started = time.perf_counter()
    play(seats, list(range(matches)), episodes, steps, GRID, 1, kw)
    _sync(device)
    return 2 * matches * episodes * steps / (time.perf_counter() - started)


def train_rate(matches: int, updates: int, device: str) -> float:
    kw = dict(dtype=torch.float32, device=torch.device(device))
    specs = [TRAINER] * matches
    gamma = torch.full((matches,), 0.96, **kw)
    sides = CoinEngine(CoinGame(GRID), specs, specs, list(range(matches)), gamma, kw)
    sides.step()  # warm-up
    _sync(device)
    started = time.perf_counter()
    for _ in range(updates):
        sides.step()
    _sync(device)
    agent_steps = matches * updates * 2 * TRAINER.episodes * TRAINER.steps * 2
    return agent_steps / (time.perf_counter() - started)


def rows(device: str, quick: bool) -> list[dict]:
    out = []

    def row(what, setting, rate):
        out.append(dict(what=f"coin {what} ({device})", setting=setting, rate=rate))
        out[-1]["peak_mib"] = peak_mib(device)
        print(f"coin {what:<6} {setting:<48} {rate:>14,.0f} agent-steps/s", file=sys.stderr)

    with CoinEngine.threads() if device == "cpu" else contextlib.nullcontext():
        batch = CUDA_EPISODES if device == "cuda" else 16_384
        row(
            "env",
            f"B = {batch:,} episodes, {GRID}x{GRID}",
            env_rate(batch, 50 if quick else 200, device),
        )
        matches = batch // EPISODES_PER_MATCH  # B episodes at once, 1,024 a match
        row(
            "play",
            f"random vs random, {matches} x {EPISODES_PER_MATCH:,} episodes x 50 steps",
            play_rate(matches, EPISODES_PER_MATCH, 50, device),
        )
        matches = 4 if quick else 16
        if device == "cuda":
            matches = CUDA_EPISODES // TRAINER.episodes
        row(
            "train",
            f"{TRAINER.label()} self-play, {matches} matches",
            train_rate(matches, 1 if quick else 3, device),
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.coin", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.exit(2, f"{parser.prog}: error: {NO_CUDA}\n")
    print(json.dumps(rows(args.device, args.quick)))


if __name__ == "__main__":
    main()
