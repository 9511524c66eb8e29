"""The differential test: an outcome never depends on one record.

A grammar (Hypothesis) generates queries full of expressions that make DuckDB
raise on some values: casts of text to numbers and dates, arithmetic next
to the INT32, INT64 and DECIMAL(38) limits, divisions by values that can be
zero, date arithmetic next to the end of the calendar, comparisons of
columns of different types, CASE WHEN on one person's value, nested string
and date functions, aggregates over all of them. Each query runs through the
real pipeline (:func:`~datacompact.sandbox.govern`, then
:meth:`DuckDBEngine.execute`, with an ε account for DP) on the two datasets
of :mod:`._twins`: the two twins, which differ in one person's values only,
and the dataset without that person (one row fewer). The outcome must be the
same on all three: the same refusal or failure (class, message and details),
or success with the same column names and types, and the same
``rows_scanned`` where the mode does not release the slice's size. The
values may differ; that is what each mode releases. The whole answer of the
service (charge, receipt, protection, pages) is compared on datasets that
differ in size in ``tests/policy/test_presence.py``.

``DATACOMPACT_DIFFERENTIAL_EXAMPLES`` sets the number of queries per mode
(the issue asks for 10,000; the default keeps the whole file near a minute
on two cores). The examples are derandomized, so CI sees the same queries
every run. ``test_the_grammar_finds_leaks`` checks the grammar itself: run
without :func:`~datacompact.sandbox.rules.safe_eval.safe_eval`, the same
pipeline must show a difference, or this test would prove nothing.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from datacompact.sandbox import DuckDBEngine, OutputMode

from . import _twins

EXAMPLES = int(os.environ.get("DATACOMPACT_DIFFERENTIAL_EXAMPLES") or "300")
MODES: tuple[OutputMode, ...] = ("masked_records", "aggregates", "dp_aggregates")

S = st.SearchStrategy[str]

# -- the grammar --------------------------------------------------------------------

NUMBERS = ("age", "big", "income", "amount")
TEXTS = ("district", "code", "label", "phone", "pid")
DATES = ("day", "ts", "birth")
NUMBER_LITERALS = (
    "0",
    "1",
    "-1",
    "7",
    "0.5",
    "1000",
    "2147483647",
    "-2147483648",
    "9223372036854775807",
    "1e308",
    "99999999999999999999999999999999999999",
)
TEXT_LITERALS = ("'abc'", "'12'", "''", "'2020-01-01'", "'one-of-a-kind'", "'9999-12-31'")
NUMBER_TYPES = (
    "INTEGER",
    "SMALLINT",
    "BIGINT",
    "HUGEINT",
    "DECIMAL(38,2)",
    "DECIMAL(4,1)",
    "DOUBLE",
)
COMPARISONS = ("=", "<>", "<", ">=")
ARITHMETIC = ("+", "-", "*", "/", "//", "%")
INTERVALS = ("1 DAY", "1000 YEAR", "290000 YEAR", "1000000 DAY", "'1' MONTH")
#: Patterns, positions and formats: literals (accepted) and built from data (refused).
PATTERNS = ("'a%'", "'%1%'", "'%\\'", "'_'", "label", "code || '%'")
POSITIONS = ("1", "0", "-1", "3", "5000000000", "age")
FORMATS = ("'%Y'", "'%Y-%m-%d %H'", "'%Q'", "label")


def _call(template: str, *parts: S) -> S:
    return st.tuples(*parts).map(lambda found: template.format(*found))


def _choose(values: tuple[str, ...] | list[str]) -> S:
    return st.sampled_from(values)


@cache
def number(p: str, depth: int) -> S:
    """A numeric expression over ``p``-qualified columns, at most ``depth`` levels deep."""
    leaves = st.one_of(
        _choose([p + c for c in NUMBERS]),
        _choose(NUMBER_LITERALS),
        _choose(
            [f"CAST({p}code AS INTEGER)", f"CAST({p}label AS BIGINT)", f"CAST({p}flag AS INT)"]
        ),
    )
    if depth == 0:
        return leaves
    n, t, d, b = number(p, depth - 1), text(p, depth - 1), date(p, depth - 1), boolean(p, depth - 1)
    return st.one_of(
        leaves,
        _call("({} {} {})", n, _choose(ARITHMETIC), n),
        _call("-({})", n),
        _call("{}({})", _choose(("ABS", "FLOOR", "CEIL")), n),
        _call("ROUND({}, {})", n, _choose(("0", "2", "-2", "age"))),
        _call("CASE WHEN {} THEN {} ELSE {} END", b, n, n),
        _call("{}({}, {})", _choose(("COALESCE", "NULLIF", "GREATEST", "LEAST")), n, n),
        _call("CAST({} AS {})", st.one_of(n, t), _choose(NUMBER_TYPES)),
        _call("LENGTH({})", t),
        _call("{}({})", _choose(("YEAR", "MONTH", "DAY")), d),
        _call("EXTRACT({} FROM {})", _choose(("YEAR", "EPOCH")), d),
        _call("DATEDIFF('day', {}, {})", d, d),
        _call("DATE_PART({}, {})", _choose(("'year'", "'dow'", "label")), d),
    )


@cache
def text(p: str, depth: int) -> S:
    leaves = st.one_of(_choose([p + c for c in TEXTS]), _choose(TEXT_LITERALS))
    if depth == 0:
        return leaves
    n, t, d, b = number(p, depth - 1), text(p, depth - 1), date(p, depth - 1), boolean(p, depth - 1)
    return st.one_of(
        leaves,
        _call("CAST({} AS VARCHAR)", st.one_of(n, d)),
        _call("{}({})", _choose(("LOWER", "UPPER", "TRIM")), t),
        _call("SUBSTRING({}, {}, {})", t, _choose(POSITIONS), _choose(POSITIONS)),
        _call("{}({}, {})", _choose(("LEFT", "RIGHT")), t, _choose(POSITIONS)),
        _call("CONCAT({}, {})", t, st.one_of(t, n)),
        _call("({} || {})", t, t),
        _call("STRFTIME({}, {})", d, _choose(FORMATS)),
        _call("CASE WHEN {} THEN {} ELSE {} END", b, t, t),
        _call("COALESCE({}, {})", t, t),
    )


@cache
def date(p: str, depth: int) -> S:
    leaves = st.one_of(
        _choose([p + c for c in DATES]),
        _choose(("DATE '2020-01-01'", "CURRENT_DATE", f"CAST({p}code AS DATE)")),
    )
    if depth == 0:
        return leaves
    n, t, d, b = number(p, depth - 1), text(p, depth - 1), date(p, depth - 1), boolean(p, depth - 1)
    return st.one_of(
        leaves,
        _call("({} {} INTERVAL {})", d, _choose(("+", "-")), _choose(INTERVALS)),
        _call(
            "({} + {})",
            _choose([p + "day", "DATE '9999-12-01'"]),
            st.one_of(n, _choose(("2146000000",))),
        ),
        _call("DATE_TRUNC({}, {})", _choose(("'month'", "'millennium'")), d),
        _call("CAST({} AS {})", t, _choose(("DATE", "TIMESTAMP"))),
        _call("CASE WHEN {} THEN {} ELSE {} END", b, d, d),
    )


@cache
def boolean(p: str, depth: int) -> S:
    leaves = _choose(
        (
            p + "flag",
            "TRUE",
            f"{p}label = 'one-of-a-kind'",
            f"{p}age > 1000",
            f"{p}code = 'not a number'",
        )
    )
    if depth == 0:
        return leaves
    n, t, d, b = number(p, depth - 1), text(p, depth - 1), date(p, depth - 1), boolean(p, depth - 1)
    anything = st.one_of(n, t, d)
    return st.one_of(
        leaves,
        _call("{} {} {}", n, _choose(COMPARISONS), n),
        _call("{} {} {}", t, _choose(COMPARISONS), t),
        _call("{} {} {}", d, _choose(COMPARISONS), d),
        # Columns of two types: DuckDB casts one side on each row.
        _call("{} = {}", anything, anything),
        _call("{} LIKE {}", t, _choose(PATTERNS)),
        _call("{} IN ({}, {})", n, n, st.one_of(n, t)),
        _call("{} BETWEEN {} AND {}", n, n, n),
        _call("{} IS {}", anything, _choose(("NULL", "NOT NULL"))),
        _call("NOT ({})", b),
        _call("({} {} {})", b, _choose(("AND", "OR")), b),
        # A value that is not a boolean where one is needed is cast on each row.
        st.one_of(t, n),
        # The oracle of the issue: fail on one person's value, or not.
        _call("CASE WHEN {} THEN CAST('x' AS INTEGER) ELSE 1 END = 1", b),
    )


def anything(p: str, depth: int) -> S:
    return st.one_of(number(p, depth), text(p, depth), date(p, depth), boolean(p, depth))


def aggregated(depth: int, *, bare: bool) -> S:
    """A condition or value over aggregates (HAVING, ORDER BY), with bare arguments if ``bare``."""
    argument = _choose(NUMBERS) if bare else number("", 1)
    leaves = st.one_of(
        _choose(("COUNT(*)", "COUNT(code)")),
        _call("{}({})", _choose(("SUM", "AVG")), argument),
        *([] if bare else [_call("{}({})", _choose(("MIN", "MAX", "MEDIAN")), anything("", 1))]),
    )
    if depth == 0:
        return leaves
    a = aggregated(depth - 1, bare=bare)
    return st.one_of(
        leaves,
        _call("({} {} {})", a, _choose(ARITHMETIC), st.one_of(a, _choose(NUMBER_LITERALS))),
        _call("{} {} {}", a, _choose(COMPARISONS), st.one_of(a, _choose(NUMBER_LITERALS))),
        _call("{} {} {}", a, _choose(COMPARISONS), _choose(TEXT_LITERALS)),
        _call("CASE WHEN {} > {} THEN {} ELSE {} END", a, _choose(NUMBER_LITERALS), a, a),
        _call("COALESCE({}, {})", a, _choose(("0", "'none'"))),
        _call("NOT ({} > 1)", a),
    )


# -- the queries of each mode -------------------------------------------------------


def masked_records_queries() -> S:
    v, b, n = anything("", 2), boolean("", 2), number("", 2)
    return st.one_of(
        _call("SELECT {} AS c1, {} AS c2 FROM people WHERE {} ORDER BY 1 LIMIT 20", v, v, b),
        _call("SELECT label FROM people ORDER BY {} LIMIT 5", v),
        _call("SELECT DISTINCT ON ({}) label, age FROM people", v),
        _call(
            "SELECT {} AS g, COUNT(*) AS n, SUM({}) AS s, MAX({}) AS m FROM people WHERE {} "
            "GROUP BY 1 HAVING {} ORDER BY {}",
            v,
            n,
            v,
            b,
            aggregated(2, bare=False),
            st.one_of(_choose(("n", "g", "n + 1")), aggregated(1, bare=False)),
        ),
        # A GROUP BY key inside outputs, HAVING and ORDER BY: the rewritten key must match.
        v.map(
            lambda g: (
                f"SELECT ({g}) IS NULL AS k, COUNT(*) AS n FROM people GROUP BY {g} "
                f"HAVING ({g}) IS NOT NULL OR COUNT(*) > 1 ORDER BY ({g}) IS NULL"
            )
        ),
        _call(
            "SELECT SUM({}) OVER (ORDER BY age ROWS BETWEEN {} PRECEDING AND CURRENT ROW) AS s, "
            "MEDIAN({}) OVER (PARTITION BY district) AS m FROM people",
            n,
            _choose(("1", "0", "-1", "9223372036854775807", "age")),
            v,
        ),
        _call(
            "SELECT label, ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {}) AS r, "
            "SUM({}) OVER (PARTITION BY district) AS t FROM people QUALIFY r <= {} OR t > {}",
            v,
            v,
            n,
            _choose(("1", "2")),
            n,
        ),
        _call(
            "SELECT p.label, l.sector FROM people AS p JOIN places AS l ON {} WHERE {}",
            _choose(
                (
                    "p.district = l.district",
                    "p.code = l.code",
                    "p.age = l.code",
                    "p.day = l.district AND p.code = l.code",
                    "p.district = l.district AND p.big * 4 > l.code",
                )
            ),
            boolean("p.", 2),
        ),
        _call("SELECT label FROM people WHERE {} IN (SELECT {} FROM people WHERE {})", v, v, b),
        _call("SELECT (SELECT {} FROM people WHERE {}) AS x FROM places", v, b),
        _call(
            "SELECT label FROM people AS o WHERE EXISTS (SELECT 1 FROM places AS l "
            "WHERE l.district = o.district AND {})",
            boolean("o.", 2),
        ),
        _call(
            "SELECT {} AS x FROM people WHERE {} UNION ALL SELECT {} AS x FROM people WHERE {}",
            v,
            b,
            v,
            b,
        ),
    )


def aggregate_queries(*, dp: bool) -> S:
    g, b = anything("", 2), boolean("", 2)
    columns = _choose(NUMBERS)
    if dp:
        return st.one_of(
            _call(
                "SELECT {} AS g, COUNT(*) AS n, SUM({}) AS s FROM people WHERE {} GROUP BY 1",
                g,
                columns,
                b,
            ),
            _call("SELECT COUNT(*) AS n, AVG({}) AS a FROM people WHERE {}", columns, b),
        )
    return st.one_of(
        st.tuples(number("", 2), b).map(
            lambda found: (
                f"SELECT {found[0]} AS g, COUNT(*) AS n FROM people WHERE {found[1]} "
                f"GROUP BY {found[0]} HAVING ({found[0]}) > 0 OR COUNT(*) > 3"
            )
        ),
        _call(
            "SELECT {} AS g, COUNT(*) AS n, SUM({}) AS s, AVG({}) AS a FROM people WHERE {} "
            "GROUP BY 1 HAVING {} ORDER BY {}",
            g,
            columns,
            columns,
            b,
            aggregated(2, bare=True),
            st.one_of(_choose(("n", "g", "s * 2")), aggregated(1, bare=True)),
        ),
        _call(
            "SELECT l.sector, COUNT(*) AS n FROM people AS p JOIN places AS l ON {} WHERE {} "
            "GROUP BY l.sector",
            _choose(("p.code = l.code", "p.district = l.district", "p.age = l.code")),
            boolean("p.", 2),
        ),
    )


QUERIES: dict[OutputMode, Callable[[], S]] = {
    "masked_records": masked_records_queries,
    "aggregates": lambda: aggregate_queries(dp=False),
    "dp_aggregates": lambda: aggregate_queries(dp=True),
}


# -- running a query on both twins -----------------------------------------------------


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> dict[_twins.Twin, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("twins")
    return {twin: _twins.write(folder, twin) for twin in _twins.TWINS}


@pytest.fixture(scope="module")
def engine(twins: dict[_twins.Twin, dict[str, Path]]) -> Iterator[DuckDBEngine]:
    # As the platform runs it: the granted files read by DuckDB's own Parquet
    # reader, in a database per set of granted files.
    folders = {path.parent for files in twins.values() for path in files.values()}
    found = DuckDBEngine(pseudonym_key=_twins.KEY, data_dirs=sorted(folders))
    yield found
    found.close()


TALLY: Counter[tuple[str, str]] = Counter()


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_outcomes_do_not_depend_on_one_record(
    mode: OutputMode, twins: dict[_twins.Twin, dict[str, Path]], engine: DuckDBEngine
) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(sql=QUERIES[mode]())
    def check(sql: str) -> None:
        absent, ordinary, extreme = _twins.three(sql, mode, twins, engine)
        TALLY[(mode, "ok" if ordinary[0] == "ok" else str(ordinary[0]))] += 1
        assert absent == ordinary == extreme, sql

    check()
    # A grammar that only produced refusals would prove nothing.
    assert TALLY[(mode, "ok")] > 0
    print(f"\n{mode}: {sorted((k[1], v) for k, v in TALLY.items() if k[0] == mode)}")


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_the_grammar_finds_leaks(
    mode: OutputMode, twins: dict[_twins.Twin, dict[str, Path]], engine: DuckDBEngine
) -> None:
    """Without the rule, the same pipeline leaks, and the grammar finds a query that shows it."""
    found = find(
        QUERIES[mode](),
        lambda sql: len(set(_twins.three(sql, mode, twins, engine, _twins.unprotected))) > 1,
        settings=settings(
            max_examples=2_000,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
    absent, ordinary, extreme = _twins.three(found, mode, twins, engine)
    assert absent == ordinary == extreme, found
