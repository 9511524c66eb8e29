"""Attack: isolating one row with CASE or a scalar subquery inside an aggregate."""

from __future__ import annotations

import pytest

from ._helpers import refused, run

ISOLATING = [
    "SELECT SUM(CASE WHEN age = 40 THEN income ELSE 0 END) FROM sbk",
    "SELECT SUM(IF(age = 40, income, 0)) FROM sbk",
    "SELECT SUM(income * (age // 40)) FROM sbk",
    "SELECT AVG(COALESCE(NULLIF(age, 40), 0)) FROM sbk",
    "SELECT SUM((SELECT MAX(income) FROM sbk)) FROM sbk",
    "SELECT district, (SELECT income FROM sbk LIMIT 1) FROM sbk GROUP BY district",
    "SELECT MAX(income) FROM sbk",
    "SELECT MIN(age), district FROM sbk GROUP BY district",
    "SELECT MEDIAN(income) FROM sbk",
    "SELECT SUM(x) FROM (SELECT CASE WHEN age = 40 THEN income END AS x FROM sbk)",
    "WITH t AS (SELECT income FROM sbk WHERE age = 40) SELECT SUM(income) FROM t",
    "SELECT district, COUNT(*) OVER () FROM sbk",
    "SELECT district FROM sbk",
    "SELECT COUNT(*) FROM sbk UNION ALL SELECT COUNT(*) FROM sbk",
    "SELECT COUNT(*) FROM sbk HAVING MAX(income) > 8000",
]


@pytest.mark.parametrize("sql", ISOLATING)
def test_isolating_shapes_are_refused(sql, grant_for, engine):
    refused(sql, grant_for("aggregates"), engine)


def test_where_isolation_is_suppressed_by_entity_threshold(grant_for, engine):
    # Filtering down to one person is allowed, but the group then has one entity.
    result = run("SELECT SUM(income) AS s FROM sbk WHERE age = 40", grant_for("aggregates"), engine)
    assert result.rows.num_rows == 0


def test_filtering_subquery_is_refused_and_a_join_says_the_same(grant_for, engine):
    # A subquery's rows escape the entity threshold; the join
    # filters the same way and each joined table with an entity is thresholded.
    subquery = (
        "SELECT COUNT(*) AS n FROM sbk WHERE district IN "
        "(SELECT district FROM biz WHERE sector = 'it')"
    )
    refused(subquery, grant_for("aggregates"), engine, rule="aggregate_shape:subquery")
    join = (
        "SELECT COUNT(*) AS n FROM sbk JOIN biz ON sbk.district = biz.district "
        "WHERE biz.sector = 'it'"
    )
    assert run(join, grant_for("aggregates"), engine).rows.column("n").to_pylist() == [26]


def test_records_mode_allows_case(grant_for, engine):
    sql = "SELECT CASE WHEN age > 30 THEN 'old' ELSE 'young' END AS band FROM sbk LIMIT 1"
    assert run(sql, grant_for("records"), engine).rows.num_rows == 1
