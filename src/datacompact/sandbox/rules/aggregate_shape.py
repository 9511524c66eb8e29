"""Rule: in aggregate-only modes, only aggregates over whole groups may leave.

The rule checks the whole plan, not only the outer SELECT:

* the outer query must aggregate, and each output is a group key or a COUNT,
  SUM or AVG of a *bare column* (or ``COUNT(*)``). MIN, MAX, MEDIAN return one
  row's own value and are refused. An expression inside an aggregate
  (``SUM(CASE WHEN pid = 'x' THEN income END)``, ``SUM(income * (pid = 'x'))``)
  could isolate one row of a large group, so it is refused too;
* no CTE, derived table, window function or set operation: each would let a
  row value be shaped before the aggregate sees it;
* no subquery at all, filtering ones included. The entity threshold counts
  the entities of the tables the outer query reads, but ``WHERE EXISTS
  (SELECT 1 FROM t AS o WHERE o.income = 1234.5 AND o.district = 'x')`` or
  ``district IN (SELECT district FROM t WHERE <one person>)`` makes every
  released group depend on one record of another scope, which no threshold
  sees. A JOIN says the same thing, and each joined table with an entity
  then gets its own threshold.

``GROUP BY ROLLUP``, ``CUBE`` and ``GROUPING SETS`` never get this far: they
are outside the analyzer's allow-list, because a total minus its released
sub-totals would give a suppressed cell by subtraction.

Small groups are suppressed by :mod:`.entity_threshold`, which runs next.

>>> from datacompact.sandbox.examples import demo_plan
>>> check_aggregate_shape(demo_plan("SELECT district, AVG(income) FROM sbk GROUP BY district")).applied
('check_aggregate_shape',)
>>> check_aggregate_shape(demo_plan("SELECT SUM(CASE WHEN age = 40 THEN income END) FROM sbk"))
Traceback (most recent call last):
...
datacompact.errors.PolicyViolation: 聚合函数的参数必须是列 / in aggregate-only mode an aggregate takes a bare column
>>> check_aggregate_shape(demo_plan("SELECT COUNT(*) FROM sbk WHERE EXISTS (SELECT 1 FROM biz)"))
Traceback (most recent call last):
...
datacompact.errors.PolicyViolation: 聚合模式不允许子查询 / in aggregate-only mode subqueries are not allowed; join the table instead
"""

from __future__ import annotations

from sqlglot import exp

from datacompact.sandbox import _allow
from datacompact.sandbox.grants import AGGREGATE_MODES
from datacompact.sandbox.plan import Plan, refuse


def check_aggregate_shape(plan: Plan) -> Plan:
    if plan.mode not in AGGREGATE_MODES:
        return plan
    root = plan.expression
    if not isinstance(root, exp.Select):
        raise _shape(
            "只允许单个 SELECT", "in aggregate-only mode the query is one SELECT", "set_operation"
        )
    for node in root.walk():
        if isinstance(node, exp.With | exp.Window | exp.Qualify):
            raise _shape(
                "聚合模式不支持 CTE 或窗口函数",
                "in aggregate-only mode CTEs and window functions are not allowed",
                node.key,
            )
        if isinstance(node, exp.Subquery | exp.Select) and node is not root:
            _check_subquery(node)
    group = list(root.args["group"].expressions) if root.args.get("group") else []
    keys = {g.sql() for g in group}
    if not any(isinstance(p.unalias(), tuple(_allow.SAFE_AGGREGATES)) for p in root.expressions):
        raise _shape(
            "聚合模式只能输出聚合结果",
            "in aggregate-only mode the query must aggregate",
            "not_aggregate",
        )
    for projection in root.expressions:
        value = projection.unalias()
        if value.sql() in keys:
            continue
        if not isinstance(value, tuple(_allow.SAFE_AGGREGATES)):
            raise _shape(
                "输出必须是分组键或 COUNT/SUM/AVG",
                "in aggregate-only mode each output is a group key or COUNT, SUM or AVG",
                "output_not_aggregate",
            )
    for clause in ("expressions", "having", "order"):
        for agg in _aggregates(root, clause):
            _check_aggregate(agg)
    return plan.evolve("check_aggregate_shape")


def _aggregates(root: exp.Select, clause: str) -> list[exp.Func]:
    value = root.args.get(clause)
    nodes = value if isinstance(value, list) else [value] if value is not None else []
    found: list[exp.Func] = []
    for node in nodes:
        found.extend(
            n for n in node.walk() if isinstance(n, exp.Func) and type(n) in _allow.AGGREGATES
        )
    return found


def _check_aggregate(agg: exp.Func) -> None:
    if type(agg) not in _allow.SAFE_AGGREGATES:
        raise _shape(
            f"聚合模式不允许 {agg.sql_name()}",
            f"in aggregate-only mode {agg.sql_name()} is not allowed (it returns one row's value)",
            "unsafe_aggregate",
        )
    arg = agg.this
    if isinstance(arg, exp.Distinct) and len(arg.expressions) == 1:
        arg = arg.expressions[0]
    if isinstance(arg, exp.Star) and isinstance(agg, exp.Count):
        return
    if not isinstance(arg, exp.Column) or agg.args.get("expressions"):
        raise _shape(
            "聚合函数的参数必须是列",
            "in aggregate-only mode an aggregate takes a bare column",
            "aggregate_argument",
        )


def _check_subquery(node: exp.Expr) -> None:
    if isinstance(node, exp.Select) and isinstance(
        node.parent, exp.Union | exp.Intersect | exp.Except
    ):
        raise _shape(
            "只允许单个 SELECT", "in aggregate-only mode the query is one SELECT", "set_operation"
        )
    raise _shape(
        "聚合模式不允许子查询",
        "in aggregate-only mode subqueries are not allowed; join the table instead",
        "subquery",
    )


def _shape(zh: str, en: str, rule: str) -> Exception:
    return refuse(zh, en, rule=f"aggregate_shape:{rule}")
