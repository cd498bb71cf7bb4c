"""Every kind of agent, declared once: what it is, the options it reads, and its source.

Torch-free, like :mod:`agents.options`: labels, validation, the ``match`` command's help, the
sweep schema's accepted keys, the stored option columns (null where a kind does not read an
option) and the analysis grouping all derive from these records. A learner's update rule is
``agents.rules.RULES[name]`` (a test checks that both list the same learners); a fixed
strategy's probabilities are ``agents.strategies.fixed_p_coop``.

Adding a learner: one :class:`Kind` here, its rule in ``RULES``, and its reference test.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.strategies import COIN_STRATEGIES, STRATEGIES

# Options every learner reads; and those of the learners that learn from sampled episodes.
LEARNING = ("lr", "init", "policy", "optimizer")
SAMPLING = ("episodes", "steps", "baseline")


@dataclass(frozen=True)
class Kind:
    """``options``: the options it reads (of :mod:`agents.options`). ``models_opponent``: the
    learner takes the opponent's learning into account (LOLA-type shaping or lookahead).
    ``sampled``: the learner sees the game only through sampled episodes (its rule takes a
    :class:`agents.rules.SampledObjective`), not through the exact value. ``form``: how the
    command line names it where its name carries its probabilities ``p``. ``matrix``, ``coin``:
    it plays the iterated 2x2 and differentiable games, the Coin Game."""

    name: str
    learner: bool
    options: tuple[str, ...]
    description: str
    source: str
    models_opponent: bool = False
    sampled: bool = False
    form: str | None = None
    matrix: bool = True
    coin: bool = False


LEARNER_KINDS = (
    Kind("nl", True, LEARNING, "naive gradient ascent on its own value", "-"),
    Kind(
        "la",
        True,
        (*LEARNING, "lr_in", "lookahead"),
        "LookAhead: own value after the opponent's k naive steps, held constant",
        "Zhang & Lesser 2010",
        models_opponent=True,
    ),
    Kind(
        "lola",
        True,
        (*LEARNING, "lr_in", "lookahead"),
        "LOLA, unrolled: differentiates through the opponent's k naive steps",
        "Foerster et al. 2018; DiCE / higher / TorchOpt form",
        models_opponent=True,
    ),
    Kind(
        "lola-taylor",
        True,
        (*LEARNING, "eta"),
        "LOLA, first-order Taylor rule: naive gradient plus eta times the shaping term",
        "Foerster et al. 2018, eq. 4",
        models_opponent=True,
    ),
    Kind(
        "sos",
        True,
        (*LEARNING, "lr_in"),
        "Stable Opponent Shaping: LookAhead plus a shaping term scaled to keep stable points",
        "Letcher et al. 2019, Algorithm 1",
        models_opponent=True,
    ),
    Kind(
        "sga",
        True,
        LEARNING,
        "symplectic gradient adjustment with sign alignment",
        "Balduzzi et al. 2018",
    ),
    Kind(
        "co",
        True,
        (*LEARNING, "gamma_co"),
        "consensus optimisation: gradient plus gamma_co times the gradient of |xi|^2 / 2",
        "Mescheder et al. 2017",
    ),
    Kind(
        "eg",
        True,
        (*LEARNING, "lr_in"),
        "extragradient: the gradient after both players' naive step of size lr_in",
        "Korpelevich 1976",
    ),
    Kind(
        "cgd",
        True,
        (*LEARNING, "lr_in"),
        "competitive gradient descent: (I + lr_in H_o)^-1 xi, solved matrix-free",
        "Schaefer & Anandkumar 2019",
        models_opponent=True,
    ),
    Kind(
        "hola",
        True,
        (*LEARNING, "lr_in", "order"),
        "higher-order LOLA: assumes an opponent of order n - 1 and differentiates through it",
        "Willi et al. 2022",
        models_opponent=True,
    ),
    Kind(
        "nl-pg",
        True,
        (*LEARNING, *SAMPLING),
        "naive policy gradient: REINFORCE with a baseline on sampled discounted returns",
        "Williams 1992; the first derivative of DiCE, Foerster et al. ICML 2018",
        sampled=True,
        coin=True,
    ),
    Kind(
        "lola-dice",
        True,
        (*LEARNING, "lr_in", "lookahead", *SAMPLING, "opponent_model"),
        "LOLA on sampled episodes: differentiates through the opponent's k policy-gradient "
        "steps with DiCE objectives (opponent_model: of a model fitted to its actions)",
        "Foerster, Farquhar et al. ICML 2018 (DiCE)",
        models_opponent=True,
        sampled=True,
        coin=True,
    ),
    Kind(
        "lola-pg",
        True,
        (*LEARNING, "lr_in", *SAMPLING, "opponent_model"),
        "LOLA's first-order (Taylor) rule on sampled episodes: policy-gradient estimates of the "
        "gradient and of the shaping term alpha (grad_2 V1)^T grad_12 V2, alpha = lr_in",
        "Foerster et al. 2018, Section 3.3 (LOLA-PG; official lola/corrections.py)",
        models_opponent=True,
        sampled=True,
    ),
)
FIXED_KINDS = (
    *(Kind(name, False, (), source, source) for name, (_, source) in STRATEGIES.items()),
    Kind(
        "random",
        False,
        ("p",),
        "cooperates with probability p (default 0.5); in the Coin Game: moves uniformly",
        "-",
        form="random[:P]",
        coin=True,
    ),
    Kind(
        "memory1",
        False,
        ("p",),
        "any memory-one strategy: P(C | start, CC, CD, DC, DD)",
        "-",
        form="memory1:P0,PCC,PCD,PDC,PDD",
    ),
    *(
        Kind(name, False, (), description, source, matrix=False, coin=True)
        for name, (description, source) in COIN_STRATEGIES.items()
        if name != "random"
    ),
)
KINDS: dict[str, Kind] = {kind.name: kind for kind in (*LEARNER_KINDS, *FIXED_KINDS)}
LEARNERS: tuple[str, ...] = tuple(kind.name for kind in LEARNER_KINDS)
SAMPLED: tuple[str, ...] = tuple(kind.name for kind in LEARNER_KINDS if kind.sampled)
FIXED: tuple[str, ...] = tuple(kind.name for kind in FIXED_KINDS)
# Every agent name the command line and the sweep files accept, for help texts and errors.
ACCEPTED_NAMES = ", ".join(kind.form or kind.name for kind in KINDS.values())

COIN_KINDS: tuple[str, ...] = tuple(kind.name for kind in KINDS.values() if kind.coin)
MATRIX_KINDS: tuple[str, ...] = tuple(kind.name for kind in KINDS.values() if kind.matrix)


def check_family(kind: str, coin: bool, game: str) -> None:
    """A one-line ``ValueError`` unless ``kind`` plays ``game`` (the Coin Game if ``coin``)."""
    if coin and not KINDS[kind].coin:
        why = "needs the exact value" if KINDS[kind].learner else "is a matrix-game strategy"
        raise ValueError(f"kind: {kind} {why}; the Coin Game is played by {', '.join(COIN_KINDS)}")
    if not coin and not KINDS[kind].matrix:
        raise ValueError(
            f"kind: {kind} is a Coin Game strategy; {game} is played by {', '.join(MATRIX_KINDS)}"
        )
