"""The ecological view of a tournament: discrete replicator dynamics over the payoff matrix.

As in Axelrod's Ecosystem: a population holds every agent in shares ``x`` (uniform at turn 0).
Each turn an agent's fitness is its expected payoff against the population,
``f_i = sum_j M'_ij x_j``, and agents are copied in proportion to fitness:

    x_{t+1, i} = x_{t, i} * f_i / sum_j x_{t, j} f_j

Rewards here are negative (IPD per-step rewards lie in [-3, 0]), so the matrix is shifted to be
positive first: ``M' = M - min(M) + floor``, where ``floor`` is ``FLOOR_SHARE`` of the payoff
range (1 if all payoffs are equal). A pairing with no finished match (NaN) counts as the worst
payoff. The shift sets how fast shares move, not which agents grow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FLOOR_SHARE = 0.1
TURNS = 100


def fitness_matrix(payoff_matrix: pd.DataFrame, floor_share: float = FLOOR_SHARE) -> np.ndarray:
    """``M'``: the payoff matrix shifted so its smallest entry is a positive floor."""
    payoff = payoff_matrix.to_numpy(dtype=float)  # [N, N]
    if np.isnan(payoff).all():
        raise ValueError("payoff_matrix: no finished pairing, nothing to replicate")
    low, high = np.nanmin(payoff), np.nanmax(payoff)
    payoff = np.where(np.isnan(payoff), low, payoff)
    floor = floor_share * (high - low) if high > low else 1.0
    return payoff - low + floor


def replicator(
    payoff_matrix: pd.DataFrame,
    turns: int = TURNS,
    initial: np.ndarray | None = None,
    floor_share: float = FLOOR_SHARE,
) -> pd.DataFrame:
    """Population shares per turn (rows 0..turns) and agent (columns); each row sums to 1."""
    if list(payoff_matrix.index) != list(payoff_matrix.columns):
        raise ValueError("payoff_matrix: rows and columns must list the same agents in order")
    fitness = fitness_matrix(payoff_matrix, floor_share)
    n = len(fitness)
    x = np.full(n, 1.0 / n) if initial is None else np.asarray(initial, dtype=float)
    if x.shape != (n,) or (x < 0).any() or not np.isclose(x.sum(), 1.0):
        raise ValueError(f"initial: must be {n} non-negative shares summing to 1, got {initial!r}")
    shares = [x]
    for _ in range(turns):
        f = fitness @ x  # [N]
        x = x * f / (x @ f)
        shares.append(x)
    table = pd.DataFrame(np.array(shares), columns=list(payoff_matrix.columns))
    table.index.name = "turn"
    return table
