"""Rule: replace every physical table with a governed subquery.

Each granted table, wherever it appears (outer query, CTE, derived table,
correlated or IN subquery), becomes::

    (SELECT <masked granted columns>[, <entity> AS __dc_entity]
       FROM __dc_src_<table> AS __dc_t
      WHERE <platform row filter>) AS <alias>

so the row filter and the masks apply *below* every user predicate: a user
who filters on ``phone = '13800000000'`` compares against the masked value.
Only the columns the query touches are projected. The row filter reads the
raw columns (it is the platform's trusted SQL). Masks become calls to the
``__dc_mask_*`` functions that the engine registers from
:mod:`datacompact.privacy.masking`; the plan then requires ``masks``, and an
engine without them refuses the plan.

>>> from datacompact.sandbox.examples import demo_plan
>>> govern_tables(demo_plan("SELECT phone FROM sbk WHERE age > 30", "records")).sql()
'SELECT sbk.phone AS phone FROM (SELECT __dc_t.age AS age, __DC_MASK_PARTIAL(TRY_CAST(__dc_t.phone AS TEXT), 6, 4) AS phone FROM __dc_src_sbk AS __dc_t WHERE TRY(age >= 18)) AS sbk WHERE sbk.age > 30'
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from datacompact.sandbox.grants import AGGREGATE_MODES, ColumnRule, GrantedTable
from datacompact.sandbox.plan import Plan

SOURCE_PREFIX = "__dc_src_"
INNER = "__dc_t"
ENTITY = "__dc_entity"
#: The SQL function the engine must provide for each mask kind.
MASK_FUNCTIONS = {
    "pseudonym": ("__dc_mask_pseudonym", "VARCHAR"),
    "partial": ("__dc_mask_partial", "VARCHAR"),
    "truncate_date": ("__dc_mask_month", "DATE"),
    "truncate_year": ("__dc_mask_year", "DATE"),
}


def govern_tables(plan: Plan) -> Plan:
    root = plan.expression.copy()
    replaced: list[tuple[exp.Table, exp.Subquery]] = []
    masked = False
    for scope in traverse_scope(root):
        for alias, source in scope.sources.items():
            if not isinstance(source, exp.Table) or source.name.lower() not in plan.grant.tables:
                continue
            granted = plan.grant.tables[source.name.lower()]
            columns = sorted(
                plan.touched.get(granted.name, frozenset()), key=list(granted.columns).index
            )
            masked = masked or any(granted.columns[c].mask not in (None, "redact") for c in columns)
            entity = plan.mode in AGGREGATE_MODES and granted.entity_column is not None
            context = f"grant:{plan.grant.grant_id}"
            replaced.append(
                (source, governed(granted, columns, alias=alias, entity=entity, context=context))
            )
    for table, subquery in replaced:
        table.replace(subquery)
    requires = plan.requires | {"row_filters"} | ({"masks"} if masked else set())
    return plan.evolve("govern_tables", expression=root, requires=frozenset(requires))


def _masked(value: exp.Expr, rule: ColumnRule, *, context: str) -> exp.Expr:
    if rule.mask is None:
        return value
    if rule.mask == "redact":
        return exp.cast(exp.null(), "VARCHAR")
    function, sql_type = MASK_FUNCTIONS[rule.mask]
    # TRY_CAST, never CAST: the masks run only on the rows the user's own
    # predicates let through, so a value that fails the cast (a text date
    # column with one "unknown") would fail the query exactly when one record
    # matches. Such a value is masked to NULL instead.
    arguments: list[exp.Expr] = [exp.TryCast(this=value, to=exp.DataType.build(sql_type))]
    if rule.mask == "partial":
        arguments += [exp.Literal.number(k) for k in rule.keep]
    elif rule.mask == "pseudonym":
        # Pseudonyms are keyed per grant: equal values link within a grant only.
        arguments.append(exp.Literal.string(context))
    return exp.Anonymous(this=function, expressions=arguments)


def governed(
    table: GrantedTable, columns: list[str], *, alias: str, entity: bool, context: str
) -> exp.Subquery:
    """The governed subquery of ``table`` exposing ``columns`` under ``alias``."""
    projections: list[exp.Expr] = []
    for name in columns:
        value: exp.Expr = exp.column(name, table=INNER)
        value = _masked(value, table.columns[name], context=context)
        projections.append(exp.alias_(value, name))
    if entity and table.entity_column is not None:
        projections.append(exp.alias_(exp.column(table.entity_column, table=INNER), ENTITY))
    if not projections:
        # COUNT(*) alone touches no column; a constant keeps the row count.
        projections.append(exp.alias_(exp.Literal.number(1), "__dc_one"))
    select = exp.select(*projections).from_(exp.table_(SOURCE_PREFIX + table.name, alias=INNER))
    if table.filter_expression is not None:
        # DuckDB may evaluate the row filter after the user's predicates, on
        # the rows they selected: a filter that can fail on one value must
        # drop that row (TRY gives NULL), never fail the query.
        select = select.where(exp.Try(this=table.filter_expression.copy()))
    return select.subquery(alias)
