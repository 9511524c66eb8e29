"""Twin datasets for the outcome tests: the same people, but one record differs.

In :data:`ORDINARY` the one-of-a-kind person (:data:`ONE`, the only one in
district ``d9`` and the only ``label`` of ``'one-of-a-kind'``) has ordinary
values. In :data:`EXTREME` the same person holds every value that makes
DuckDB raise somewhere: the largest INT32, INT64 and DECIMAL(38,2), a text
that is not a number, a DOUBLE at 1e308, the last day and second of year 9999,
the first day of year 1 (masked to its month). Every other record is the same in
both and never raises on its own, so a query whose outcome differs between
the twins has learnt something about that one person. :data:`ABSENT` is the
third dataset, without that person at all: one row fewer, so a query whose
outcome differs between it and either twin has learnt whether the person exists.

The other columns hold what real data holds: NULLs, text that is a number
(``code``), text that is not (``label``), and a lookup table (``places``)
whose key has another type than the column it is joined with.

:func:`both` runs one query on the two twins through the real pipeline and
returns what a user would see of each, data aside.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from datacompact.errors import DataCompactError
from datacompact.sandbox import (
    ColumnRule,
    DuckDBEngine,
    EpsilonAccount,
    GrantedTable,
    GrantView,
    OutputMode,
    Plan,
    analyze,
    govern,
    rewrite,
)
from datacompact.sandbox.engine import COUNTED_MODES
from datacompact.sandbox.rules import RULES, safe_eval

KEY = b"outcome-test-pseudonym-key-32byt"
Twin = Literal["ordinary", "extreme", "absent"]
ORDINARY: Twin = "ordinary"
EXTREME: Twin = "extreme"
ABSENT: Twin = "absent"
TWINS: tuple[Twin, Twin, Twin] = (ORDINARY, EXTREME, ABSENT)
ONE = "P-0000"
#: The threshold k of the aggregate grants: small, so that ordinary groups pass.
K = 3

SCHEMA = pa.schema(
    [
        ("pid", pa.string()),
        ("district", pa.string()),
        ("age", pa.int32()),
        ("big", pa.int64()),
        ("income", pa.float64()),
        ("amount", pa.decimal128(38, 2)),
        ("code", pa.string()),
        ("label", pa.string()),
        ("day", pa.date32()),
        ("ts", pa.timestamp("us")),
        ("flag", pa.bool_()),
        ("phone", pa.string()),
        ("birth", pa.date32()),
    ]
)

# Built from text: arithmetic on a Decimal rounds to 28 digits.
_MAX_DECIMAL = decimal.Decimal("9" * 36 + ".99")


def _person(i: int) -> dict[str, object]:
    return {
        "pid": f"P-{i:04d}",
        "district": f"d{i % 3}",
        # Every eleventh person is a minor, hidden by the row filter.
        "age": 16 if i % 11 == 5 else 18 + i % 60,
        "big": 1000 * i,
        "income": 1000.0 + 37.5 * i,
        "amount": decimal.Decimal(f"{100 + i}.25"),
        "code": str(10 + i % 7) if i % 5 else None,
        "label": f"name-{i}",
        "day": dt.date(2020, 1 + i % 12, 1 + i % 28),
        "ts": dt.datetime(2021, 1 + i % 12, 1 + i % 28, i % 24, 0),
        "flag": bool(i % 2) if i % 4 else None,
        "phone": f"1390000{i:04d}",
        "birth": dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 28),
    }


def one(twin: Twin) -> dict[str, object]:
    """The one-of-a-kind person as ``twin`` holds them (:data:`ABSENT` holds them not at all)."""
    if twin == ORDINARY:
        return {
            **_person(0),
            "district": "d9",
            "label": "one-of-a-kind",
            "code": "7",
            "flag": True,
        }
    return {
        "pid": ONE,
        "district": "d9",
        "age": 2**31 - 1,
        "big": 2**63 - 1,
        "income": 1e308,
        "amount": _MAX_DECIMAL,
        "code": "not a number",
        "label": "one-of-a-kind",
        "day": dt.date(9999, 12, 31),
        "ts": dt.datetime(9999, 12, 31, 23, 59, 59),
        "flag": None,
        "phone": "",
        "birth": dt.date(1, 1, 1),
    }


def people(twin: Twin) -> pa.Table:
    # Everyone else is ordinary: a value that raises on both sides alike would
    # hide a difference that the one person makes.
    others = [_person(i) for i in range(1, 60)]
    rows = others if twin == ABSENT else [one(twin), *others]
    return pa.table(
        {f.name: pa.array([r[f.name] for r in rows], type=f.type) for f in SCHEMA}, schema=SCHEMA
    )


def places() -> pa.Table:
    """A records-mode lookup: its ``code`` is an integer, the people's is text."""
    return pa.table(
        {
            "district": ["d0", "d1", "d2", "d9"],
            "sector": ["it", "retail", "farm", "mining"],
            "code": pa.array([10, 11, 12, 7], pa.int32()),
        }
    )


