"""A tiny grant and its plans for the doctests of the sandbox and its rules (not used at run time)."""

from __future__ import annotations

from datacompact.sandbox.analyze import analyze
from datacompact.sandbox.grants import ColumnRule, GrantedTable, GrantView, OutputMode
from datacompact.sandbox.plan import Plan


def demo_grant(mode: OutputMode = "aggregates", *, k: int = 10) -> GrantView:
    """``sbk`` (people, masked identifier) and ``biz`` (a records-mode lookup)."""
    sbk = GrantedTable(
        name="sbk",
        parquet_path="sbk.parquet",
        columns={
            "pid": ColumnRule(mask="pseudonym", entity_key=True),
            "district": ColumnRule(),
            "age": ColumnRule(dp_bounds=(0.0, 120.0)),
            "income": ColumnRule(dp_bounds=(0.0, 50_000.0)),
            "phone": ColumnRule(mask="partial"),
        },
        row_filter="age >= 18",
        output_mode=mode,
        min_group_entities=k,
        entity_column="pid",
    )
    biz = GrantedTable(
        name="biz",
        parquet_path="biz.parquet",
        columns={"district": ColumnRule(), "sector": ColumnRule()},
        output_mode="records",
    )
    return GrantView(grant_id="demo", tables={"sbk": sbk, "biz": biz})


def demo_plan(sql: str, mode: OutputMode = "aggregates") -> Plan:
    return analyze(sql, demo_grant(mode))
