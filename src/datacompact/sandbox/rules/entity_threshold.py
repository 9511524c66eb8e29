"""Rule: suppress groups with fewer than k distinct entities (aggregate modes).

Adds ``HAVING COUNT(DISTINCT <alias>.__dc_entity) >= k`` to the outer query,
once per granted table with an entity column that the query joins, AND-ed
with the user's own HAVING. The count is of distinct *entities*, not rows, so
a join that repeats each row (fan-out) cannot inflate a small group past the
threshold. ``__dc_entity`` is exposed by the governed subquery of
:mod:`.govern_tables`; user SQL cannot name it (``__dc`` is reserved).

DP releases apply the same threshold after the pre-release query (see
:mod:`.dp_release`), so this rule leaves them alone.

>>> from datacompact.sandbox.examples import demo_plan
>>> add_entity_threshold(demo_plan("SELECT district, COUNT(*) AS n FROM sbk GROUP BY district")).sql()
'SELECT sbk.district AS district, COUNT(*) AS n FROM sbk AS sbk GROUP BY sbk.district HAVING COUNT(DISTINCT sbk.__dc_entity) >= 10'
"""

from __future__ import annotations

from sqlglot import exp

from datacompact.sandbox.plan import Plan

ENTITY = "__dc_entity"


def add_entity_threshold(plan: Plan) -> Plan:
    if plan.mode != "aggregates" or not isinstance(plan.expression, exp.Select):
        return plan
    root = plan.expression.copy()
    conditions: list[exp.Expr] = []
    for table in _root_tables(root):
        granted = plan.grant.tables[table.name.lower()]
        if granted.entity_column is None:
            continue
        entities = exp.Count(
            this=exp.Distinct(expressions=[exp.column(ENTITY, table=table.alias_or_name)])
        )
        conditions.append(
            exp.GTE(this=entities, expression=exp.Literal.number(granted.min_group_entities))
        )
    if not conditions:
        return plan
    having = root.args.get("having")
    if having is not None:
        conditions.insert(0, exp.paren(having.this, copy=False))
    root.set("having", exp.Having(this=exp.and_(*conditions, copy=False)))
    return plan.evolve("add_entity_threshold", expression=root)


def _root_tables(root: exp.Select) -> list[exp.Table]:
    """The physical tables joined by the outer query itself (not by its subqueries)."""
    sources: list[exp.Expr] = []
    if root.args.get("from_") is not None:
        sources.append(root.args["from_"].this)
    sources.extend(join.this for join in root.args.get("joins") or [])
    return [s for s in sources if isinstance(s, exp.Table)]
