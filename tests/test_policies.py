"""Policies as functions of stacked parameters (agents/policies.py): initial parameters depend
on a match's seed alone and follow the documented draws (tabular N(0, 1), nn.Linear's default
bounds); the per-match finiteness flag."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.functional import BatchedPolicy, finite_rows
from agents.policies import MLPPolicy, TabularPolicy


@pytest.mark.parametrize("make", [TabularPolicy, lambda: MLPPolicy(16)], ids=["tabular", "mlp"])
def test_initial_parameters_depend_on_the_seed_alone(make):
    policy = BatchedPolicy(make)
    together = policy.init([5, 900, 17, 3], torch.float64)
    alone = policy.init([17], torch.float64)
    for name, t in together.items():
        assert torch.equal(t[2], alone[name][0])
        assert not torch.equal(t[0], t[1])


def test_tabular_initial_logits_are_standard_normal():
    logits = BatchedPolicy(TabularPolicy).init(range(20_000), torch.float64)["logits"]
    assert abs(float(logits.mean())) < 0.02 and abs(float(logits.std()) - 1) < 0.02
    assert abs(float((logits.abs() < 1).double().mean()) - 0.6827) < 0.01  # P(|z| < 1)


def test_mlp_initial_weights_follow_pytorchs_default_bounds():
    """nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases."""
    theta = BatchedPolicy(lambda: MLPPolicy(32)).init(range(2000), torch.float64)
    for name, fan_in in (("0.weight", 5), ("0.bias", 5), ("2.weight", 32), ("2.bias", 32)):
        bound = 1 / np.sqrt(fan_in)
        draws = theta[name]
        assert float(draws.abs().max()) <= bound
        assert abs(float(draws.var()) - bound**2 / 3) < 0.03 * bound**2  # variance of U(-b, b)


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from([torch.float32, torch.float64]),
    cells=st.lists(
        st.tuples(
            st.integers(0, 39),
            st.integers(0, 5),
            st.sampled_from([float("inf"), -float("inf"), float("nan"), "max", "-max"]),
        ),
        max_size=12,
    ),
)
def test_finite_rows_is_isfinite_all_over_each_row(dtype, cells):
    """``finite_rows`` (a row sum of x * 0) flags exactly the rows that ``isfinite().all(1)``
    does, the largest finite values included (whose plain sum would overflow)."""
    x = torch.randn(40, 2, 3, dtype=dtype, generator=torch.Generator().manual_seed(len(cells)))
    big = torch.finfo(dtype).max
    for row, col, value in cells:
        x[row].view(-1)[col] = {"max": big, "-max": -big}.get(value, value)
    x[39] = big  # a finite row whose sum overflows
    expected = x.reshape(40, -1).isfinite().all(dim=1)
    assert torch.equal(finite_rows(x), expected)
    assert bool(expected[39])
