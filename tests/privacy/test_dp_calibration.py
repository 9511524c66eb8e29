"""Calibration of grouped DP releases: the noisy threshold, the ε split and the refusals."""

from __future__ import annotations

import math

import pytest

from datacompact.errors import InvalidInput, PolicyViolation
from datacompact.privacy.dp import (
    COUNT_LIMIT,
    MIN_EPSILON,
    RELEASE_DELTA,
    SELECTION_SHARE,
    PrivacyBudget,
    calibrate_release,
    group_selection,
)

COUNT = [("count", None)]


def calibrate(epsilon: float = 1.0, aggregates=COUNT, **kwargs):
    options = {"max_contributions": 1, "min_entities": 10, "grouped": True, **kwargs}
    return calibrate_release(epsilon, aggregates=aggregates, **options)


def test_epsilon_is_split_between_selection_and_aggregates() -> None:
    r = calibrate(0.9, [("count", None), ("sum", (0.0, 10.0)), ("avg", (0.0, 10.0))])
    assert r.selection is not None
    assert r.epsilon == 0.9
    assert r.selection.epsilon <= 0.9 * SELECTION_SHARE
    rest = (0.9 - r.selection.epsilon) / 3
    assert all(a.epsilon <= rest for a in r.aggregates)
    assert all(a.epsilon == pytest.approx(rest, rel=1e-9) for a in r.aggregates)
    count, total, mean = r.aggregates
    assert (count.count is not None, count.total) == (True, None)
    assert (total.count, total.total is not None) == (None, True)
    # AVG: the noisy sum and the noisy count share its part.
    assert mean.count is not None
    assert mean.total is not None
    assert mean.total.loss <= rest / 2


def test_global_release_spends_everything_on_aggregates() -> None:
    r = calibrate(1.0, grouped=False)
    assert r.selection is None
    assert r.delta == 0.0
    assert r.aggregates[0].count is not None
    assert r.aggregates[0].count.scale == pytest.approx(1.0)


def test_count_scale_follows_the_contribution_bound() -> None:
    r = calibrate(1.0, grouped=False, max_contributions=3)
    assert r.aggregates[0].count is not None
    assert r.aggregates[0].count.scale == pytest.approx(3.0)


def test_threshold_rises_as_epsilon_falls_and_never_below_k() -> None:
    thresholds = [
        group_selection(e, max_contributions=1, min_entities=10).threshold for e in (4.0, 1.0, 0.1)
    ]
    assert thresholds == sorted(thresholds)
    assert thresholds[0] >= 10
    assert group_selection(50.0, max_contributions=1, min_entities=10).threshold == 10
    # A threshold of 1 would show a group of one person without noise deciding it.
    assert group_selection(50.0, max_contributions=1, min_entities=0).threshold == 2


def test_delta_is_stated_and_met() -> None:
    s = group_selection(0.5, max_contributions=2, min_entities=10)
    assert 0 < s.delta <= RELEASE_DELTA
    looser = group_selection(0.5, max_contributions=2, min_entities=10, delta=1e-3)
    assert looser.threshold < s.threshold
    assert looser.delta <= 1e-3


def test_calibration_is_cached() -> None:
    assert calibrate(0.7) is calibrate(0.7)


@pytest.mark.parametrize(
    "epsilon", [5e-324, 1e-300, MIN_EPSILON / 2, math.nan, math.inf, -math.inf, 0.0, -1.0]
)
@pytest.mark.parametrize("grouped", [True, False])
def test_epsilon_out_of_calibration_is_refused(epsilon, grouped) -> None:
    with pytest.raises(PolicyViolation) as info:
        calibrate(epsilon, grouped=grouped)
    assert info.value.details == {"rule": "dp_calibration"}
    assert " / " in info.value.message


@pytest.mark.parametrize(
    "aggregates",
    [
        [],
        [("sum", None)],
        [("median", None)],
        [("sum", (1.0, 1.0))],
        [("avg", (0.0, math.inf))],
        [("sum", (-1e308, 1e308))],
    ],
    ids=["none", "sum-unbounded", "unknown-kind", "empty-bounds", "inf-bound", "huge-bounds"],
)
def test_aggregates_out_of_calibration_are_refused(aggregates) -> None:
    with pytest.raises(PolicyViolation) as info:
        calibrate(1.0, aggregates)
    assert info.value.details == {"rule": "dp_calibration"}


def test_contribution_bound_below_one_is_refused() -> None:
    with pytest.raises(PolicyViolation):
        calibrate(1.0, max_contributions=0)


def test_count_scale_limit() -> None:
    # The count scale reaches COUNT_LIMIT exactly at ε = 2**-52 and is accepted;
    # a bound of 2 doubles it past the limit.
    assert calibrate(MIN_EPSILON, grouped=False).aggregates[0].count.scale == COUNT_LIMIT
    with pytest.raises(PolicyViolation):
        calibrate(MIN_EPSILON, grouped=False, max_contributions=2)


def test_releases_are_noisy_values_of_the_right_quantity() -> None:
    # A huge ε makes the noise negligible, so the quantity itself shows.
    count, total, mean = calibrate(
        1e6, [("count", None), ("sum", (0.0, 10.0)), ("avg", (0.0, 10.0))], grouped=False
    ).aggregates
    assert count.release(count=42) == 42.0
    # Values are clamped to the bounds before summing.
    assert total.release(count=3, values=[5.0, 20.0, -4.0]) == pytest.approx(15.0, abs=1e-3)
    assert mean.release(count=3, values=[5.0, 20.0, -4.0]) == pytest.approx(5.0, abs=1e-3)
    # A mean of no values is still a value within the bounds.
    assert 0.0 <= mean.release(count=0, values=[]) <= 10.0
    assert total.release(count=2, values=[math.inf, -math.inf]) == pytest.approx(10.0, abs=1e-3)


def test_selection_keeps_groups_by_noisy_count() -> None:
    s = group_selection(1e3, max_contributions=1, min_entities=10)
    assert s.kept([]) == []
    assert s.kept([500, 1, 9, 10, 11]) == [0, 3, 4]


@pytest.mark.parametrize("epsilon", [1e-300, MIN_EPSILON / 2])
def test_privacy_budget_refuses_epsilon_below_the_floor(epsilon) -> None:
    budget = PrivacyBudget({"v": [1.0, 2.0]}, epsilon=1.0)
    with pytest.raises(InvalidInput):
        budget.count("v", epsilon=epsilon)
    assert budget.spent == 0.0
