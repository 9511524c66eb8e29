"""The platform's own SQL (masks, row filters) cannot fail on one row either.

DuckDB may evaluate the governed subquery's masks and row filter only on the
rows the user's predicates let through. A mask's cast or a row filter that
fails on one malformed value would then fail the query exactly when one
record matches the user's predicate: an exact per-record oracle built from
the platform's trusted SQL. Both are evaluated so that a failing value is
masked to NULL or its row dropped. (Found by a red-team pass.)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from datacompact.errors import DataCompactError
from datacompact.sandbox import DuckDBEngine, EpsilonAccount, GrantView, run_query
from tests.sandbox import _data

PROBE = "SELECT district, COUNT(birth) AS n FROM sbk WHERE income = 6000 GROUP BY district"


def _people(*, income_of_the_record: float, text_age: bool = False) -> pa.Table:
    """People with birth dates stored as text, one of them malformed (row 5)."""
    rows = _data.people().to_pylist()
    for row in rows:
        row["birth"] = row["birth"].isoformat()
        if text_age:
            row["age"] = str(row["age"])
    rows[5]["birth"] = "unknown"
    rows[5]["age"] = "unknown" if text_age else rows[5]["age"]
    rows[5]["income"] = income_of_the_record
    schema = pa.schema(
        [
            (f.name, pa.string() if f.name == "birth" or (text_age and f.name == "age") else f.type)
            for f in _data.people().schema
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _twins(tmp_path: Path, **options: bool) -> tuple[dict[str, Path], dict[str, Path]]:
    """Two sets of resources that differ in one record: its income matches the probe or not."""
    out = []
    for name, income in (("a", 6000.0), ("b", 7000.0)):
        folder = tmp_path / name
        folder.mkdir()
        paths = {name: folder / f"{name}.parquet" for name in ("sbk", "visits", "biz")}
        pq.write_table(_people(income_of_the_record=income, **options), paths["sbk"])
        pq.write_table(_data.visits(), paths["visits"])
        pq.write_table(_data.biz(), paths["biz"])
        out.append(paths)
    return out[0], out[1]


def _outcome(sql: str, grant: GrantView, engine: DuckDBEngine) -> tuple[object, ...]:
    try:
        result = run_query(sql, grant, engine=engine, budget=EpsilonAccount(total=100.0))
    except DataCompactError as exc:
        return ("failed", type(exc).__name__, exc.message, repr(exc.details))
    return ("ok", str(result.rows.schema))


def _with_filter(grant: GrantView, row_filter: str) -> GrantView:
    table = dataclasses.replace(grant.tables["sbk"], row_filter=row_filter)
    return dataclasses.replace(grant, tables={"sbk": table})


@pytest.mark.parametrize("mode", ["masked_records", "aggregates", "dp_aggregates"])
def test_a_mask_cast_that_fails_on_one_value_is_no_oracle(
    tmp_path: Path, engine: DuckDBEngine, mode: str
) -> None:
    a, b = _twins(tmp_path)
    outcomes = {_outcome(PROBE, _data.grant(paths, mode), engine) for paths in (a, b)}  # type: ignore[arg-type]
    assert len(outcomes) == 1, outcomes
    assert next(iter(outcomes))[0] == "ok", outcomes


@pytest.mark.parametrize("mode", ["masked_records", "aggregates", "dp_aggregates"])
def test_a_row_filter_that_fails_on_one_value_drops_the_row(
    tmp_path: Path, engine: DuckDBEngine, mode: str
) -> None:
    a, b = _twins(tmp_path, text_age=True)
    sql = "SELECT district, COUNT(*) AS n FROM sbk WHERE income = 6000 GROUP BY district"
    outcomes = {
        _outcome(sql, _with_filter(_data.grant(paths, mode), "CAST(age AS INTEGER) >= 18"), engine)  # type: ignore[arg-type]
        for paths in (a, b)
    }
    assert len(outcomes) == 1, outcomes
    assert next(iter(outcomes))[0] == "ok", outcomes
