"""Hard limits at analysis: depth, size, cartesian joins, counts.

Everything here is refused before any data is read, so a refusal may name
its rule. The fuzz test drives the parser entry with very deep and very wide
inputs and checks that the outcome is always a plan or a typed error, quickly.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from datacompact.errors import DataCompactError, InvalidInput, PolicyViolation
from datacompact.sandbox import Limits, Plan, analyze

from . import _data
from ._helpers import refused, run


def _nest(opening: str, closing: str) -> Callable[[int], str]:
    return lambda n: "SELECT " + opening * n + "age" + closing * n + " AS x FROM sbk"


def _chain(separator: str, term: str = "age") -> Callable[[int], str]:
    return lambda n: "SELECT " + separator.join([term] * n) + " AS x FROM sbk"


#: Builders of deep or wide SQL, each from a size. The sizes drawn run from a
#: handful (accepted) to past every limit (refused).
SHAPES: dict[str, Callable[[int], str]] = {
    "parens": _nest("(", ")"),
    "functions": _nest("abs(", ")"),
    "casts": _nest("CAST(", " AS BIGINT)"),
    "case": _nest("CASE WHEN age > 1 THEN ", " END"),
    "brackets": _nest("[", "]"),
    "subqueries": lambda n: "SELECT age FROM " + "(SELECT age FROM " * n + "sbk" + ") AS s" * n,
    "in_subqueries": lambda n: (
        "SELECT age FROM sbk WHERE "
        + "age IN (SELECT age FROM sbk WHERE " * n
        + "age > 1"
        + ")" * n
    ),
    "not": lambda n: "SELECT age FROM sbk WHERE " + "NOT " * n + "age > 1",
    "not_parens": lambda n: "SELECT age FROM sbk WHERE " + "NOT (" * n + "age > 1" + ")" * n,
    "negation": lambda n: "SELECT " + "- " * n + "age AS x FROM sbk",
    "postfix_casts": lambda n: "SELECT age" + "::BIGINT" * n + " AS x FROM sbk",
    "plus": _chain(" + "),
    "mixed_arithmetic": lambda n: (
        "SELECT age" + "".join(" + age" if i % 2 else " - age" for i in range(n)) + " AS x FROM sbk"
    ),
    "and": lambda n: "SELECT age FROM sbk WHERE " + " AND ".join(["age > 1"] * n),
    "or": lambda n: "SELECT age FROM sbk WHERE " + " OR ".join(["age > 1"] * n),
    "and_or": lambda n: (
        "SELECT age FROM sbk WHERE "
        + " ".join(f"age = {i} {'AND' if i % 2 else 'OR'}" for i in range(n))
        + " age = 0"
    ),
    "union": lambda n: " UNION ".join(["SELECT age FROM sbk"] * n),
    "union_except": lambda n: (
        "SELECT age FROM sbk"
        + "".join(f" {'UNION' if i % 2 else 'EXCEPT'} SELECT age FROM sbk" for i in range(n))
    ),
    "in_list": lambda n: "SELECT age FROM sbk WHERE age IN (" + ", ".join(map(str, range(n))) + ")",
    "select_list": lambda n: "SELECT " + ", ".join(f"age AS a{i}" for i in range(n)) + " FROM sbk",
    "ctes": lambda n: (
        "WITH "
        + ", ".join(
            f"c{i} AS (SELECT age FROM {'sbk' if i == 0 else f'c{i - 1}'})" for i in range(n)
        )
        + f" SELECT age FROM c{n - 1}"
    ),
}


#: One step of building an expression around the one built so far (``{}``)
#: and a fresh leaf (``{leaf}``): wrappers nest, operators widen, and mixing
#: them gives deep and wide trees at once.
STEPS = (
    "({})",
    "NOT {}",
    "- {}",
    "abs({})",
    "CAST({} AS BIGINT)",
    "{}::BIGINT",
    "CASE WHEN {} THEN {leaf} ELSE 0 END",
    "coalesce({}, {leaf})",
    "[{}]",
    "{} + {leaf}",
    "{} - {leaf}",
    "{leaf} * ({})",
    "{} AND {leaf}",
    "{leaf} OR {}",
    "{} = {leaf}",
    "{} || {leaf}",
    "{} IN ({leaf}, {leaf})",
    "{} IS NOT NULL",
)
LEAVES = ("age", "income", "1", "NULL", "'a'", "district", "sbk.age")


def _expressions() -> st.SearchStrategy[str]:
    """Expressions grown from a leaf by runs of steps: deep, wide or both, never recursive."""

    def grow(seed: str, runs: list[tuple[str, str, int]]) -> str:
        expression = seed
        for step, leaf, times in runs:
            for _ in range(times):
                expression = step.replace("{leaf}", leaf).replace("{}", expression, 1)
        return expression

    leaves = st.sampled_from(LEAVES)
    run = st.tuples(st.sampled_from(STEPS), leaves, _sizes(1_000))
    return st.builds(grow, leaves, st.lists(run, max_size=8))


def _sizes(top: int) -> st.SearchStrategy[int]:
    """Sizes from 1 to ``top``, with the ones around the limits drawn more often."""
    around = [n for n in (10, 23, 24, 25, 40, 50, 64, 128, 129, 500, 1_000, 5_000) if n <= top]
    return st.one_of(st.integers(1, top), st.sampled_from(around))


_fuzz = st.one_of(
    st.tuples(st.sampled_from(sorted(SHAPES)), _sizes(6_000)).map(
        lambda shape: SHAPES[shape[0]](shape[1])
    ),
    _expressions().map(lambda e: f"SELECT {e} AS x FROM sbk"),
    _expressions().map(lambda e: f"SELECT age FROM sbk WHERE {e}"),
)


@pytest.mark.slow
@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sql=_fuzz)
def test_the_parser_entry_never_crashes(sql, paths):
    # How long analysis takes is measured in benchmarks/, not asserted here
    # (a shared, loaded machine makes any bound flaky).
    grant = _data.grant(paths, "records")
    try:
        outcome: object = analyze(sql, grant)
    except DataCompactError as error:
        outcome = error
    # Anything else (RecursionError, IndexError, …) fails the test by escaping.
    assert isinstance(outcome, (Plan, DataCompactError))
    # What the inputs ran into, shown by pytest --hypothesis-show-statistics.
    event("plan" if isinstance(outcome, Plan) else str(outcome.details.get("rule", outcome.code)))


@pytest.mark.parametrize("depth", [50, 500, 5000])
def test_deep_parentheses_are_refused(depth, grant_for, engine):
    refused(SHAPES["parens"](depth), grant_for("records"), engine, rule="max_depth")


@pytest.mark.parametrize(
    "shape", ["parens", "functions", "casts", "case", "not", "not_parens", "subqueries"]
)
def test_nesting_up_to_the_limit_runs(shape, grant_for, engine):
    limit = Limits().max_depth
    # Each level of these shapes costs one or two tokens of depth.
    depth = limit // 2 if shape in ("not_parens", "subqueries") else limit
    assert run(SHAPES[shape](depth), grant_for("records"), engine).rows.num_rows > 0
    refused(SHAPES[shape](limit + 1), grant_for("records"), engine, rule="max_depth")


@pytest.mark.parametrize("shape", ["negation", "postfix_casts", "mixed_arithmetic"])
def test_deep_trees_without_brackets_are_refused(shape, grant_for, engine):
    # No bracket nests here, but the tree is deep: the depth check after parsing catches it.
    sql = SHAPES[shape](Limits().max_tree_depth + 10)
    refused(sql, grant_for("records"), engine, rule="max_depth")


@pytest.mark.parametrize(
    ("shape", "too_many"),
    [("plus", 1_500), ("and", 1_500), ("or", 1_500), ("union", 700), ("in_list", 3_000)],
)
def test_long_chains_are_wide_not_deep(shape, too_many, grant_for, engine):
    # A chain of one operator is written without recursion: bounded by the node count only.
    assert run(SHAPES[shape](200), grant_for("records"), engine).rows.num_rows > 0
    sql = SHAPES[shape](too_many)
    assert len(sql) <= Limits().max_sql_chars
    refused(sql, grant_for("records"), engine, rule="max_nodes")


def test_a_recursion_error_anywhere_is_a_refusal(grant_for, monkeypatch):
    def endless(*args: object, **kwargs: object) -> object:
        return endless(*args, **kwargs)

    limit = sys.getrecursionlimit()
    # The package exports the function under the module's name, hence importlib.
    module = importlib.import_module("datacompact.sandbox.analyze")
    monkeypatch.setattr(module, "traverse_scope", endless)
    with pytest.raises(PolicyViolation) as info:
        analyze("SELECT age FROM sbk", grant_for("records"))
    assert info.value.details["rule"] == "max_depth"
    # Neither cause nor context: a logged traceback cannot run to a thousand frames.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    assert sys.getrecursionlimit() == limit


def test_limits_check_themselves():
    for bad in ({"max_depth": 0}, {"max_tree_depth": 0}, {"timeout_seconds": float("inf")}):
        with pytest.raises(InvalidInput):
            Limits(**bad)
    with pytest.raises(InvalidInput):
        Limits(max_temp_directory_size="lots")


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        # OR at the top: the key equality no longer bounds the join.
        (
            "SELECT COUNT(*) FROM sbk AS a JOIN visits AS b ON a.pid = b.pid OR 1 = 1",
            "cartesian_join",
        ),
        (
            "SELECT COUNT(*) FROM sbk AS a JOIN visits AS b ON (a.pid = b.pid OR a.age > 1)",
            "cartesian_join",
        ),
        # Range-only conditions.
        ("SELECT COUNT(*) FROM sbk AS a JOIN sbk AS b ON a.age < b.age", "cartesian_join"),
        (
            "SELECT COUNT(*) FROM sbk AS a JOIN sbk AS b ON a.age BETWEEN b.age AND b.age + 9",
            "cartesian_join",
        ),
        # An equality of expressions, or of one side with itself, is no key equality.
        ("SELECT COUNT(*) FROM sbk AS a JOIN sbk AS b ON a.age + 0 = b.age", "cartesian_join"),
        (
            "SELECT COUNT(*) FROM sbk AS a JOIN sbk AS b ON lower(a.district) = b.district",
            "cartesian_join",
        ),
        (
            "SELECT COUNT(*) FROM sbk AS a JOIN sbk AS b ON a.age = a.age AND b.age = b.age",
            "cartesian_join",
        ),
        # A second join tied only to the first two, not to itself.
        (
            "SELECT COUNT(*) FROM sbk AS a JOIN biz AS b ON a.district = b.district "
            "JOIN visits AS v ON a.district = b.district",
            "cartesian_join",
        ),
        # Joins cartesian by their keywords.
        (
            "SELECT COUNT(*) FROM sbk AS a ASOF JOIN sbk AS b ON a.district = b.district AND a.age >= b.age",
            "cartesian_join",
        ),
        (
            "SELECT COUNT(*) FROM sbk AS a ASOF LEFT JOIN sbk AS b ON a.district = b.district",
            "cartesian_join",
        ),
        (
            "SELECT COUNT(*) FROM sbk AS a SEMI JOIN biz AS b ON a.district = b.district",
            "cartesian_join",
        ),
        (
            "SELECT COUNT(*) FROM sbk AS a ANTI JOIN biz AS b ON a.district = b.district",
            "cartesian_join",
        ),
        ("SELECT COUNT(*) FROM sbk AS a NATURAL JOIN biz AS b", "cartesian_join"),
        ("SELECT COUNT(*) FROM sbk AS a POSITIONAL JOIN biz AS b", "cartesian_join"),
        ("SELECT COUNT(*) FROM sbk AS a LEFT JOIN biz AS b", "cartesian_join"),
        # A LIKE pattern built from data, once per row pair.
        (
            "SELECT COUNT(*) FROM sbk AS a JOIN sbk AS b ON a.district = b.district "
            "AND a.district LIKE '%' || b.district || '%'",
            "join_pattern",
        ),
        (
            "SELECT COUNT(*) FROM sbk AS a JOIN biz AS b ON a.district ILIKE b.sector",
            "join_pattern",
        ),
    ],
)
def test_cartesian_shaped_joins_are_refused(sql, rule, grant_for, engine):
    error = refused(sql, grant_for("records"), engine, rule=rule)
    assert error.details["rule"] == rule


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT COUNT(*) AS n FROM sbk AS a JOIN biz AS b USING (district)",
        "SELECT COUNT(*) AS n FROM sbk AS a JOIN biz AS b ON (b.district = a.district)",
        # A tautology beside the key equality cannot grow the join.
        "SELECT COUNT(*) AS n FROM sbk AS a JOIN biz AS b ON a.district = b.district AND a.age = a.age",
        # Range and OR terms are fine inside the conjunction.
        "SELECT COUNT(*) AS n FROM sbk AS a JOIN sbk AS b ON a.district = b.district "
        "AND a.age < b.age AND (a.income > 1 OR b.income > 1)",
        "SELECT COUNT(*) AS n FROM sbk AS a LEFT JOIN biz AS b ON a.district = b.district "
        "AND b.sector LIKE 'i%'",
        "SELECT COUNT(*) AS n FROM sbk AS a FULL OUTER JOIN biz AS b ON a.district = b.district "
        "JOIN visits AS v ON v.pid = a.pid",
    ],
)
def test_joins_on_key_equalities_run(sql, grant_for, engine):
    assert run(sql, grant_for("records"), engine).rows.num_rows == 1


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT age FROM sbk LIMIT (SELECT COUNT(*) FROM sbk)",
        "SELECT age FROM sbk LIMIT 1.5",
        "SELECT age FROM sbk LIMIT -1",
        "SELECT age FROM sbk LIMIT 10%",
        "SELECT age FROM sbk LIMIT 99999999999999999999",
        "SELECT age FROM sbk LIMIT 5 OFFSET age",
        "SELECT age FROM sbk LIMIT 5 OFFSET '2'",
    ],
)
def test_limit_and_offset_take_integer_literals(sql, grant_for, engine):
    refused(sql, grant_for("records"), engine)


def test_integer_limit_and_offset_run(grant_for, engine):
    result = run("SELECT age FROM sbk ORDER BY age LIMIT 5 OFFSET 2", grant_for("records"), engine)
    assert result.rows.num_rows == 5
