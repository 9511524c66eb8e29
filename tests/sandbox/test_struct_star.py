"""Attack: whole-row struct references, COLUMNS(), PIVOT and * expansions."""

from __future__ import annotations

import pytest

from datacompact.sandbox import govern

from ._helpers import refused, run


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT s FROM sbk AS s",
        "SELECT sbk FROM sbk",
        "SELECT to_json(s) FROM sbk AS s",
        "SELECT struct_pack(a := pid) FROM sbk",
        "SELECT {'a': pid} FROM sbk",
        "SELECT row(pid, district) FROM sbk",
        "SELECT COLUMNS('.*') FROM sbk",
        "SELECT COLUMNS(*) FROM sbk",
        "PIVOT sbk ON district USING SUM(income)",
        "SELECT * FROM sbk PIVOT (SUM(income) FOR district IN ('d0'))",
        "UNPIVOT sbk ON age, income INTO NAME k VALUE v",
        "SELECT s.pid.x FROM sbk AS s",
        "SELECT name FROM sbk",
    ],
)
def test_refused(sql, grant_for, engine):
    refused(sql, grant_for("records"), engine)


def test_star_expands_to_granted_columns_only(grant_for, engine):
    result = run("SELECT * FROM sbk LIMIT 1", grant_for("records"), engine)
    assert result.rows.column_names == ["pid", "district", "age", "income", "phone", "birth"]
    assert "name" not in result.rows.column_names


def test_qualified_star_and_exclude(grant_for, engine):
    sql = (
        "SELECT s.* EXCLUDE (phone) FROM sbk AS s JOIN biz AS b ON s.district = b.district LIMIT 1"
    )
    result = run(sql, grant_for("records"), engine)
    assert result.rows.column_names == ["pid", "district", "age", "income", "birth"]


def test_star_in_derived_table_is_masked(grant_for, engine):
    result = run(
        "SELECT t.phone FROM (SELECT * FROM sbk) AS t LIMIT 1", grant_for("records"), engine
    )
    assert "*" in result.rows.column("phone").to_pylist()[0]


def test_star_touches_every_granted_column(grant_for):
    plan = govern("SELECT * FROM sbk", grant_for("records"))
    assert plan.touched["sbk"] == frozenset({"pid", "district", "age", "income", "phone", "birth"})
