"""Playing B matches as one batched computation: :func:`play_matches` picks an engine and
records its learning curves.

Each update every side computes its rule's direction (:mod:`agents.rules`) from the same current
parameters (simultaneous play), then steps. The engines (:mod:`tournament.engines`, one per
module, each an :class:`~tournament.engines.base.Engine`) play the same rules:

- ``closed_form`` (tabular policies and fixed strategies, exact gradients in closed form, any
  mix of kinds and options in one batch);
- ``online`` (a side learns online from every step of play: ``q``, ``jal-q``, ``phc``,
  ``wolf-phc``; one update is one episode; it records the episode's sampled return);
- ``sampled`` (a side learns from sampled episodes, the sampled kinds; it also records a
  sampled return beside the exact one);
- ``autograd`` (any ``nn.Module`` policy or a differentiable game; the reference for the
  closed form);
- ``coin`` (the Coin Game: sampled learners with neural policies, fixed Coin Game strategies).

``engine="auto"`` takes the first of :data:`ENGINES` that can play the matches. The recorded
curves are collected by :class:`tournament.recorder.Recorder`.

Seeds: match seed ``s`` initialises side a from ``2 s`` and side b from ``2 s + 1``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from tqdm import tqdm

from agents.kinds import check_family
from agents.options import applies
from agents.spec import AgentSpec
from tournament.differentiable import DifferentiableGame
from tournament.engines.autograd import AutogradEngine
from tournament.engines.base import Engine
from tournament.engines.closed_form import ClosedFormEngine
from tournament.engines.coin import CoinEngine
from tournament.engines.online import OnlineEngine
from tournament.engines.sampled import SampledEngine
from tournament.games import CoinGame, Game
from tournament.recorder import BatchState, MatchResults, Recorder

# Bumped whenever stored results would change: 2 = closed-form engine, counter-based init;
# 3 = the sampled learners' log-probabilities differentiable at logit 0 (issue 16);
# 4 = CGD, LSS and HOLA's cheaper solves and derivatives (their last bits, issue 21).
ENGINE_VERSION = 4
DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICES = ("cpu", "cuda")
# Every engine by name, in the order ``engine="auto"`` tries them: the first that does not
# refuse the matches plays them.
ENGINES: dict[str, type[Engine]] = {
    "closed_form": ClosedFormEngine,
    "online": OnlineEngine,
    "sampled": SampledEngine,
    "autograd": AutogradEngine,
    "coin": CoinEngine,
}


def play_matches(
    game: Game | DifferentiableGame | CoinGame,
    specs_a: Sequence[AgentSpec],
    specs_b: Sequence[AgentSpec],
    seeds: Sequence[int],
    updates: int,
    gamma: float | Sequence[float] = 0.96,
    record_every: int = 1,
    dtype: str | torch.dtype = "float64",
    device: str = "cpu",
    progress: bool = False,
    engine: str = "auto",
    state: BatchState | None = None,
    deadline: float | None = None,
) -> MatchResults:
    """Play B = len(seeds) matches of a vs b for ``updates`` learning steps, batched.

    ``progress`` shows a progress bar over the updates on stderr (when it is a terminal);
    ``engine``: ``auto`` or a name of :data:`ENGINES` (see the module doc).
    Play in pieces: ``state`` (a result's :attr:`MatchResults.state`, same arguments
    otherwise) resumes where that play stopped; ``deadline`` (a ``time.monotonic()`` value)
    stops after the update during which it passes. The results hold the updates recorded by
    this call (update 0 only when starting), and ``state``, where the play stands.
    """
    if not (len(specs_a) == len(specs_b) == len(seeds)) or not seeds:
        raise ValueError("specs_a, specs_b and seeds: need the same non-zero length")
    if updates < 0:
        raise ValueError(f"updates: must be >= 0, got {updates}")
    if record_every < 1:
        raise ValueError(f"record_every: must be >= 1, got {record_every}")
    if engine != "auto" and engine not in ENGINES:
        raise ValueError(f"engine: unknown {engine!r}; accepted: auto, {', '.join(ENGINES)}")
    # Each spec object once: a batch of thousands of matches holds few (checked once each).
    both = [*specs_a, *specs_b]
    distinct = list(dict(zip(map(id, both), both, strict=True)).values())
    if isinstance(game, DifferentiableGame):
        check_players(game, distinct)
    for kind in {s.kind for s in distinct}:
        check_family(kind, coin=isinstance(game, CoinGame), game=game.name)
    engine_class = choose_engine(engine, game, distinct)
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: cuda requested but this machine has no CUDA device")
    kw = dict(dtype=DTYPES[dtype] if isinstance(dtype, str) else dtype, device=torch.device(device))
    gamma_t = torch.as_tensor(gamma, **kw).expand(len(seeds)).clone()

    started = time.perf_counter()
    with engine_class.threads():
        matches = engine_class(game, specs_a, specs_b, seeds, gamma_t, kw)
        recorder = Recorder(len(seeds), kw["device"])
        done = 0
        if state is None:
            recorder.record(0, matches.snapshot())
        else:
            done = state.update
            matches.load_state_dict(state.tensors, done)
            recorder.diverged_at = state.diverged_at.to(kw["device"])
        matches.will_play(updates - done)
        bar = tqdm(
            range(done + 1, updates + 1),
            unit="update",
            disable=None if progress else True,
            leave=False,
        )
        for update in bar:
            recorder.mark(~matches.step(), update)
            if update % record_every == 0 or update == updates:
                recorder.record(update, matches.snapshot())
            done = update
            if deadline is not None and time.monotonic() >= deadline:
                break
        bar.close()
    results = recorder.results(time.perf_counter() - started)
    results.state = BatchState(done, matches.state_dict(), recorder.diverged_at)
    return results


def choose_engine(
    name: str, game: Game | DifferentiableGame, specs: Sequence[AgentSpec]
) -> type[Engine]:
    """The engine ``name`` (``auto``: the first of :data:`ENGINES` that can play these agents in
    ``game``); a ``ValueError`` saying why where it cannot."""
    if name == "auto":
        refusals = {}
        for n, engine in ENGINES.items():
            refusals[n] = engine.why_not(game, specs)
            if refusals[n] is None:
                return engine
        reasons = "; ".join(f"{n} {refusal}" for n, refusal in refusals.items())
        raise ValueError(f"engine: none can play these matches: {reasons}")
    refusal = ENGINES[name].why_not(game, specs)
    if refusal is not None:
        raise ValueError(f"engine: {name} {refusal}")
    return ENGINES[name]


def check_players(game: DifferentiableGame, specs: Sequence[AgentSpec]) -> None:
    """A differentiable game is played by learners, on their raw parameters."""
    for spec in specs:
        if not spec.learner:
            raise ValueError(
                f"kind: {spec.kind} is a fixed strategy; {game.name} is a differentiable game, "
                f"played by learners only"
            )
        if spec.sampled or spec.online:
            raise ValueError(
                f"kind: {spec.kind} learns from sampled episodes of an iterated game; "
                f"{game.name} is a differentiable game"
            )
        if applies("beta_out", spec.kind):
            raise ValueError(
                f"kind: {spec.kind} penalises the KL divergence between policies; {game.name} "
                f"is a differentiable game, whose players hold raw parameters"
            )
        if spec.policy != "tabular":
            raise ValueError(
                f"policy: {game.name} players hold raw parameters, not a policy ({spec.policy!r})"
            )
