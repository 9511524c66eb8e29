"""The engine seam: capability refusal, ungoverned plans, result receipts."""

from __future__ import annotations

from typing import ClassVar

import pytest

from datacompact.errors import PolicyViolation
from datacompact.sandbox import (
    BudgetAccount,
    DuckDBEngine,
    Plan,
    Result,
    analyze,
    check_capabilities,
    govern,
)

from . import _data
from ._helpers import run


class NoMaskEngine:
    """A third-party engine that cannot apply masks (e.g. a SQL endpoint without UDFs)."""

    name: ClassVar[str] = "nomask"
    supports_masks: ClassVar[bool] = False
    supports_row_filters: ClassVar[bool] = True
    supports_dp: ClassVar[bool] = False

    def execute(self, plan: Plan, *, budget: BudgetAccount | None = None) -> Result:
        check_capabilities(self, plan)
        raise AssertionError("must have refused")


def test_engine_without_masks_refuses(grant_for):
    with pytest.raises(PolicyViolation) as info:
        NoMaskEngine().execute(govern("SELECT pid FROM sbk", grant_for("records")))
    assert info.value.details["missing"] == ["masks"]


def test_engine_without_dp_refuses(grant_for):
    with pytest.raises(PolicyViolation) as info:
        NoMaskEngine().execute(govern("SELECT COUNT(*) AS n FROM sbk", grant_for("dp_aggregates")))
    assert "dp" in info.value.details["missing"]


def test_unrewritten_plan_is_refused(grant_for, engine):
    with pytest.raises(PolicyViolation):
        engine.execute(analyze("SELECT district FROM sbk", grant_for("records")))


def test_result_carries_receipt_fields(grant_for, engine):
    result = run(
        "SELECT district, COUNT(*) AS n FROM sbk GROUP BY district", grant_for("aggregates"), engine
    )
    assert result.columns_touched == {"sbk": frozenset({"district"})}
    # Under aggregates the exact size of the slice would tell whether one record
    # exists, so it is not released; where rows are released, it is.
    assert result.rows_scanned == 0
    assert run("SELECT district FROM sbk", grant_for("masked_records"), engine).rows_scanned == 49
    assert result.epsilon_spent == 0.0
    again = run(
        "SELECT district, COUNT(*) AS n FROM sbk GROUP BY district ORDER BY n",
        grant_for("aggregates"),
        engine,
    )
    assert again.result_sha256 == result.result_sha256
    assert again.sql_sha256 != result.sql_sha256


def test_row_filter_applies_below_user_predicates(grant_for, engine):
    result = run(
        "SELECT COUNT(*) AS n FROM sbk WHERE age < 18 OR age >= 18", grant_for("records"), engine
    )
    assert result.rows.column("n").to_pylist() == [42]


def test_files_under_data_dirs_read_natively_with_the_same_answers(grant_for, paths, engine):
    """DuckDB's own Parquet reader (files under ``data_dirs``) answers as the Arrow scan does."""
    folder = next(iter(paths.values())).parent
    native = DuckDBEngine(pseudonym_key=_data.KEY, data_dirs=[folder])
    for mode, sql in (
        ("aggregates", "SELECT district, COUNT(*) AS n FROM sbk GROUP BY district"),
        ("masked_records", "SELECT pid, phone, birth FROM sbk WHERE age >= 30"),
        ("records", "SELECT pid, age FROM sbk"),
    ):
        expected = run(sql, grant_for(mode), engine)
        got = run(sql, grant_for(mode), native)
        assert got.result_sha256 == expected.result_sha256
        assert got.rows == expected.rows
    native.close()