def write(folder: Path, twin: Twin) -> dict[str, Path]:
    """Write ``twin`` under ``folder/twin`` and return the Parquet path of each table."""
    base = folder / twin
    base.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, table in (("people", people(twin)), ("places", places())):
        found[name] = base / f"{name}.parquet"
        pq.write_table(table, found[name])
    return found


def grant(paths: dict[str, Path], mode: OutputMode) -> GrantView:
    """``people`` under ``mode`` (masked identifiers, DP bounds) and ``places`` as records."""
    columns = {name: ColumnRule() for name in SCHEMA.names}
    columns["pid"] = ColumnRule(mask="pseudonym", entity_key=True)
    columns["phone"] = ColumnRule(mask="partial", keep=(3, 2))
    columns["birth"] = ColumnRule(mask="truncate_date")
    for name in ("age", "big", "income", "amount"):
        columns[name] = ColumnRule(dp_bounds=(0.0, 100_000.0))
    people_table = GrantedTable(
        name="people",
        parquet_path=str(paths["people"]),
        columns=columns,
        row_filter="age >= 18",
        output_mode=mode,
        min_group_entities=K,
        entity_column="pid",
    )
    places_table = GrantedTable(
        name="places",
        parquet_path=str(paths["places"]),
        columns={"district": ColumnRule(), "sector": ColumnRule(), "code": ColumnRule()},
        output_mode="records",
    )
    # A fixed grant id: both twins must see the same grant, pseudonym keys included.
    return GrantView(
        grant_id=f"twins-{mode}",
        tables={"people": people_table, "places": places_table},
        epsilon_per_query=1.0,
    )


# -- running one query on both twins ---------------------------------------------------

Outcome = tuple[object, ...]
Planner = Callable[[str, GrantView], Plan]


def outcome(sql: str, grant: GrantView, engine: DuckDBEngine, plan: Planner = govern) -> Outcome:
    """What the user sees, data aside: the failure, or the names and types of the columns.

    Only a :class:`DataCompactError` is an outcome; anything else escapes and
    fails the calling test, as it would reach the API as a 500.
    """
    try:
        planned = plan(sql, grant)
        result = engine.execute(planned, budget=EpsilonAccount(total=1e9))
    except DataCompactError as exc:
        details = json.dumps(exc.details, sort_keys=True, default=str)
        return (type(exc).__name__, exc.message, details)
    # The slice's size is data where rows are released, and must not be elsewhere.
    scanned = None if planned.mode in COUNTED_MODES else result.rows_scanned
    return ("ok", tuple((f.name, str(f.type)) for f in result.rows.schema), scanned)


def both(
    sql: str,
    mode: OutputMode,
    paths: Mapping[Twin, dict[str, Path]],
    engine: DuckDBEngine,
    plan: Planner = govern,
) -> tuple[Outcome, Outcome]:
    """The outcomes of ``sql`` under ``mode`` on the ordinary twin, then on the extreme one."""
    ordinary = outcome(sql, grant(paths[ORDINARY], mode), engine, plan)
    extreme = outcome(sql, grant(paths[EXTREME], mode), engine, plan)
    return ordinary, extreme


def three(
    sql: str,
    mode: OutputMode,
    paths: Mapping[Twin, dict[str, Path]],
    engine: DuckDBEngine,
    plan: Planner = govern,
) -> tuple[Outcome, Outcome, Outcome]:
    """The outcomes of ``sql`` under ``mode`` without the person, then as each twin holds them."""
    return (
        outcome(sql, grant(paths[ABSENT], mode), engine, plan),
        *both(sql, mode, paths, engine, plan),
    )


def unprotected(sql: str, grant: GrantView) -> Plan:
    """The governed plan without :func:`safe_eval`: what the tests show would leak."""
    return rewrite(analyze(sql, grant), rules=[r for r in RULES if r is not safe_eval])
