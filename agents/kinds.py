"""Every kind of agent, declared once: what it is, the options it reads, and its source.

Torch-free, like :mod:`agents.options`: labels, validation, the ``match`` command's help, the
sweep schema's accepted keys, the stored option columns (null where a kind does not read an
option) and the analysis grouping all derive from these records. A learner's update rule is
``agents.rules.RULES[name]`` or, for an online learner, ``agents.online.ONLINE_RULES[name]``
(a test checks that they list the same learners); a fixed
strategy's probabilities are ``agents.strategies.fixed_p_coop``.

Adding a learner: one :class:`Kind` here, its rule in ``RULES`` (an online learner's in
``agents.online.ONLINE_RULES``), and its reference test.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.strategies import COIN_STRATEGIES, STRATEGIES

# Options every learner reads; and those of the learners that learn from sampled episodes.
LEARNING = ("lr", "init", "policy", "optimizer")
SAMPLING = ("episodes", "steps", "baseline")
# POLA's proximal options: the KL weights and the inner (K) and outer (M) steps.
PROXIMAL = ("lr_in", "beta_in", "beta_out", "inner_steps", "outer_steps")
# Options of the online tabular learners: the Q step and its decay, and the episode length.
ONLINE_Q = ("alpha", "alpha_decay", "steps")


@dataclass(frozen=True)
class Kind:
    """``options``: the options it reads (of :mod:`agents.options`). ``models_opponent``: the
    learner takes the opponent's learning into account (LOLA-type shaping or lookahead).
    ``sampled``: the learner sees the game only through sampled episodes (its rule takes a
    :class:`agents.rules.SampledObjective`), not through the exact value. ``form``: how the
    command line names it where its name carries its probabilities ``p``. ``matrix``, ``coin``:
    it plays the iterated 2x2 and differentiable games, the Coin Game. ``online``: a tabular
    learner that updates after every step of play from the transitions it sees
    (:mod:`agents.online`), its rule ``agents.online.ONLINE_RULES[name]``. ``optimizers``:
    those it accepts (None: any); POLA's rules take their own M gradient steps of size lr, so
    the engine's step must be the plain ``theta + lr d``."""

    name: str
    learner: bool
    options: tuple[str, ...]
    description: str
    source: str
    models_opponent: bool = False
    sampled: bool = False
    online: bool = False
    form: str | None = None
    matrix: bool = True
    coin: bool = False
    optimizers: tuple[str, ...] | None = None


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
        "lss",
        True,
        (*LEARNING, "lss_lambda"),
        "local symplectic surgery: (xi + H^T v) / 2, (H^T H + lss_lambda I) v = H^T xi, "
        "solved matrix-free",
        "Mazumdar, Jordan & Sastry 2019; Letcher et al.'s reference code",
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
    Kind(
        "pola",
        True,
        (*LEARNING, *PROXIMAL),
        "proximal LOLA on the exact value: M steps on own value after the opponent's K "
        "proximal steps, differentiated through, minus beta_out times the KL from its old policy",
        "Zhao, Lu, Grosse & Foerster, NeurIPS 2022 (outer POLA)",
        models_opponent=True,
        optimizers=("sgd",),
    ),
    Kind(
        "pola-dice",
        True,
        (*LEARNING, *PROXIMAL, *SAMPLING),
        "POLA on sampled episodes: K inner and M outer proximal steps on DiCE objectives of "
        "fresh rollouts, each with its KL over the visited states",
        "Zhao, Lu, Grosse & Foerster, NeurIPS 2022 (POLA-DiCE)",
        models_opponent=True,
        sampled=True,
        optimizers=("sgd",),
        coin=True,
    ),
    Kind(
        "q",
        True,
        (*ONLINE_Q, "epsilon"),
        "NL-Q: tabular Q-learning over its own actions, epsilon-greedy",
        "Watkins & Dayan 1992; LOLA tournament (Foerster et al. 2018), official baselines",
        online=True,
    ),
    Kind(
        "jal-q",
        True,
        (*ONLINE_Q, "epsilon"),
        "JAL-Q: Q over joint actions weighted by the opponent's empirical action frequencies, "
        "epsilon-greedy",
        "Claus & Boutilier 1998; LOLA tournament, official baselines",
        online=True,
    ),
    Kind(
        "phc",
        True,
        (*ONLINE_Q, "delta", "delta_decay"),
        "policy hill-climbing: Q-learning, the policy stepped delta toward the greedy action",
        "Bowling & Veloso 2002; LOLA tournament, official baselines",
        online=True,
    ),
    Kind(
        "wolf-phc",
        True,
        (*ONLINE_Q, "delta_win", "delta_win_decay"),
        "WoLF-PHC: PHC stepping delta_win when winning against its average policy, twice that "
        "when losing",
        "Bowling & Veloso 2002; LOLA tournament, official baselines",
        online=True,
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
ONLINE: tuple[str, ...] = tuple(kind.name for kind in LEARNER_KINDS if kind.online)
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
