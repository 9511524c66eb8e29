"""Column constraints: every use of every constraint, in every clause.

The grant below gives each constraint to one column of ``sbk``. Each cell of
the table in :mod:`datacompact.sandbox.rules.column_constraints` is checked
once (accepted cells also run on DuckDB), then each clause with an accepted
and a refused case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from datacompact.errors import PolicyViolation
from datacompact.sandbox import ColumnRule, GrantedTable, GrantView, OutputMode, govern
from datacompact.sandbox.grants import CONSTRAINT_USES, ColumnConstraint, ColumnUse

from ._helpers import refused, run

#: The column that carries each constraint, and a constant to compare it with.
COLUMN: dict[ColumnConstraint, tuple[str, str]] = {
    "plain": ("district", "'d0'"),
    "group_by_only": ("birth", "DATE '1990-06-01'"),
    "aggregate_only": ("income", "3000"),
    "compare_only": ("age", "30"),
    "join_only": ("pid", "'x'"),
    "none": ("phone", "'138'"),
}

#: One query per use; ``{c}`` is the column, ``{v}`` its constant.
USE_SQL: dict[ColumnUse, str] = {
    "output": "SELECT {c} FROM sbk",
    "group_key": "SELECT {c}, COUNT(*) AS n FROM sbk GROUP BY {c}",
    "compare": "SELECT district FROM sbk WHERE {c} > {v}",
    "aggregate": "SELECT SUM({c}) AS s FROM sbk",
    "count": "SELECT COUNT(DISTINCT {c}) AS n FROM sbk",
    "join": "SELECT a.district FROM sbk AS a JOIN sbk AS b ON a.{c} = b.{c}",
}
#: SUM and AVG need a number.
_NUMERIC = {"income", "age"}


def constrained(paths: dict[str, Path], mode: OutputMode = "records") -> GrantView:
    sbk = GrantedTable(
        name="sbk",
        parquet_path=str(paths["sbk"]),
        columns={
            "pid": ColumnRule(mask="pseudonym", entity_key=True, constraint="join_only"),
            "district": ColumnRule(),
            "age": ColumnRule(dp_bounds=(0.0, 120.0), constraint="compare_only"),
            "income": ColumnRule(dp_bounds=(0.0, 20_000.0), constraint="aggregate_only"),
            "phone": ColumnRule(mask="partial", constraint="none"),
            "birth": ColumnRule(mask="truncate_date", constraint="group_by_only"),
        },
        row_filter="age >= 18",
        output_mode=mode,
        entity_column="pid",
    )
    visits = GrantedTable(
        name="visits",
        parquet_path=str(paths["visits"]),
        columns={
            "pid": ColumnRule(mask="pseudonym", entity_key=True, constraint="join_only"),
            "clinic": ColumnRule(),
        },
        output_mode=mode,
        entity_column="pid",
    )
    biz = GrantedTable(
        name="biz",
        parquet_path=str(paths["biz"]),
        columns={"district": ColumnRule(), "sector": ColumnRule()},
        output_mode="records",
    )
    return GrantView(grant_id="g-ccl", tables={"sbk": sbk, "visits": visits, "biz": biz})


@pytest.fixture
def grant(paths: dict[str, Path]) -> GrantView:
    return constrained(paths)


def refusal(sql: str, grant: GrantView) -> PolicyViolation:
    with pytest.raises(PolicyViolation) as info:
        govern(sql, grant)
    assert info.value.details["rule"] == "column_constraint", info.value.details
    assert " / " in info.value.message
    return info.value


def none_refusal(sql: str, grant: GrantView) -> None:
    """A ``none`` column is refused by its constraint, or not even resolved.

    The analyzer qualifies against :attr:`GrantedTable.visible_columns` once
    it reads them, and a ``none`` column is then unknown to the query.
    """
    with pytest.raises(PolicyViolation) as info:
        govern(sql, grant)
    assert info.value.details["rule"] in {"column_constraint", "column_not_granted"}
    assert info.value.details["column"] == "phone"


CELLS = [(constraint, use) for constraint in COLUMN for use in USE_SQL]


@pytest.mark.parametrize(("constraint", "use"), CELLS, ids=[f"{c}-{u}" for c, u in CELLS])
def test_each_constraint_allows_exactly_its_uses(grant, engine, constraint, use):
    column, value = COLUMN[constraint]
    sql = USE_SQL[use].format(c=column, v=value)
    if use in CONSTRAINT_USES[constraint]:
        if use == "aggregate" and column not in _NUMERIC:
            govern(sql, grant)  # DuckDB cannot sum text; the analysis is what is tested
        else:
            assert run(sql, grant, engine).rows.num_columns >= 1
        return
    if constraint == "none":
        none_refusal(sql, grant)
        return
    error = refusal(sql, grant)
    assert error.details == {
        "rule": "column_constraint",
        "table": "sbk",
        "column": column,
        "constraint": constraint,
        "use": use,
    }
    assert f"column sbk.{column} is {constraint}" in error.message


def test_the_table_is_the_documented_one():
    assert {c: sorted(u - {"reference"}) for c, u in CONSTRAINT_USES.items()} == {
        "plain": ["aggregate", "compare", "count", "group_key", "join", "output"],
        "group_by_only": ["compare", "count", "group_key", "join"],
        "aggregate_only": ["aggregate", "count"],
        "compare_only": ["compare", "count"],
        "join_only": ["count", "join"],
        "none": [],
    }


ACCEPTED = {
    # WHERE: one column and constants, however combined.
    "where expression": "SELECT district FROM sbk WHERE age + 1 > 31",
    "where case": "SELECT district FROM sbk WHERE CASE WHEN age > 30 THEN 1 ELSE 0 END = 1",
    "where in list": "SELECT district FROM sbk WHERE age IN (30, 31) OR age BETWEEN 40 AND 50",
    "where not": "SELECT district FROM sbk WHERE NOT (age > 30) AND age IS NOT NULL",
    "where key column": "SELECT district FROM sbk WHERE birth < DATE '1990-06-01'",
    # HAVING: aggregates of aggregate_only, keys of group_by_only, counts of join_only.
    "having sum": (
        "SELECT district, COUNT(*) AS n FROM sbk GROUP BY district HAVING SUM(income) > 1000"
    ),
    "having key": (
        "SELECT birth, COUNT(*) AS n FROM sbk GROUP BY birth HAVING birth > DATE '1990-06-01'"
    ),
    "having count": ("SELECT district FROM sbk GROUP BY district HAVING COUNT(DISTINCT pid) > 1"),
    "key expression": "SELECT YEAR(birth) AS y, COUNT(*) AS n FROM sbk GROUP BY YEAR(birth)",
    "key alias": "SELECT birth AS b, COUNT(*) AS n FROM sbk GROUP BY b ORDER BY b",
    # QUALIFY: a row filter after the windows.
    "qualify": (
        "SELECT district, ROW_NUMBER() OVER (PARTITION BY district) AS r FROM sbk "
        "QUALIFY r = 1 AND age > 30"
    ),
    # ON: a join key and a comparison with constants.
    "on self join": "SELECT a.district FROM sbk AS a JOIN sbk AS b ON a.pid = b.pid AND b.age > 30",
    "on two tables": "SELECT s.district FROM sbk AS s JOIN visits AS v ON s.pid = v.pid",
    "using": "SELECT a.district FROM sbk AS a JOIN sbk AS b USING (birth)",
    # EXISTS and IN subqueries.
    "exists correlated": (
        "SELECT district FROM sbk AS s WHERE EXISTS "
        "(SELECT 1 FROM visits AS v WHERE v.pid = s.pid AND v.clinic = 'c1')"
    ),
    "in subquery": "SELECT district FROM sbk WHERE pid IN (SELECT pid FROM visits)",
    "scalar count": (
        "SELECT s.district, (SELECT COUNT(*) FROM visits AS v WHERE v.pid = s.pid) AS n "
        "FROM sbk AS s"
    ),
    "exists discards its outputs": (
        "SELECT district FROM sbk WHERE EXISTS (SELECT income FROM sbk AS o WHERE o.age > 60)"
    ),
    # Windows over plain columns, ORDER BY of keys and aggregates.
    "window plain": "SELECT district, COUNT(*) OVER (PARTITION BY district) AS n FROM sbk",
    "order by key": "SELECT birth, COUNT(*) AS n FROM sbk GROUP BY birth ORDER BY birth",
    "order by aggregate": (
        "SELECT district, SUM(income) AS s FROM sbk GROUP BY district ORDER BY SUM(income)"
    ),
    # Derived tables and CTEs pass a column on to where it is used.
    "derived compare": "SELECT x.district FROM (SELECT district, age FROM sbk) AS x WHERE x.age > 30",
    "cte key": "WITH c AS (SELECT birth AS b FROM sbk) SELECT b, COUNT(*) AS n FROM c GROUP BY b",
    "grouped cte filtered": (
        "WITH g AS (SELECT birth, COUNT(*) AS n FROM sbk GROUP BY birth) "
        "SELECT birth, n FROM g WHERE n > 1"
    ),
    "derived distinct count": "SELECT COUNT(*) AS n FROM (SELECT DISTINCT age FROM sbk) AS x",
    "count and avg": "SELECT COUNT(age) AS n, AVG(DISTINCT income) AS m FROM sbk",
}


@pytest.mark.parametrize("sql", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_allowed_uses_in_every_clause(grant, engine, sql):
    assert run(sql, grant, engine).rows.num_columns >= 1


REFUSED: dict[str, tuple[str, str, ColumnUse]] = {
    # WHERE: compared with another column, or a comparison used as a value.
    "where other column": (
        "SELECT district FROM sbk WHERE age > LENGTH(district)",
        "age",
        "output",
    ),
    "where two predicates compared": (
        "SELECT district FROM sbk WHERE (age > 30) = (district = 'd0')",
        "age",
        "output",
    ),
    "where join column compared": ("SELECT district FROM sbk WHERE pid = 'x'", "pid", "compare"),
    "where aggregate column": ("SELECT district FROM sbk WHERE income > 3000", "income", "compare"),
    # HAVING: one row's value, or an expression inside the aggregate.
    "having max": (
        "SELECT district FROM sbk GROUP BY district HAVING MAX(income) > 1000",
        "income",
        "output",
    ),
    "having expression": (
        "SELECT district FROM sbk GROUP BY district HAVING SUM(income * 2) > 1000",
        "income",
        "output",
    ),
    # GROUP BY: a key built from two columns, an output that is not the key, DISTINCT.
    "mixed key": (
        "SELECT birth || district AS k, COUNT(*) AS n FROM sbk GROUP BY birth || district",
        "birth",
        "output",
    ),
    "not the key": ("SELECT birth FROM sbk GROUP BY YEAR(birth)", "birth", "output"),
    "distinct": ("SELECT DISTINCT birth FROM sbk", "birth", "output"),
    "group by all passed on": (
        "SELECT x.birth FROM (SELECT birth FROM sbk GROUP BY ALL) AS x",
        "birth",
        "output",
    ),
    "window over a key": (
        "SELECT birth, COUNT(*) OVER (PARTITION BY birth) AS n FROM sbk GROUP BY birth",
        "birth",
        "output",
    ),
    # QUALIFY and windows: ordering or partitioning rows by the value.
    "qualify window order": (
        "SELECT district FROM sbk QUALIFY ROW_NUMBER() OVER (ORDER BY age) = 1",
        "age",
        "output",
    ),
    "window partition": (
        "SELECT district, COUNT(*) OVER (PARTITION BY birth) AS n FROM sbk",
        "birth",
        "output",
    ),
    "window sum": (
        "SELECT district, SUM(income) OVER (PARTITION BY district) AS s FROM sbk",
        "income",
        "output",
    ),
    # ON: another row's value, a column that cannot join, a looser partner.
    "on other row": (
        "SELECT a.district FROM sbk AS a JOIN sbk AS b ON a.district = b.district "
        "AND a.age > b.age",
        "age",
        "output",
    ),
    "on aggregate column": (
        "SELECT a.district FROM sbk AS a JOIN sbk AS b ON a.income = b.income",
        "income",
        "join",
    ),
    "on looser partner": (
        "SELECT s.district FROM sbk AS s JOIN biz AS b ON s.pid = b.district",
        "pid",
        "join",
    ),
    # EXISTS and IN: another row's value, a link to a looser column.
    "exists other row": (
        "SELECT district FROM sbk AS s WHERE EXISTS "
        "(SELECT 1 FROM sbk AS o WHERE o.income > s.income)",
        "income",
        "output",
    ),
    "in looser column": (
        "SELECT district FROM sbk WHERE pid IN (SELECT clinic FROM visits)",
        "pid",
        "join",
    ),
    "in compare column": (
        "SELECT district FROM sbk WHERE age IN (SELECT age FROM sbk WHERE district = 'd2')",
        "age",
        "join",
    ),
    "scalar subquery compared": (
        "SELECT district FROM sbk WHERE income > (SELECT AVG(income) FROM sbk)",
        "income",
        "output",
    ),
    # ORDER BY of rows.
    "order by": ("SELECT district FROM sbk ORDER BY age", "age", "output"),
    "order by join column": ("SELECT district FROM sbk ORDER BY pid", "pid", "output"),
    # Aggregates that return one row's value or isolate one.
    "max": ("SELECT MAX(income) AS m FROM sbk", "income", "output"),
    "case in sum": (
        "SELECT SUM(CASE WHEN district = 'd3' THEN income END) AS s FROM sbk",
        "income",
        "output",
    ),
    # Derived tables: traced to the outer use; computed or ambiguous outputs are outputs.
    "derived output": ("SELECT x.age FROM (SELECT age FROM sbk) AS x", "age", "output"),
    "derived computed": ("SELECT x.a2 FROM (SELECT age * 2 AS a2 FROM sbk) AS x", "age", "output"),
    "derived repeated name": (
        "SELECT x.b FROM (SELECT district AS b, birth AS b FROM sbk) AS x",
        "birth",
        "output",
    ),
    "union": (
        "SELECT district FROM sbk UNION SELECT CAST(age AS TEXT) FROM sbk",
        "age",
        "output",
    ),
}


@pytest.mark.parametrize(("sql", "column", "use"), REFUSED.values(), ids=REFUSED.keys())
def test_refused_uses_in_every_clause(grant, sql, column, use):
    error = refusal(sql, grant)
    assert (error.details["column"], error.details["use"]) == (column, use)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT COUNT(phone) AS n FROM sbk",
        "SELECT x.district FROM (SELECT district, phone FROM sbk) AS x",
        "SELECT district FROM sbk WHERE EXISTS (SELECT phone FROM sbk AS o)",
        "SELECT district FROM sbk WHERE phone IS NULL",
    ],
)
def test_none_allows_nothing_not_even_a_pass_through(grant, sql):
    none_refusal(sql, grant)


def test_limit_never_reads_a_column(grant, engine):
    refused("SELECT district FROM sbk LIMIT (SELECT MAX(age) FROM sbk)", grant, engine)


def test_refusals_name_columns_never_values(grant):
    error = refusal("SELECT district FROM sbk WHERE pid = '1101051990000x0000'", grant)
    assert "1101051990000x0000" not in error.message
    assert "1101051990000x0000" not in str(error.details)
    assert error.message.startswith("列 sbk.pid 的约束为 join_only")


def _masked_with_none(paths: dict[str, Path]) -> GrantView:
    sbk = GrantedTable(
        name="sbk",
        parquet_path=str(paths["sbk"]),
        columns={
            "district": ColumnRule(),
            "age": ColumnRule(),
            "phone": ColumnRule(mask="partial", constraint="none"),
        },
        output_mode="masked_records",
    )
    return GrantView(grant_id="g-star", tables={"sbk": sbk})


def test_star_never_shows_a_none_column(paths, engine):
    # Refused by the constraint, or expanded without the column (see the next test).
    try:
        result = run("SELECT * FROM sbk", _masked_with_none(paths), engine)
    except PolicyViolation as exc:
        assert (exc.details["column"], exc.details["constraint"]) == ("phone", "none")  # noqa: PT017 - either outcome is checked
    else:
        assert "phone" not in result.rows.column_names


def test_star_expands_to_visible_columns_only(paths, engine):
    result = run("SELECT * FROM sbk", _masked_with_none(paths), engine)
    assert result.rows.column_names == ["district", "age"]


def test_visible_columns_leave_out_none_only(grant):
    assert grant.tables["sbk"].visible_columns == ("pid", "district", "age", "income", "birth")


def test_star_over_a_column_that_may_not_be_output_is_refused(grant):
    error = refusal("SELECT * FROM sbk", grant)
    assert (error.details["column"], error.details["use"]) == ("pid", "output")


# --- aggregate modes ---------------------------------------------------------

AGGREGATE_MODES: list[OutputMode] = ["aggregates", "dp_aggregates"]
ANALYST = (
    "SELECT district, COUNT(*) AS n, AVG(income) AS mean_income FROM sbk "
    "WHERE age > 30 GROUP BY district"
)


@pytest.mark.parametrize("mode", AGGREGATE_MODES)
def test_the_analysts_query_runs_under_aggregate_modes(paths, engine, mode):
    result = run(ANALYST, constrained(paths, mode), engine)
    assert result.rows.column_names == ["district", "n", "mean_income"]


@pytest.mark.parametrize("mode", AGGREGATE_MODES)
def test_identifiers_are_never_group_keys(paths, mode):
    error = refusal("SELECT pid, COUNT(*) AS n FROM sbk GROUP BY pid", constrained(paths, mode))
    assert (error.details["column"], error.details["use"]) == ("pid", "group_key")


#: A fact about one record of another scope, copied onto every released group.
SUBQUERY_ATTACKS = [
    "SELECT district, COUNT(*) AS n FROM sbk WHERE EXISTS "
    "(SELECT 1 FROM sbk AS o WHERE o.income = 4000.0 AND o.district = 'd3') GROUP BY district",
    "SELECT district, COUNT(*) AS n FROM sbk WHERE NOT EXISTS "
    "(SELECT 1 FROM visits AS v WHERE v.clinic = 'c2') GROUP BY district",
    "SELECT COUNT(*) AS n FROM sbk WHERE district IN "
    "(SELECT district FROM sbk AS o WHERE o.age = 40 AND o.income = 5000.0)",
]


@pytest.mark.parametrize("mode", AGGREGATE_MODES)
@pytest.mark.parametrize("sql", SUBQUERY_ATTACKS)
def test_subqueries_are_refused_under_aggregate_modes(grant_for, engine, mode, sql):
    refused(sql, grant_for(mode), engine, rule="aggregate_shape:subquery")


def test_the_same_subquery_filters_rows_under_records(grant_for, engine):
    # Row by row there is no threshold to escape: the subquery is only a filter.
    assert run(SUBQUERY_ATTACKS[0], grant_for("records"), engine).rows.num_rows >= 1


@pytest.mark.parametrize("mode", AGGREGATE_MODES)
@pytest.mark.parametrize(
    "group",
    ["ROLLUP (district)", "CUBE (district)", "GROUPING SETS ((district), ())"],
)
def test_subtotals_are_refused_under_aggregate_modes(grant_for, engine, mode, group):
    # A total minus its released sub-totals would show a suppressed group.
    sql = f"SELECT district, COUNT(*) AS n FROM sbk GROUP BY {group}"
    refused(sql, grant_for(mode), engine, rule="node_not_allowed")
