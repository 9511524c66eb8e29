"""Differential privacy through OpenDP: releases, noise, intervals and the budget."""

from __future__ import annotations

import numpy as np
import opendp.prelude as dp
import pyarrow as pa
import pytest

from datacompact.errors import InvalidInput, PolicyViolation, UnknownField
from datacompact.privacy.dp import PrivacyBudget, Release

AGES = np.random.default_rng(0).integers(18, 90, size=500).astype(float)
SEXES = np.array(["M", "F"] * 250)


def budget(epsilon: float = 1.0, **kwargs) -> PrivacyBudget:
    return PrivacyBudget({"age": AGES, "sex": SEXES}, epsilon=epsilon, **kwargs)


def test_count_noise_scale_and_interval() -> None:
    b = budget()
    r = b.count(epsilon=0.5, alpha=0.05)
    assert r.noise_scale == 2.0
    assert r.mechanism == "discrete_laplace"
    half = dp.discrete_laplacian_scale_to_accuracy(2.0, 0.05)
    assert r.interval == (r.value - half, r.value + half)
    assert r.confidence == 0.95
    assert b.spent == 0.5
    assert b.remaining == 0.5


def test_contribution_bound_scales_the_noise() -> None:
    r = budget(max_contributions=3).count(epsilon=0.5)
    assert r.noise_scale == 6.0


def test_sum_and_mean_clamp_and_carry_their_scale() -> None:
    b = budget(epsilon=2.0)
    s = b.sum("age", bounds=(0.0, 100.0), epsilon=0.5)
    # OpenDP's float-sum sensitivity is 100 plus a rounding allowance.
    assert 200.0 <= s.noise_scale < 200.01
    assert isinstance(s.interval, tuple)  # a scalar release
    assert s.interval[1] - s.interval[0] == pytest.approx(
        2 * dp.laplacian_scale_to_accuracy(s.noise_scale, 0.05)
    )
    m = b.mean("age", bounds=(0.0, 100.0), epsilon=1.0, size=500)
    # Sensitivity of a mean of 500 values in [0, 100], as OpenDP's map gives it.
    assert 0.2 <= m.noise_scale < 0.201
    assert b.spent == pytest.approx(1.5)


def test_mean_without_size_spends_half_on_a_count() -> None:
    b = budget()
    m = b.mean("age", bounds=(0.0, 100.0), epsilon=0.5)
    assert m.epsilon == 0.5
    assert b.spent == pytest.approx(0.5)


def test_histogram_has_an_other_bin() -> None:
    b = budget()
    h = b.histogram("sex", categories=["M", "F"], epsilon=0.5)
    assert isinstance(h.value, list)
    assert len(h.value) == 3
    assert h.categories == ["M", "F", "(other)"]
    assert h.noise_scale == 2.0
    assert len(h.interval) == 3
    assert Release(**{**h.__dict__}).to_dict()["categories"] == ["M", "F", "(other)"]


def test_budget_exhaustion_is_refused() -> None:
    b = budget(epsilon=1.0)
    b.count(epsilon=0.5)
    b.sum("age", bounds=(0.0, 100.0), epsilon=0.25)
    b.histogram("sex", categories=["M", "F"], epsilon=0.25)
    assert b.spent == pytest.approx(1.0)
    with pytest.raises(PolicyViolation, match="budget") as info:
        b.count(epsilon=0.125)
    assert info.value.details["budget"] == 1.0
    assert b.spent == pytest.approx(1.0)
    # The odometer itself agrees with the running total.
    assert b.accounted_loss() == pytest.approx(1.0)


def test_a_query_past_the_budget_does_not_spend() -> None:
    b = budget(epsilon=1.0)
    with pytest.raises(PolicyViolation):
        b.count(epsilon=2.0)
    assert b.spent == 0.0
    b.count(epsilon=1.0)
    assert b.remaining == 0.0


def test_arrow_table_input() -> None:
    b = PrivacyBudget(pa.table({"age": AGES}), epsilon=1.0)
    assert b.rows == 500
    assert b.count("age", epsilon=1.0).noise_scale == 1.0


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda b: b.count(epsilon=0), InvalidInput),
        (lambda b: b.sum("age", bounds=(10.0, 1.0), epsilon=0.1), InvalidInput),
        (lambda b: b.sum("salary", bounds=(0.0, 1.0), epsilon=0.1), UnknownField),
        (lambda b: b.histogram("sex", categories=[], epsilon=0.1), InvalidInput),
        (lambda b: b.count(epsilon=0.1, alpha=1.5), InvalidInput),
    ],
)
def test_bad_queries(call, error) -> None:
    with pytest.raises(error):
        call(budget())


@pytest.mark.parametrize(
    "kwargs", [{"epsilon": 0}, {"epsilon": float("inf")}, {"epsilon": 1, "max_contributions": 0}]
)
def test_bad_budgets(kwargs) -> None:
    with pytest.raises(InvalidInput):
        PrivacyBudget({"age": AGES}, **kwargs)
    with pytest.raises(InvalidInput):
        PrivacyBudget({"a": [1, 2], "b": [1]}, epsilon=1)
