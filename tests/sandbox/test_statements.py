"""Attack: several statements; comments; statements that are not a SELECT."""

from __future__ import annotations

import pytest

from datacompact.errors import MalformedInput, PayloadTooLarge
from datacompact.sandbox import Limits, analyze

from ._helpers import refused, run


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT district FROM sbk; SELECT name FROM sbk",
        "SELECT 1; DROP TABLE sbk",
        "SELECT district FROM sbk -- a comment",
        "SELECT district /* hidden */ FROM sbk",
        "SELECT district FROM sbk;\n-- ; SELECT name FROM sbk",
        "INSERT INTO sbk VALUES (1)",
        "COPY sbk TO '/tmp/x.csv'",
        "ATTACH '/tmp/x.db' AS x",
        "SET enable_external_access = true",
        "PRAGMA database_list",
        "CREATE TABLE t AS SELECT * FROM sbk",
        "INSTALL httpfs",
        "CALL duckdb_settings()",
        "DESCRIBE sbk",
    ],
)
def test_refused(sql, grant_for, engine):
    refused(sql, grant_for("records"), engine)


def test_trailing_semicolon_is_one_statement(grant_for, engine):
    assert run("SELECT district FROM sbk LIMIT 2;", grant_for("records"), engine).rows.num_rows == 2


def test_comment_markers_inside_strings_are_data(grant_for, engine):
    result = run(
        "SELECT COUNT(*) AS n FROM sbk WHERE district = '--d0'", grant_for("records"), engine
    )
    assert result.rows.column("n").to_pylist() == [0]


@pytest.mark.parametrize(
    "sql", ["", "SELEC district FROM sbk", "SELECT (district FROM sbk", "'unterminated"]
)
def test_unparsable_sql_is_malformed(sql, grant_for):
    with pytest.raises(MalformedInput):
        analyze(sql, grant_for("records"))


def test_oversized_sql(grant_for):
    with pytest.raises(PayloadTooLarge):
        analyze(
            "SELECT district FROM sbk" + " " * 100,
            grant_for("records"),
            limits=Limits(max_sql_chars=50),
        )
