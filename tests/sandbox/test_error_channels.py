"""Attack: error-message side channels (a cast or division error that shows a value)."""

from __future__ import annotations

import logging

import pytest

from datacompact.errors import PolicyViolation, QueryFailed

from ._helpers import failed


@pytest.mark.parametrize(
    ("sql", "secret"),
    [
        ("SELECT CAST(district AS INTEGER) FROM sbk", "d0"),
        ("SELECT CAST(phone AS DATE) FROM sbk", "138000"),
        ("SELECT CAST(phone AS INTEGER) FROM sbk", "138000*"),
        ("SELECT CAST(income AS TINYINT) FROM sbk", "1000.0"),
    ],
)
def test_engine_errors_are_generic(sql, secret, grant_for, engine, caplog):
    with caplog.at_level(logging.WARNING, logger="datacompact.sandbox"):
        error = failed(sql, grant_for("records"), engine)
    assert isinstance(error, QueryFailed)
    assert error.message == "查询失败 / the query failed"
    # Plain records may name the DuckDB error class, never a value.
    assert set(error.details) == {"error"}
    assert error.details["error"].endswith("Exception")
    assert secret not in error.message
    assert secret not in str(error.details)
    # The detail goes to the log, for the operator only.
    assert any(secret in r.getMessage() for r in caplog.records)


def test_division_by_zero_reveals_nothing(grant_for, engine):
    error = failed(
        "SELECT CAST(1 / (age - 40) AS INTEGER) + CAST(phone AS INTEGER) FROM sbk",
        grant_for("records"),
        engine,
    )
    assert "40" not in error.message
    assert "138" not in error.message


def test_policy_messages_name_columns_not_values(grant_for, engine):
    error = failed("SELECT name FROM sbk WHERE name = 'person-7'", grant_for("records"), engine)
    assert isinstance(error, PolicyViolation)
    assert "sbk.name" in error.message
    assert "person-7" not in error.message
    assert "person-7" not in str(error.details)
