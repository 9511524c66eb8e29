"""DP release of a pre-release table (see :mod:`.rules.dp_release`) through OpenDP.

The pre-release rows are grouped by their keys; groups with fewer than k
distinct entities are suppressed, and each aggregate of each remaining group
is released by a fresh :class:`~datacompact.privacy.dp.PrivacyBudget` holding
that group's values, with the aggregate's share of the query's ε. Groups are
disjoint sets of rows and each entity contributes at most
``max_contributions`` rows in all, so the groups compose in parallel and the
query costs ``epsilon_per_query`` (the aggregates compose sequentially).

The threshold is taken on true entity counts, as the grade table of the
issue asks (minimum group size *plus* noise); which keys appear is therefore
not itself differentially private. That residual is documented, not hidden.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from datacompact.privacy.dp import PrivacyBudget
from datacompact.sandbox.budget import BudgetAccount
from datacompact.sandbox.plan import DPAggregate, Plan, refuse

ENTITY = "__dc_entity"


def release(table: pa.Table, plan: Plan, budget: BudgetAccount | None) -> tuple[pa.Table, float]:
    """The noisy answer of a DP plan and the ε it spent."""
    if budget is None:
        raise refuse(
            "DP 查询需要隐私预算", "a DP release needs the grant's privacy budget", rule="dp_budget"
        )
    epsilon = plan.grant.epsilon_per_query
    if budget.remaining < epsilon:
        raise refuse(
            "隐私预算不足",
            f"the query needs ε={epsilon:g} but only ε={budget.remaining:g} of the grant's budget is left",
            rule="privacy_budget",
        )
    # Charge before any noisy value exists: a failure later still counts.
    budget.charge(epsilon)
    share = epsilon / len(plan.dp_aggregates)
    k = max(
        t.min_group_entities for t in plan.grant.tables.values() if t.output_mode == "dp_aggregates"
    )
    keys = list(plan.dp_keys)
    slots = sorted({a.column for a in plan.dp_aggregates if a.column is not None})
    lists = [(ENTITY, "count_distinct"), (ENTITY, "list"), *((s, "list") for s in slots)]
    if keys:
        grouped = table.group_by(keys).aggregate(lists)
    else:
        grouped = pa.table({f"{c}_{f}": [_whole(table, c, f)] for c, f in lists})
    out: dict[str, list[Any]] = {
        name: [] for name in [*keys, *(a.name for a in plan.dp_aggregates)]
    }
    for row in grouped.to_pylist():
        if row[f"{ENTITY}_count_distinct"] < k:
            continue
        for key in keys:
            out[key].append(row[key])
        for aggregate in plan.dp_aggregates:
            out[aggregate.name].append(_noisy(aggregate, row, share, plan.grant.max_contributions))
    schema = [pa.field(a.name, pa.float64()) for a in plan.dp_aggregates]
    key_fields = [table.schema.field(k) for k in keys]
    return pa.table(out, schema=pa.schema([*key_fields, *schema])), epsilon


def _whole(table: pa.Table, column: str, function: str) -> Any:
    values = table.column(column)
    if function == "count_distinct":
        return len(values.unique())
    return values.to_pylist()


def _noisy(aggregate: DPAggregate, row: dict[str, Any], epsilon: float, bound: int) -> float:
    if aggregate.column is None:
        values = row[f"{ENTITY}_list"]
        return _value(
            PrivacyBudget({"v": [1.0] * len(values)}, epsilon=epsilon, max_contributions=bound)
            .count("v", epsilon=epsilon)
            .value
        )
    present = [float(v) for v in row[f"{aggregate.column}_list"] if v is not None]
    budget = PrivacyBudget({"v": present}, epsilon=epsilon, max_contributions=bound)
    if aggregate.kind == "count":
        return _value(budget.count("v", epsilon=epsilon).value)
    assert aggregate.bounds is not None
    if aggregate.kind == "sum":
        return _value(budget.sum("v", bounds=aggregate.bounds, epsilon=epsilon).value)
    return _value(budget.mean("v", bounds=aggregate.bounds, epsilon=epsilon).value)


def _value(value: float | list[float]) -> float:
    return float(value if isinstance(value, float) else value[0])
