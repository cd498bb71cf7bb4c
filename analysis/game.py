"""What analysis knows of a sweep's game: its payoffs (from ``provenance.yaml``), and what
follows from them for reading the results.

- ``has_cooperation``: a symmetric game that is not zero-sum, in which mutual cooperation pays
  both players more than mutual defection (IPD, stag hunt, chicken). Only such games get
  cooperation wording ("P(C | state)", "TFT-like") and reference lines at mutual cooperation and
  mutual defection.
- ``zero_sum``: the payoffs of each outcome sum to 0 (matching pennies). Such games get action
  wording ("P(action 1 | state)") and the distance of each policy to the mixed Nash equilibrium
  (:attr:`GameInfo.nash`) instead.
- ``reward_range``: the per-step rewards a side can get, [lowest payoff, highest payoff]; a mean
  or a confidence interval of rewards is clipped to it.

A sweep without ``provenance.yaml`` gives an unknown game: action wording, no reference lines,
no clipping.

The Coin Game (``coin``: ``provenance.yaml`` holds its grid size, no payoffs) has no policy over
five states: its final policies are described by each side's own-coin share and pickups per
step (:attr:`GameInfo.policy_columns`), its measure is the own-coin share, and its per-step
rewards lie in [-2, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from sweeps.schema import PROVENANCE, STATES
from tournament.games import SWAP_VIEW, Game

# The Coin Game's per-step rewards: +1 for a pickup, -2 when the other takes one's coin.
COIN_REWARD_RANGE = (-2.0, 1.0)


@dataclass(frozen=True)
class GameInfo:
    """A game by name with both players' payoffs of CC, CD, DC, DD (row's view), if known."""

    name: str
    payoffs_row: tuple[float, ...] | None = None
    payoffs_col: tuple[float, ...] | None = None
    coin: bool = False

    @property
    def known(self) -> bool:
        return self.payoffs_row is not None and self.payoffs_col is not None

    @property
    def zero_sum(self) -> bool:
        if not self.known:
            return False
        return all(r + c == 0 for r, c in zip(self.payoffs_row, self.payoffs_col, strict=True))

    @property
    def symmetric(self) -> bool:
        return self.known and Game(self.name, self.payoffs_row, self.payoffs_col).symmetric

    @property
    def has_cooperation(self) -> bool:
        if not self.symmetric or self.zero_sum:
            return False
        return self.payoffs_row[0] > self.payoffs_row[3]

    @property
    def nash(self) -> tuple[float, float] | None:
        """Zero-sum games: the probability of action 1 (C) of the row and of the column player
        at the mixed equilibrium of the stage game, each making the other indifferent; None
        when the game is not zero-sum or has no interior mixed equilibrium."""
        if not self.zero_sum:
            return None
        r, c = self.payoffs_row, self.payoffs_col
        row_den = c[0] - c[1] - c[2] + c[3]
        col_den = r[0] - r[1] - r[2] + r[3]
        if row_den == 0 or col_den == 0:
            return None
        p_row, p_col = (c[3] - c[2]) / row_den, (r[3] - r[1]) / col_den
        if not (0 < p_row < 1 and 0 < p_col < 1):
            return None
        return p_row, p_col

    @property
    def nash_values(self) -> tuple[float, float] | None:
        """The row's and the column's expected per-step payoff at :attr:`nash`."""
        if self.nash is None:
            return None
        p, q = self.nash
        joint = np.array([p * q, p * (1 - q), (1 - p) * q, (1 - p) * (1 - q)])
        return float(joint @ self.payoffs_row), float(joint @ self.payoffs_col)

    @property
    def reward_range(self) -> tuple[float, float] | None:
        """The per-step rewards a side can get: [lowest, highest payoff] of either player."""
        if self.coin:
            return COIN_REWARD_RANGE
        if not self.known:
            return None
        payoffs = (*self.payoffs_row, *self.payoffs_col)
        return min(payoffs), max(payoffs)

    def references(self) -> list[tuple[str, float]]:
        """Per-step rewards worth a reference line: mutual cooperation and defection, or the
        value of the mixed Nash equilibrium of a zero-sum game."""
        if self.has_cooperation:
            return [
                ("mutual cooperation", self.payoffs_row[0]),
                ("mutual defection", self.payoffs_row[3]),
            ]
        values = self.nash_values
        if values is None:
            return []
        if values[0] == values[1]:
            return [("Nash value", values[0])]
        return [("Nash value (row)", values[0]), ("Nash value (column)", values[1])]

    @property
    def measure(self) -> tuple[str, str]:
        """The per-side column (of :func:`analysis.summary.sides`) that says how a final policy
        plays this game, and its label: the distance to the Nash policy in a zero-sum game, else
        the discounted share of rounds in which the side plays action 1 (cooperates)."""
        if self.coin:
            return "own_coin_share", "own-coin share (of the coins it picked up)"
        if self.nash is not None:
            return "nash_distance", "distance to Nash (max over states)"
        if self.has_cooperation:
            return "coop_rate", "cooperation rate (discounted share of rounds with C)"
        return "coop_rate", "share of rounds with action 1 (discounted)"

    @property
    def action(self) -> str:
        """The name of action 1 in labels: C where the game has cooperation."""
        return "C" if self.has_cooperation else "action 1"

    @property
    def p_label(self) -> str:
        if self.coin:
            return "own-coin share and pickups per step"
        return f"P({self.action} | state)"

    @property
    def policy_columns(self) -> tuple[tuple[str, str], ...]:
        """(side-row column, label) of what describes a final policy: P(action 1 | state) per
        state, or the Coin Game's own-coin share and pickups per step."""
        if self.coin:
            return (("own_coin_share", "own-coin share"), ("pickups", "pickups per step"))
        return tuple(
            (f"p_coop_{s}", label) for s, label in zip(STATES, self.state_labels, strict=True)
        )

    @property
    def state_labels(self) -> tuple[str, ...]:
        """The states in labels, own action first: CC.. with cooperation, 11.. without."""
        if self.has_cooperation:
            return tuple(s if s == "start" else s.upper() for s in STATES)
        return ("start", "11", "12", "21", "22")

    @property
    def state_note(self) -> str:
        if self.coin:
            return "of the coins it picked up, the share of its own colour; coins per step"
        if self.has_cooperation:
            return "own action first: CD = I cooperated, the opponent defected"
        return "own action first: 12 = I played action 1, the opponent action 2"


