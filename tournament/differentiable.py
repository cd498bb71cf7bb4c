"""Differentiable games: each player holds a real parameter vector and has a differentiable loss
of both vectors (Letcher et al. 2019 and Balduzzi et al. 2018 use these to compare learners).

Values are the negated losses, ``V_i = -L_i``, so the rules of :mod:`agents.rules` (which ascend
values) apply unchanged; the engine reports the losses. Initial parameters: N(0, init_std^2)
per coordinate, from the match seed as everywhere else (:mod:`agents.seeding`). Fixed strategies
are not defined for these games. A match whose parameters leave the game's ``param_bound``
(default 10^6, some orders beyond the games' fixed points, which lie within |theta| <= 10) is
marked diverged. Torch-free, as :mod:`tournament.games` (the losses use only the methods of
the tensors they get).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

Losses = Callable[["Tensor", "Tensor"], tuple["Tensor", "Tensor"]]


@dataclass(frozen=True)
class DifferentiableGame:
    """``losses(x, y) -> (L1, L2)`` on [B, dims] parameters of each player, [B] each.
    ``symmetric``: L2(x, y) = L1(y, x), so the two seats are alike. ``param_bound``: a match
    whose parameters leave ``|theta_i| <= param_bound`` has diverged (the engine marks it as it
    marks non-finite values): far beyond any fixed point of the game, where the losses' float
    values mean nothing."""

    name: str
    dims: int
    losses: Losses
    init_std: float
    description: str
    symmetric: bool
    param_bound: float = 1e6

    def values(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        loss_x, loss_y = self.losses(x, y)
        return -loss_x, -loss_y


def _tandem(x, y):
    s = (x + y).sum(dim=1)
    return s**2 - 2 * x.sum(dim=1), s**2 - 2 * y.sum(dim=1)


def _matching_pennies(x, y):
    p, q = x[:, 0].sigmoid(), y[:, 0].sigmoid()
    loss = p * q - p * (1 - q) - (1 - p) * q + (1 - p) * (1 - q)  # x^T [[1, -1], [-1, 1]] y
    return loss, -loss


DIFFERENTIABLE_GAMES: dict[str, DifferentiableGame] = {
    "tandem": DifferentiableGame(
        "tandem",
        1,
        _tandem,
        init_std=0.1,
        description="Tandem (Letcher et al. 2019): L1 = (x+y)^2 - 2x, L2 = (x+y)^2 - 2y; "
        "stable fixed points x + y = 1",
        symmetric=True,
    ),
    "matching_pennies": DifferentiableGame(
        "matching_pennies",
        1,
        _matching_pennies,
        init_std=1.0,
        description="one-shot matching pennies, P(heads) = sigmoid(theta), as in Letcher et al.'s "
        "code: L1 = -L2 = p^T [[1, -1], [-1, 1]] q; Nash at p = q = 1/2",
        symmetric=False,
    ),
}
