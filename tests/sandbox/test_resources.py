"""Attack: resource exhaustion (cartesian joins, recursive CTEs, time and size limits)."""

from __future__ import annotations

import pytest

from datacompact.errors import PolicyViolation, QueryFailed
from datacompact.sandbox import Limits

from ._helpers import refused, run


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT COUNT(*) FROM sbk, visits",
        "SELECT COUNT(*) FROM sbk CROSS JOIN visits",
        "SELECT COUNT(*) FROM sbk AS a JOIN visits AS b ON 1 = 1",
        "SELECT COUNT(*) FROM sbk AS a JOIN visits AS b ON a.pid = a.pid",
        "SELECT COUNT(*) FROM sbk AS a JOIN visits AS b ON a.age > 3",
        "SELECT COUNT(*) FROM sbk AS a NATURAL JOIN visits AS b",
        "SELECT COUNT(*) FROM sbk POSITIONAL JOIN visits",
    ],
)
def test_cartesian_joins_are_refused(sql, grant_for, engine):
    refused(sql, grant_for("records"), engine, rule="cartesian_join")


def test_recursive_cte_is_refused(grant_for, engine):
    sql = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r"
    refused(sql, grant_for("records"), engine)


def test_too_many_joins(grant_for, engine):
    joins = " ".join(f"JOIN biz AS b{i} ON s.district = b{i}.district" for i in range(5))
    refused(
        f"SELECT COUNT(*) FROM sbk AS s {joins}", grant_for("records"), engine, rule="max_joins"
    )


def test_time_limit_interrupts(grant_for, engine):
    # An equality join on a constant-valued key multiplies rows without a cartesian syntax.
    sql = (
        "SELECT COUNT(*) FROM visits AS a JOIN visits AS b ON a.clinic = b.clinic "
        "JOIN visits AS c ON b.clinic = c.clinic JOIN visits AS d ON c.clinic = d.clinic "
        "JOIN visits AS e ON d.clinic = e.clinic"
    )
    with pytest.raises(QueryFailed) as info:
        run(sql, grant_for("records"), engine, limits=Limits(timeout_seconds=0.2, max_joins=4))
    assert info.value.details == {"error": "InterruptException"}


def test_result_rows_are_capped(grant_for, engine):
    result = run(
        "SELECT pid FROM visits", grant_for("records"), engine, limits=Limits(max_result_rows=5)
    )
    assert result.rows.num_rows == 5
    assert result.truncated


def test_node_limit(grant_for, engine):
    sql = "SELECT " + " + ".join(["age"] * 300) + " FROM sbk"
    with pytest.raises(PolicyViolation) as info:
        run(sql, grant_for("records"), engine, limits=Limits(max_nodes=200))
    assert info.value.details["rule"] == "max_nodes"
    assert run(sql, grant_for("records"), engine).rows.num_rows == 42
