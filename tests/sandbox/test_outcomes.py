"""Outcome regression tests: each attack class, on every mode that accepts its shape.

Each attack makes DuckDB raise on the one-of-a-kind person of
:mod:`._twins` and on no one else, so without
:func:`~datacompact.sandbox.rules.safe_eval.safe_eval` whether it succeeds
answers a question about that person (``test_the_attack_works_unprotected``
shows it does). With the rule, every attack is either refused at analysis,
before any data is read, or succeeds on both twins: the same outcome
whatever the data. ``masked_records`` also stands for ``k_anonymous``,
whose SQL runs on the masked records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from datacompact.sandbox import DuckDBEngine, OutputMode

from . import _twins

MASKED: OutputMode = "masked_records"
AGGREGATES: OutputMode = "aggregates"
DP: OutputMode = "dp_aggregates"

#: (attack class, mode, SQL, expected outcome, whether it leaks without the rule)
ATTACKS: list[tuple[str, OutputMode, str, str, bool]] = [
    # The oracle of the issue: a cast that fails only when one person matches.
    (
        "case_cast_oracle",
        MASKED,
        "SELECT label FROM people "
        "WHERE CASE WHEN age > 1000 THEN CAST('x' AS INTEGER) ELSE 1 END = 1",
        "ok",
        True,
    ),
    (
        "case_cast_oracle",
        AGGREGATES,
        "SELECT district, COUNT(*) AS n FROM people "
        "WHERE CASE WHEN age > 1000 THEN CAST('x' AS INTEGER) ELSE 1 END = 1 GROUP BY district",
        "ok",
        True,
    ),
    (
        "case_cast_oracle",
        DP,
        "SELECT COUNT(*) AS n FROM people "
        "WHERE CASE WHEN age > 1000 THEN CAST('x' AS INTEGER) ELSE 1 END = 1",
        "ok",
        True,
    ),
    # The same oracle over a group: HAVING runs on groups the threshold hides.
    (
        "case_cast_oracle_in_having",
        MASKED,
        "SELECT district FROM people GROUP BY district "
        "HAVING CASE WHEN MAX(age) > 1000 THEN CAST('x' AS INTEGER) ELSE 1 END = 1",
        "ok",
        True,
    ),
    (
        "case_cast_oracle_in_having",
        AGGREGATES,
        "SELECT district, COUNT(*) AS n FROM people GROUP BY district "
        "HAVING CASE WHEN SUM(age) > 100000 THEN CAST('x' AS INTEGER) ELSE 1 END = 1",
        "ok",
        True,
    ),
    # Integer overflow: INT32 and INT64 arithmetic, negation, DECIMAL(38) and HUGEINT.
    (
        "integer_overflow",
        MASKED,
        "SELECT age + 1 AS a, big * 2 AS b, ABS(-(big + 1)) AS c FROM people",
        "ok",
        True,
    ),
    (
        "integer_overflow",
        AGGREGATES,
        "SELECT age * 2 AS g, COUNT(*) AS n FROM people WHERE big + 1 > 0 GROUP BY age * 2",
        "ok",
        True,
    ),
    (
        "integer_overflow",
        DP,
        # ``age + 1 > 0`` would not do: DuckDB moves the constant across first.
        "SELECT COUNT(*) AS n FROM people WHERE age + age > 0",
        "ok",
        True,
    ),
    (
        "decimal_sum_overflow",
        MASKED,
        "SELECT SUM(amount) AS s, AVG(amount) AS a FROM people",
        "ok",
        True,
    ),
    (
        "decimal_sum_overflow",
        AGGREGATES,
        "SELECT COUNT(*) AS n, SUM(amount) AS s FROM people",
        "ok",
        True,
    ),
    (
        "decimal_sum_overflow",
        DP,
        "SELECT district, SUM(amount) AS s FROM people GROUP BY district",
        "ok",
        False,  # a DP sum is computed by OpenDP, not by DuckDB
    ),
    (
        "overflow_above_an_aggregate",
        AGGREGATES,
        "SELECT COUNT(*) AS n FROM people "
        "HAVING SUM(age) * SUM(age) * SUM(age) * SUM(age) * SUM(age) > 0",
        "ok",
        True,
    ),
    # Division and modulo by a value that is zero for one person only. The
    # engine's database no longer raises on them (error_on_division_by_zero is
    # false); the rule makes them NULL on an engine that still would.
    (
        "division_by_zero",
        MASKED,
        "SELECT label FROM people WHERE 1 // (age - 2147483647) = 0 OR 1 % (age - 2147483647) = 1",
        "ok",
        False,
    ),
    (
        "division_by_zero",
        AGGREGATES,
        "SELECT district, COUNT(*) AS n FROM people WHERE 1 // (age - 2147483647) = 0 "
        "GROUP BY district",
        "ok",
        False,
    ),
    (
        "division_by_zero",
        DP,
        "SELECT COUNT(*) AS n FROM people WHERE 1 % (age - 2147483647) = 0",
        "ok",
        False,
    ),
    # A format that fails, and one built from data: refused before anything runs.
    (
        "failing_strftime_format",
        MASKED,
        "SELECT STRFTIME(day, '%Q') AS s FROM people",
        "PolicyViolation",
        False,
    ),
    (
        "failing_strftime_format",
        AGGREGATES,
        "SELECT STRFTIME(day, label) AS s, COUNT(*) AS n FROM people GROUP BY 1",
        "PolicyViolation",
        False,
    ),
    (
        "failing_strftime_format",
        DP,
        "SELECT DATE_TRUNC('nanosecond', ts) AS m, COUNT(*) AS n FROM people GROUP BY 1",
        "PolicyViolation",
        False,
    ),
    # LIKE with a pattern or an escape built from data.
    (
        "like_from_data",
        MASKED,
        "SELECT label FROM people WHERE label LIKE code || '%'",
        "PolicyViolation",
        False,
    ),
    (
        "like_from_data",
        AGGREGATES,
        "SELECT district, COUNT(*) AS n FROM people WHERE label NOT LIKE district || '%' "
        "GROUP BY district",
        "PolicyViolation",
        False,
    ),
    (
        "like_from_data",
        DP,
        "SELECT COUNT(*) AS n FROM people WHERE phone ILIKE label",
        "PolicyViolation",
        False,
    ),
    # Any ESCAPE: a bad escape character is a syntax error that TRY cannot catch.
    (
        "like_escape",
        AGGREGATES,
        "SELECT district, COUNT(*) AS n FROM people WHERE label LIKE 'a!%' ESCAPE '!' "
        "GROUP BY district",
        "PolicyViolation",
        False,
    ),
    (
        "like_escape",
        MASKED,
        "SELECT label FROM people WHERE label LIKE 'a%' ESCAPE code",
        "MalformedInput",
        False,
    ),
    # Dates past the end of DuckDB's calendar, for one person only.
    (
        "date_overflow",
        MASKED,
        "SELECT label FROM people WHERE day + 2146000000 > DATE '2000-01-01'",
        "ok",
        True,
    ),
    (
        "date_overflow",
        AGGREGATES,
        "SELECT district, COUNT(*) AS n FROM people "
        "WHERE ts + INTERVAL 290000 YEAR > DATE '2000-01-01' GROUP BY district",
        "ok",
        True,
    ),
    (
        "date_overflow",
        DP,
        "SELECT COUNT(*) AS n FROM people "
        "WHERE DATE_TRUNC('year', ts) + INTERVAL 290000 YEAR > DATE '2000-01-01'",
        "ok",
        True,
    ),
    # A date past year 9999, returned: DuckDB holds it, Python's datetime does not
    # (the engine's result digest takes such a column as text).
    (
        "date_past_year_9999",
        MASKED,
        "SELECT day + INTERVAL 1 DAY AS d FROM people",
        "ok",
        False,
    ),
    # Text cast to a number.
    ("cast_text_to_number", MASKED, "SELECT CAST(code AS INTEGER) AS c FROM people", "ok", True),
    (
        "cast_text_to_number",
        AGGREGATES,
        "SELECT CAST(code AS INTEGER) AS c, COUNT(*) AS n FROM people GROUP BY 1",
        "ok",
        True,
    ),
    (
        "cast_text_to_number",
        DP,
        "SELECT COUNT(*) AS n FROM people WHERE code::BIGINT > 0",
        "ok",
        True,
    ),
    # Columns of two types compared: DuckDB casts one side on each row.
    (
        "mixed_type_comparison",
        MASKED,
        "SELECT p.label, l.sector FROM people AS p JOIN places AS l ON p.code = l.code",
        "ok",
        True,
    ),
    (
        "mixed_type_comparison",
        AGGREGATES,
        "SELECT l.sector, COUNT(*) AS n FROM people AS p JOIN places AS l ON p.code = l.code "
        "GROUP BY l.sector",
        "ok",
        True,
    ),
    (
        "mixed_type_comparison",
        DP,
        "SELECT COUNT(*) AS n FROM people WHERE code = age",
        "ok",
        True,
    ),
    (
        "mixed_type_in_subquery",
        MASKED,
        "SELECT label FROM people WHERE code IN (SELECT code FROM places)",
        "ok",
        False,  # DuckDB refuses VARCHAR IN (INTEGER) when it binds the query
    ),
    (
        "set_operation_types",
        MASKED,
        "SELECT day AS x FROM people UNION ALL SELECT age AS x FROM people WHERE age > 1000",
        "ok",
        True,
    ),
    # A scalar subquery with a second row, for one person only.
    (
        "scalar_subquery_rows",
        MASKED,
        "SELECT (SELECT label FROM people WHERE label = 'name-7' OR age > 1000) AS x FROM places",
        "ok",
        True,
    ),
    # A window frame from data: negative on some rows.
    (
        "window_frame_from_data",
        MASKED,
        "SELECT SUM(age) OVER (ORDER BY age ROWS BETWEEN (age - 100) PRECEDING AND CURRENT ROW) "
        "AS s FROM people",
        "PolicyViolation",
        False,
    ),
]


def _cases(only_leaking: bool = False) -> list[object]:
    return [
        pytest.param(*case, id=f"{case[0]}-{case[1]}")
        for case in ATTACKS
        if case[4] or not only_leaking
    ]


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> dict[_twins.Twin, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("twins")
    return {twin: _twins.write(folder, twin) for twin in _twins.TWINS}


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    found = DuckDBEngine(pseudonym_key=_twins.KEY)
    yield found
    found.close()


@pytest.mark.parametrize(("attack", "mode", "sql", "expected", "leaks"), _cases())
def test_the_attack_has_one_outcome(
    attack: str,
    mode: OutputMode,
    sql: str,
    expected: str,
    leaks: bool,
    twins: dict[_twins.Twin, dict[str, Path]],
    engine: DuckDBEngine,
) -> None:
    ordinary, extreme = _twins.both(sql, mode, twins, engine)
    assert ordinary == extreme
    assert ordinary[0] == expected, ordinary
    if expected != "ok":
        # Refused at analysis (a policy rule, or SQL that does not parse),
        # bilingual, and quoting no value.
        message, details = str(ordinary[1]), json.loads(str(ordinary[2]))
        assert expected == "MalformedInput" or details["rule"]
        assert " / " in message
        assert not any(v in message for v in ("not a number", "one-of-a-kind", "%Q", "name-"))


@pytest.mark.parametrize(("attack", "mode", "sql", "expected", "leaks"), _cases(True))
def test_the_attack_works_unprotected(
    attack: str,
    mode: OutputMode,
    sql: str,
    expected: str,
    leaks: bool,
    twins: dict[_twins.Twin, dict[str, Path]],
    engine: DuckDBEngine,
) -> None:
    """Without the rule the same query succeeds on one twin and fails on the other."""
    ordinary, extreme = _twins.both(sql, mode, twins, engine, _twins.unprotected)
    assert ordinary[0] == "ok"
    assert extreme[0] != "ok"


def test_refusals_name_the_rule(
    twins: dict[_twins.Twin, dict[str, Path]], engine: DuckDBEngine
) -> None:
    cases = {
        "SELECT label FROM people WHERE label LIKE code": "data_dependent_pattern",
        "SELECT STRFTIME(day, '%Q') AS s FROM people": "data_dependent_format",
        "SELECT DATE_PART(label, day) AS p FROM people": "data_dependent_format",
        "SELECT SUBSTRING(label, age, 2) AS s FROM people": "data_dependent_argument",
        "SELECT ROUND(income, age) AS r FROM people": "data_dependent_argument",
        # Negative: DuckDB raises on it only if the window has a row.
        "SELECT SUM(age) OVER (ORDER BY age ROWS BETWEEN -1 PRECEDING AND CURRENT ROW) AS s "
        "FROM people": "data_dependent_frame",
        "SELECT SUM(age) OVER (ORDER BY day RANGE BETWEEN INTERVAL 1 DAY PRECEDING "
        "AND CURRENT ROW) AS s FROM people": "data_dependent_frame",
        "SELECT district FROM people GROUP BY district HAVING MAX(label) = 'x'": (
            "data_dependent_aggregate_expression"
        ),
        "SELECT district FROM people GROUP BY district HAVING COUNT(*) // 2 = 1": (
            "data_dependent_aggregate_expression"
        ),
    }
    for sql, rule in cases.items():
        ordinary, extreme = _twins.both(sql, MASKED, twins, engine)
        assert ordinary == extreme
        assert ordinary[0] == "PolicyViolation", (sql, ordinary)
        assert json.loads(str(ordinary[2]))["rule"] == rule, sql


def test_group_keys_still_match_after_the_rewrite(
    twins: dict[_twins.Twin, dict[str, Path]], engine: DuckDBEngine
) -> None:
    """A key rewritten into TRY(...) is written alike wherever it is used, so DuckDB matches it."""
    queries = {
        MASKED: "SELECT age + 1 AS a, COUNT(*) AS n FROM people GROUP BY age + 1 "
        "HAVING COUNT(*) > age + 1 OR (age + 1) > 0 ORDER BY COUNT(*) * (age + 1), a",
        AGGREGATES: "SELECT age * 2 AS g, COUNT(*) AS n FROM people GROUP BY age * 2 "
        "HAVING COUNT(*) + (age * 2) > 0 ORDER BY n + 1",
        DP: "SELECT YEAR(day) AS y, COUNT(*) AS n FROM people GROUP BY YEAR(day)",
    }
    for mode, sql in queries.items():
        ordinary, extreme = _twins.both(sql, mode, twins, engine)
        assert ordinary == extreme
        assert ordinary[0] == "ok", (sql, ordinary)


def test_records_mode_is_left_as_written(
    twins: dict[_twins.Twin, dict[str, Path]], engine: DuckDBEngine
) -> None:
    """Plain records release every value anyway: the rule changes nothing there."""
    sql = "SELECT CAST(code AS INTEGER) AS c, label LIKE code AS l FROM people"
    ordinary, extreme = _twins.both(sql, "records", twins, engine)
    assert ordinary[0] == "ok"
    assert extreme[0] == "QueryFailed"
