"""Rule: turn a DP aggregate query into a pre-release query for the engine.

In ``dp_aggregates`` mode the numbers never come from SQL. The outer query
(already checked by :mod:`.aggregate_shape`) is rewritten to return, per row,
its group keys, the bare columns its aggregates read and the entity, with at
most ``max_contributions`` rows per entity (the contribution bound of the
privacy unit). The engine then groups those rows, keeps a group only if its
*noisy* count of distinct entities reaches a threshold of at least k, and
releases each aggregate of a kept group with OpenDP noise, never ours (see
:mod:`datacompact.sandbox._release`).

The rule also calibrates every OpenDP measurement the release will use, from
the grant's ε, the contribution bound, k and the columns' ``dp_bounds``, with
no data: an ε OpenDP cannot calibrate (subnormal, or so small that the noise
scale or the threshold overflows) or bounds that make a scale non-finite are
refused here, at analysis, with rule ``dp_calibration``, instead of failing
after the SQL ran. The release's δ is recorded on the plan for the receipt.

Only COUNT(*), COUNT(col), SUM(col) and AVG(col) over a single DP table are
supported, SUM and AVG only on columns with ``dp_bounds``. HAVING, ORDER BY,
LIMIT and DISTINCT would act on true values, so they are refused.

>>> from datacompact.sandbox.examples import demo_plan
>>> p = dp_release(demo_plan("SELECT district, SUM(income) AS s FROM sbk GROUP BY district", "dp_aggregates"))
>>> p.dp_keys, [a.kind for a in p.dp_aggregates], p.dp_min_entities, 0 < p.dp_delta <= 1e-6
(('district',), ['sum'], 10, True)
>>> p.sql()
'SELECT sbk.district AS district, sbk.income AS __dc_a0, sbk.__dc_entity AS __dc_entity FROM sbk AS sbk QUALIFY ROW_NUMBER() OVER (PARTITION BY sbk.__dc_entity) <= 1'
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from datacompact.privacy.dp import CalibratedRelease, calibrate_release
from datacompact.sandbox.plan import DPAggregate, Plan, refuse

ENTITY = "__dc_entity"
_KINDS: dict[type[exp.Expr], str] = {exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg"}


def dp_release(plan: Plan) -> Plan:
    if plan.mode != "dp_aggregates" or not isinstance(plan.expression, exp.Select):
        return plan
    root = plan.expression.copy()
    for clause in ("having", "order", "limit", "offset", "distinct"):
        if root.args.get(clause):
            raise _dp(
                f"DP 模式不支持 {clause.upper()}",
                f"{clause.upper()} is not supported on DP releases",
            )
    dp_tables = [
        t
        for t in root.find_all(exp.Table)
        if plan.grant.tables[t.name.lower()].output_mode == "dp_aggregates"
    ]
    if len(dp_tables) != 1:
        raise _dp("DP 查询只能读取一张 DP 表", "a DP release reads exactly one DP table")
    alias = dp_tables[0].alias_or_name
    granted = plan.grant.tables[dp_tables[0].name.lower()]
    keys: list[str] = []
    aggregates: list[DPAggregate] = []
    outputs: list[exp.Expr] = []
    for projection in root.expressions:
        name = projection.alias_or_name
        value = projection.unalias()
        kind = _KINDS.get(type(value))
        if kind is None:
            keys.append(name)
            outputs.append(exp.alias_(value.copy(), name))
            continue
        arg = value.this
        if isinstance(arg, exp.Distinct):
            raise _dp(
                "DP 模式不支持 DISTINCT 聚合",
                "DISTINCT aggregates are not supported on DP releases",
            )
        # COUNT(x) counts the non-null values of x, whatever x is; COUNT(*) counts rows.
        column = None if isinstance(arg, exp.Star) else arg.name
        bounds = None
        if kind in {"sum", "avg"}:
            if not isinstance(arg, exp.Column) or arg.table != alias:
                raise _dp(
                    "DP 求和只能针对 DP 表的列", "DP sums and means read a column of the DP table"
                )
            bounds = granted.columns[arg.name].dp_bounds
            if bounds is None:
                raise _dp(
                    f"列 {arg.name} 没有 DP 边界", f"column {arg.name} has no DP bounds for SUM/AVG"
                )
        slot = f"__dc_a{len(aggregates)}"
        aggregates.append(
            DPAggregate(
                name=name, kind=kind, column=None if column is None else slot, bounds=bounds
            )
        )
        if column is not None:
            outputs.append(exp.alias_(arg.copy(), slot))
    outputs.append(exp.alias_(exp.column(ENTITY, table=alias), ENTITY))
    root.set("expressions", outputs)
    root.set("group", None)
    bound = exp.Window(this=exp.RowNumber(), partition_by=[exp.column(ENTITY, table=alias)])
    root.set(
        "qualify",
        exp.Qualify(
            this=exp.LTE(this=bound, expression=exp.Literal.number(plan.grant.max_contributions))
        ),
    )
    planned = plan.evolve(
        "dp_release",
        expression=root,
        dp_keys=tuple(keys),
        dp_aggregates=tuple(aggregates),
        dp_min_entities=granted.min_group_entities,
    )
    return replace(planned, dp_delta=release_calibration(planned).delta)


def release_calibration(plan: Plan) -> CalibratedRelease:
    """The OpenDP measurements of ``plan``'s release, or a ``dp_calibration`` refusal.

    The rule calls it at analysis and the release calls it again after the
    SQL: same arguments, same (cached) result, so the release cannot fail
    where the analysis passed.
    """
    return calibrate_release(
        plan.grant.epsilon_per_query,
        aggregates=[(a.kind, a.bounds) for a in plan.dp_aggregates],
        max_contributions=plan.grant.max_contributions,
        min_entities=plan.dp_min_entities,
        grouped=bool(plan.dp_keys),
    )


def _dp(zh: str, en: str) -> Exception:
    return refuse(zh, en, rule="dp_release")
