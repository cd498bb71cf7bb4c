"""Fixed memory-one strategies as five cooperation probabilities.

Each vector is ``[P(C | start), P(C | CC), P(C | CD), P(C | DC), P(C | DD)]`` in the
strategy's own view (own action first: CD = "I cooperated, the other defected"). The
probabilities enter the exact value as they are: AllD is 0, not a clamped logit.
A learner that models a fixed opponent as a naive learner (LA, LOLA, SOS) sees it through
:func:`model_logits`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

# Probabilities are clamped to [EPS, 1 - EPS] before the logit when a learner models a fixed
# opponent as a naive learner; at 1e-6 the model's own gradient is ~1e-6, so it barely moves.
MODEL_EPS = 1e-6

PCoop = tuple[float, float, float, float, float]


def extortionate(payoffs_row: Sequence[float], chi: float = 2.0) -> PCoop:
    """Zero-determinant extortion (Press & Dyson 2012), ``s_X - P = chi (s_Y - P)``.

    For a symmetric game with (R, S, T, P) = payoffs of CC, CD, DC, DD, the vector
    ``p - (1, 1, 0, 0) = phi [(R-P)(1-chi), (S-P) - chi (T-P), (T-P) - chi (S-P), 0]`` enforces
    the relation; phi is half its largest feasible value (Press & Dyson's choice, 1/18 in the
    classical (3, 0, 5, 1) game, which gives Extort-2 = (8/9, 1/2, 1/3, 0)). Opens with C.
    """
    R, S, T, P = (float(x) for x in payoffs_row)
    tilde = ((R - P) * (1 - chi), (S - P) - chi * (T - P), (T - P) - chi * (S - P), 0.0)
    # 1 + phi*tilde[0:2] >= 0 and phi*tilde[2] <= 1 bound phi from above.
    bounds = [-1 / t for t in tilde[:2] if t < 0] + ([1 / tilde[2]] if tilde[2] > 0 else [])
    if not bounds or not (R > P and T > R and S < P):
        raise ValueError("extort2: needs a prisoner's dilemma ordering T > R > P > S")
    phi = min(bounds) / 2
    return (1.0, 1 + phi * tilde[0], 1 + phi * tilde[1], phi * tilde[2], 0.0)


# name -> (probabilities given the row payoffs (R, S, T, P), source)
STRATEGIES: dict[str, tuple[Callable[[Sequence[float]], PCoop], str]] = {
    "allc": (lambda _: (1.0, 1.0, 1.0, 1.0, 1.0), "Always cooperate."),
    "alld": (lambda _: (0.0, 0.0, 0.0, 0.0, 0.0), "Always defect."),
    "tft": (lambda _: (1.0, 1.0, 0.0, 1.0, 0.0), "Tit for Tat [Axelrod 1980]: copy the other."),
    "stft": (lambda _: (0.0, 1.0, 0.0, 1.0, 0.0), "Suspicious TFT: opens with D, then copies."),
    "gtft": (
        lambda _: (1.0, 1.0, 1 / 3, 1.0, 1 / 3),
        "Generous TFT [Nowak & Sigmund 1992]: forgives a defection with probability 1/3.",
    ),
    "grim": (
        lambda _: (1.0, 1.0, 0.0, 0.0, 0.0),
        "Grim trigger [Friedman 1971]: C only after CC; once it defects it never returns.",
    ),
    "wsls": (
        lambda _: (1.0, 1.0, 0.0, 0.0, 1.0),
        "Win-Stay Lose-Shift / Pavlov [Nowak & Sigmund 1993]: C after CC and DD, else D.",
    ),
    "alternator": (lambda _: (1.0, 0.0, 0.0, 1.0, 1.0), "Alternator: C, D, C, D, ..."),
    "extort2": (extortionate, "Extort-2 [Press & Dyson 2012], chi = 2."),
}


# The Coin Game's fixed strategies, name -> (description, source); their behaviour is
# tournament.coin_strategies.BEHAVIOURS[name] (a test checks that both list the same names).
COIN_STRATEGIES: dict[str, tuple[str, str]] = {
    "random": ("moves uniformly at random", "-"),
    "greedy": (
        "the defector: a shortest torus path to the coin, whatever its colour",
        "Lerer & Peysakhovich 2017 (the selfish policy)",
    ),
    "own-coin": (
        "the cooperator: goes for the coin only when it is its own, never steps onto the other's",
        "Lerer & Peysakhovich 2017 (the cooperative policy)",
    ),
    "reciprocal": (
        "the Coin Game's tit-for-tat: own-coin until the other takes one of its coins, then "
        "greedy for 10 steps",
        "after Lerer & Peysakhovich 2017 (amTFT, simplified)",
    ),
}


def fixed_p_coop(kind: str, payoffs_row: Sequence[float], p: Sequence[float] | None = None):
    """The five probabilities of fixed strategy ``kind`` (``random`` and ``memory1`` use ``p``)."""
    if kind == "random":
        return (float(p[0]) if p else 0.5,) * 5
    if kind == "memory1":
        return tuple(float(x) for x in p)
    return STRATEGIES[kind][0](payoffs_row)


def model_logits(p_coop: Sequence[float]) -> list[float]:
    """Logits of the probabilities clamped to [MODEL_EPS, 1 - MODEL_EPS]."""
    clamped = (min(max(x, MODEL_EPS), 1 - MODEL_EPS) for x in p_coop)
    return [math.log(x / (1 - x)) for x in clamped]