def load_game(sweep_dir: str | Path, name: str | None = None) -> GameInfo:
    """The game of a sweep directory from its ``provenance.yaml``; unknown payoffs without it."""
    path = Path(sweep_dir) / PROVENANCE
    record = yaml.safe_load(path.read_text()) if path.is_file() else None
    game = (record or {}).get("game") or {}
    if game.get("grid_size") is not None:
        return GameInfo(game.get("name") or name or "coin", coin=True)
    if not game.get("payoffs_row") or not game.get("payoffs_col"):
        return GameInfo(name or game.get("name") or "unknown")
    return GameInfo(
        game.get("name") or name or "unknown",
        tuple(float(x) for x in game["payoffs_row"]),
        tuple(float(x) for x in game["payoffs_col"]),
    )


def load_provenance(sweep_dir: str | Path) -> list[dict]:
    """The runs recorded in a sweep directory's ``provenance.yaml`` (empty without it)."""
    path = Path(sweep_dir) / PROVENANCE
    if not path.is_file():
        return []
    return list((yaml.safe_load(path.read_text()) or {}).get("runs") or [])


def discounted_play(p_a: np.ndarray, p_b: np.ndarray, gamma: np.ndarray | float) -> np.ndarray:
    """The discounted share of rounds spent in each joint outcome when side a plays ``p_a``
    and side b plays ``p_b`` (memory-one policies [N, 5], each in its own view):

        d = (1 - gamma) p0 (I - gamma P)^-1,   [N, 4] over CC, CD, DC, DD in side a's view,

    the same weights as the per-step reward ``(1 - gamma) V``, so ``d @ payoffs_row`` is side
    a's reward. Rows with a NaN policy give NaN.
    """
    p_a, p_b = np.asarray(p_a, dtype=float), np.asarray(p_b, dtype=float)
    gamma = np.broadcast_to(np.asarray(gamma, dtype=float), (len(p_a),))

    def joint(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # [..., 4]
        return np.stack([x * y, x * (1 - y), (1 - x) * y, (1 - x) * (1 - y)], axis=-1)

    p0 = joint(p_a[:, 0], p_b[:, 0])  # [N, 4]
    transition = joint(p_a[:, 1:], p_b[:, 1:][:, list(SWAP_VIEW)])  # [N, 4 from, 4 to]
    ok = np.isfinite(p0).all(axis=1) & np.isfinite(transition).all(axis=(1, 2))
    out = np.full((len(p_a), 4), np.nan)
    if ok.any():
        system = np.eye(4) - gamma[ok, None, None] * transition[ok]  # [N, 4, 4]
        # d (I - gamma P) = (1 - gamma) p0  <=>  (I - gamma P)^T d^T = (1 - gamma) p0^T
        rhs = (1 - gamma[ok])[:, None] * p0[ok]
        out[ok] = np.linalg.solve(np.swapaxes(system, 1, 2), rhs[..., None])[..., 0]
    return out
