"""Attack: differencing, two allowed aggregates that differ by one entity."""

from __future__ import annotations

import pytest

from datacompact.errors import PolicyViolation
from datacompact.sandbox import EpsilonAccount

from ._helpers import refused, run

ALL = "SELECT district, COUNT(*) AS n FROM sbk WHERE district = 'd0' GROUP BY district"
BUT_ONE = (
    "SELECT district, COUNT(*) AS n FROM sbk WHERE district = 'd0' AND age <> 20 GROUP BY district"
)


def test_plain_aggregates_answer_exactly(grant_for, engine):
    # Without DP the two answers differ by exactly the one person: the attack works,
    # which is why important data gets dp_aggregates.
    g = grant_for("aggregates")
    first, second = run(ALL, g, engine), run(BUT_ONE, g, engine)
    assert first.rows.column("n").to_pylist()[0] - second.rows.column("n").to_pylist()[0] == 1


def test_dp_pair_spends_budget_and_third_query_is_refused(grant_for, engine):
    g = grant_for("dp_aggregates", epsilon=1.0)
    account = EpsilonAccount(total=2.0)
    first = run(ALL, g, engine, budget=account)
    second = run(BUT_ONE, g, engine, budget=account)
    assert first.epsilon_spent == second.epsilon_spent == 1.0
    assert account.remaining == 0.0
    with pytest.raises(PolicyViolation) as info:
        run(ALL, g, engine, budget=account)
    assert info.value.details["rule"] == "privacy_budget"


def test_dp_answers_are_noisy(grant_for, engine):
    g = grant_for("dp_aggregates", epsilon=0.5)
    # A global count always has its one row (no group to select); forty fresh
    # accounts of the same query: an exact release would give one value.
    total = "SELECT COUNT(*) AS n FROM sbk WHERE district = 'd0'"
    values = {
        run(total, g, engine, budget=EpsilonAccount(total=0.5)).rows.column("n").to_pylist()[0]
        for _ in range(40)
    }
    assert len(values) > 1


def test_dp_release_without_budget_is_refused(grant_for, engine):
    g = grant_for("dp_aggregates")
    with pytest.raises(PolicyViolation):
        run(ALL, g, engine, budget=None)


def test_dp_refuses_having_and_order(grant_for, engine):
    g = grant_for("dp_aggregates")
    refused(ALL + " HAVING COUNT(*) > 3", g, engine, rule="dp_release")
    refused(ALL + " ORDER BY n", g, engine, rule="dp_release")


def test_dp_sum_needs_bounds(grant_for, engine):
    g = grant_for("dp_aggregates")
    refused("SELECT SUM(pid) FROM sbk", g, engine, rule="dp_release")


def test_dp_small_groups_are_suppressed(grant_for, engine):
    # Groups are chosen on a noisy count against a threshold τ ≥ k; at ε = 8, τ = 10,
    # so d0 (26 adults) and d1 (13) appear but for a chance under 1e-7, d2 and d3 under 1e-14.
    g = grant_for("dp_aggregates", epsilon=8.0)
    result = run(
        "SELECT district, COUNT(*) AS n FROM sbk GROUP BY district",
        g,
        engine,
        budget=EpsilonAccount(total=8.0),
    )
    assert sorted(result.rows.column("district").to_pylist()) == ["d0", "d1"]
