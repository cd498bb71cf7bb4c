"""The games, declared once: two-player 2x2 iterated games and the differentiable games.

States are egocentric. A memory-one policy is a vector of five cooperation probabilities
``p = [P(C | start), P(C | CC), P(C | CD), P(C | DC), P(C | DD)]`` where ``CD`` means "I
cooperated, the other defected". The game works in the row player's view: joint outcomes are
indexed ``CC, CD, DC, DD`` as (row action, column action). The column player sees the same
outcome with CD and DC exchanged; that exchange lives only in :data:`SWAP_VIEW`.

Torch-free, like :mod:`agents.kinds`: the engine, the sweep files, the command line's help and
``analysis/`` read the games from here. Exact values (``V = p0 (I - gamma P)^-1 r``) and their
gradients: :mod:`tournament.values`; sampled play: :mod:`tournament.play`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tournament.differentiable import DIFFERENTIABLE_GAMES, DifferentiableGame

OUTCOMES = ("CC", "CD", "DC", "DD")
# Index of the same joint outcome in the other player's view (CD <-> DC).
SWAP_VIEW = (0, 2, 1, 3)


@dataclass(frozen=True)
class Game:
    """A 2x2 game: each player's payoff for the outcomes CC, CD, DC, DD in the row's view.

    ``payoffs_row[i]`` and ``payoffs_col[i]`` are the row's and the column's payoff when the
    joint outcome is ``OUTCOMES[i]`` (row action first).
    """

    name: str
    payoffs_row: tuple[float, float, float, float]
    payoffs_col: tuple[float, float, float, float]

    def __post_init__(self):
        for field in ("payoffs_row", "payoffs_col"):
            value = getattr(self, field)
            if len(value) != 4:
                raise ValueError(f"{field}: needs 4 payoffs for CC, CD, DC, DD, got {len(value)}")
            object.__setattr__(self, field, tuple(float(x) for x in value))

    @property
    def symmetric(self) -> bool:
        """True when the column player's payoffs are the row's with the roles exchanged."""
        return all(self.payoffs_col[SWAP_VIEW[i]] == self.payoffs_row[i] for i in range(4))

    def payoffs(self, like):
        """Both payoff vectors, [4] each, as tensors on ``like``'s device and dtype."""
        return like.new_tensor(self.payoffs_row), like.new_tensor(self.payoffs_col)


def symmetric_game(name: str, payoffs: tuple[float, float, float, float]) -> Game:
    """A symmetric game from the row's payoffs (R, S, T, P) for CC, CD, DC, DD."""
    payoffs = tuple(payoffs)
    if len(payoffs) != 4:
        raise ValueError(f"payoffs: needs 4 values for CC, CD, DC, DD, got {len(payoffs)}")
    return Game(name, payoffs, tuple(payoffs[SWAP_VIEW[i]] for i in range(4)))


GAMES: dict[str, Game] = {
    # Prisoner's dilemma as in the LOLA paper: mutual cooperation -1, mutual defection -2.
    "ipd": symmetric_game("ipd", (-1.0, -3.0, 0.0, -2.0)),
    # Matching pennies: the row wins when the actions match. Zero-sum, Nash: 0.5 everywhere.
    "imp": Game("imp", (1.0, -1.0, -1.0, 1.0), (-1.0, 1.0, 1.0, -1.0)),
    # Stag hunt (C = stag): two pure equilibria, CC payoff-dominant, DD risk-dominant.
    "stag_hunt": symmetric_game("stag_hunt", (4.0, 0.0, 3.0, 3.0)),
    # Chicken (C = swerve): mutual D is the crash.
    "chicken": symmetric_game("chicken", (0.0, -1.0, 1.0, -10.0)),
}


COIN = "coin"
DEFAULT_GRID = 3  # the LOLA paper's and POLA's
MIN_GRID, MAX_GRID = 2, 32


def check_grid_size(grid_size) -> int:
    """``grid_size`` as an int in [MIN_GRID, MAX_GRID], else a one-line ``ValueError``."""
    if (
        isinstance(grid_size, bool)
        or not isinstance(grid_size, int)
        or not MIN_GRID <= grid_size <= MAX_GRID
    ):
        raise ValueError(
            f"grid_size: must be an integer in [{MIN_GRID}, {MAX_GRID}], got {grid_size!r}"
        )
    return grid_size


@dataclass(frozen=True)
class CoinGame:
    """The Coin Game on a ``grid_size`` torus (its rules: :mod:`tournament.coin_game`; its
    engine: :mod:`tournament.engines.coin`)."""

    grid_size: int = DEFAULT_GRID
    name: str = COIN

    def __post_init__(self):
        check_grid_size(self.grid_size)

    @property
    def symmetric(self) -> bool:
        return True


# Every game a sweep or the match command takes by name.
GAME_NAMES: tuple[str, ...] = (*GAMES, *DIFFERENTIABLE_GAMES, COIN)


def get_game(
    name: str, payoffs: tuple[float, ...] | None = None, grid_size: int | None = None
) -> Game | DifferentiableGame | CoinGame:
    """A game by name, iterated 2x2 (``GAMES``; ``payoffs``, 4 values, symmetric, or 8: row's
    then column's, override), differentiable (:data:`DIFFERENTIABLE_GAMES`) or the Coin Game
    (``coin``, on a ``grid_size`` torus, default 3; the only game that takes a grid size)."""
    if name == COIN:
        if payoffs is not None:
            raise ValueError("payoffs: the Coin Game takes no payoffs")
        return CoinGame(DEFAULT_GRID if grid_size is None else grid_size)
    if grid_size is not None:
        raise ValueError(f"grid_size: only the Coin Game ({COIN}) takes a grid size, not {name}")
    if name in DIFFERENTIABLE_GAMES:
        if payoffs is not None:
            raise ValueError(f"payoffs: {name} is a differentiable game; it takes no payoffs")
        return DIFFERENTIABLE_GAMES[name]
    if payoffs is not None:
        payoffs = tuple(float(x) for x in payoffs)
        if len(payoffs) == 4:
            return symmetric_game(name, payoffs)
        if len(payoffs) == 8:
            return Game(name, payoffs[:4], payoffs[4:])
        raise ValueError(
            f"payoffs: needs 4 values (symmetric: CC, CD, DC, DD) or 8 (row's then column's), "
            f"got {len(payoffs)}"
        )
    if name not in GAMES:
        raise ValueError(f"game: unknown {name!r}; accepted: {', '.join(GAME_NAMES)}")
    return GAMES[name]
