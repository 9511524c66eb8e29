"""Small generated Parquet resources and grants for the sandbox tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from datacompact.sandbox import ColumnRule, GrantedTable, GrantView, OutputMode

KEY = b"sandbox-test-pseudonym-key-32byt"
#: Entities per district: d0 and d1 pass k=10, d2 and d3 do not.
DISTRICTS = {"d0": 30, "d1": 15, "d2": 3, "d3": 1}


def resident_id(i: int) -> str:
    return f"1101051990{i:04d}{i % 10:04d}"


def people() -> pa.Table:
    rows: list[dict[str, object]] = []
    i = 0
    for district, n in DISTRICTS.items():
        for _ in range(n):
            rows.append(
                {
                    "pid": resident_id(i),
                    "name": f"person-{i}",
                    "district": district,
                    # Every seventh person is a minor, hidden by the row filter.
                    "age": 16 if i % 7 == 3 else 20 + i % 50,
                    "income": 1000.0 * (1 + i % 9),
                    "phone": f"1380000{i:04d}",
                    "birth": dt.date(1990, 1 + i % 12, 1 + i % 27),
                }
            )
            i += 1
    return pa.Table.from_pylist(rows)


def visits() -> pa.Table:
    """Fan-out: each person in d2 has 20 visits, everyone else 1."""
    rows: list[dict[str, object]] = []
    for person in people().to_pylist():
        times = 20 if person["district"] == "d2" else 1
        rows.extend({"pid": person["pid"], "clinic": f"c{j % 3}"} for j in range(times))
    return pa.Table.from_pylist(rows)


def biz() -> pa.Table:
    return pa.table({"district": list(DISTRICTS), "sector": ["it", "retail", "farm", "mining"]})


def write(folder: Path) -> dict[str, Path]:
    paths = {}
    for name, table in (("sbk", people()), ("visits", visits()), ("biz", biz())):
        paths[name] = folder / f"{name}.parquet"
        pq.write_table(table, paths[name])
    return paths


def grant(
    paths: dict[str, Path], mode: OutputMode = "aggregates", *, k: int = 10, epsilon: float = 1.0
) -> GrantView:
    sbk = GrantedTable(
        name="sbk",
        parquet_path=str(paths["sbk"]),
        columns={
            "pid": ColumnRule(mask="pseudonym", entity_key=True),
            "district": ColumnRule(),
            "age": ColumnRule(dp_bounds=(0.0, 120.0)),
            "income": ColumnRule(dp_bounds=(0.0, 20_000.0)),
            "phone": ColumnRule(mask="partial"),
            "birth": ColumnRule(mask="truncate_date"),
        },
        row_filter="age >= 18",
        output_mode=mode,
        min_group_entities=k,
        entity_column="pid",
    )
    visits_table = GrantedTable(
        name="visits",
        parquet_path=str(paths["visits"]),
        columns={"pid": ColumnRule(mask="pseudonym", entity_key=True), "clinic": ColumnRule()},
        output_mode="records" if mode == "dp_aggregates" else mode,
        min_group_entities=k,
        entity_column="pid",
    )
    biz_table = GrantedTable(
        name="biz",
        parquet_path=str(paths["biz"]),
        columns={"district": ColumnRule(), "sector": ColumnRule()},
        output_mode="records",
    )
    return GrantView(
        grant_id=f"g-{mode}",
        tables={"sbk": sbk, "visits": visits_table, "biz": biz_table},
        epsilon_per_query=epsilon,
    )
