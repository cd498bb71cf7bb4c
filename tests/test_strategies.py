"""Every fixed strategy against its definition; Extort-2 extorts."""

import pytest
import torch

from agents.spec import AgentSpec
from agents.strategies import STRATEGIES, extortionate, fixed_p_coop, model_logits
from tournament.games import GAMES, symmetric_game
from tournament.values import reward_per_step

IPD = GAMES["ipd"]
C, D = True, False
# The states after the start, as (own last action, other's last action).
LAST = [(C, C), (C, D), (D, C), (D, D)]

# Each strategy's definition: (P(C) at the start, P(C) after (own, other)).
DEFINITIONS = {
    "allc": (1, lambda own, other: 1),
    "alld": (0, lambda own, other: 0),
    "tft": (1, lambda own, other: 1 if other else 0),
    "stft": (0, lambda own, other: 1 if other else 0),
    "gtft": (1, lambda own, other: 1 if other else 1 / 3),
    "grim": (1, lambda own, other: 1 if own and other else 0),
    "wsls": (1, lambda own, other: 1 if own == other else 0),
    "alternator": (1, lambda own, other: 0 if own else 1),
}


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_strategy_probabilities_follow_its_definition(name):
    start, after = DEFINITIONS[name]
    expected = (start, *(after(own, other) for own, other in LAST))
    assert fixed_p_coop(name, IPD.payoffs_row) == pytest.approx(expected, abs=0)


def test_every_strategy_is_checked_against_its_definition():
    """Each strategy of the table has a definition above (Extort-2: the tests below)."""
    assert set(STRATEGIES) == set(DEFINITIONS) | {"extort2"}


def test_random_and_memory_one_use_the_given_probabilities():
    assert fixed_p_coop("random", IPD.payoffs_row, (0.3,)) == (0.3,) * 5
    assert AgentSpec("random").p == (0.5,)
    spec = AgentSpec("memory1", p=(1, 0.5, 0, 1, 0.25))
    assert fixed_p_coop(spec.kind, IPD.payoffs_row, spec.p) == (1, 0.5, 0, 1, 0.25)


def test_extort2_in_the_classical_game_is_press_and_dyson_vector():
    assert extortionate((3, 0, 5, 1)) == pytest.approx((1, 8 / 9, 1 / 2, 1 / 3, 0))


@pytest.mark.parametrize("payoffs", [(-1, -3, 0, -2), (3, 0, 5, 1), (2, -1, 3, 0)])
def test_extort2_surplus_is_twice_the_opponents_against_any_memory_one(payoffs):
    game = symmetric_game("pd", payoffs)
    mutual_defection = payoffs[3]
    gen = torch.Generator().manual_seed(3)
    opponents = torch.rand(64, 5, generator=gen, dtype=torch.float64)
    extort = torch.tensor([extortionate(payoffs)] * 64, dtype=torch.float64)
    v_x, v_y = reward_per_step(game, extort, opponents, 0.9999)  # ~undiscounted limit
    surplus_x, surplus_y = v_x - mutual_defection, v_y - mutual_defection
    assert torch.allclose(surplus_x, 2 * surplus_y, atol=5e-3)
    assert (surplus_x >= -1e-3).all()  # the extortioner never does worse than mutual defection


def test_extort2_needs_a_prisoners_dilemma():
    with pytest.raises(ValueError, match="extort2: needs a prisoner's dilemma"):
        extortionate(GAMES["stag_hunt"].payoffs_row)


def test_model_logits_clamp_to_documented_epsilon():
    logits = torch.tensor(model_logits((0.0, 1.0, 0.5, 0.25, 1e-9)), dtype=torch.float64)
    assert torch.sigmoid(logits).tolist() == pytest.approx([1e-6, 1 - 1e-6, 0.5, 0.25, 1e-6])
