"""Rule: every column reference must be a use its column's constraint allows.

Each granted column carries a :data:`~datacompact.sandbox.grants.ColumnConstraint`,
after the column control list of SecretFlow SCQL. What each one allows
(:data:`~datacompact.sandbox.grants.CONSTRAINT_USES`):

==============  ======  =========  =======  =========  =====  ====
constraint      output  group_key  compare  aggregate  count  join
==============  ======  =========  =======  =========  =====  ====
plain           yes     yes        yes      yes        yes    yes
group_by_only   .       yes        yes      .          yes    yes
aggregate_only  .       .          .        yes        yes    .
compare_only    .       .          .        .          yes    .
join_only       .       .          .        .          yes    yes
none            .       .          .        .          .      .
==============  ======  =========  =======  =========  =====  ====

The rule visits every scope of the qualified plan (the outer query, CTEs,
derived tables, IN, EXISTS and scalar subqueries, set-operation branches)
and every column reference in it: WHERE, HAVING, QUALIFY, ON, window
specifications, ORDER BY, LIMIT and the outputs alike. A reference is traced
to the physical column it reads, through correlated references and through
derived tables and CTEs that pass a column on unchanged, and classified by
its context, the first match winning:

1. ``group_key``: inside an expression equal to a GROUP BY key of its own
   SELECT (in the key itself, an output, HAVING or ORDER BY), when the key is
   built from this one column and constants (``YEAR(birth)``);
2. ``aggregate`` or ``count``: the bare argument of SUM or AVG, or of COUNT
   (``COUNT(DISTINCT pid)`` too), not under OVER: an expression inside an
   aggregate can isolate one row (``SUM(CASE WHEN pid = 'x' THEN income END)``);
3. in a predicate of WHERE, HAVING, QUALIFY or ON, reached through AND, OR,
   NOT and brackets only: ``join`` when the predicate is an equality between
   two bare columns of two different table references, or ``x IN (SELECT y
   ...)`` with bare columns; ``compare`` when the predicate reads this column
   and constants only (no other column, aggregate, window or subquery). A
   comparison with another column, another row or a subquery is ``output``;
4. ``reference``: a bare output of a derived table or CTE (counted as
   ``count`` when that SELECT is DISTINCT, since it then decides how many rows
   there are), or an output of an EXISTS subquery, whose value is discarded;
5. ``output``: anything else, window specifications (PARTITION BY and ORDER
   BY inside OVER) and ORDER BY of ungrouped rows included, since they order
   or partition individual rows by the value.

A join links two columns of the same constraint only: joined with a looser
column, a stricter one would show through it (``birth = other.day`` would
print ``day`` on every row that matches a birth date).

The first violation is refused, naming the table, the column, its constraint
and the use, never a value. The plan itself is returned unchanged.

>>> from datacompact.sandbox.analyze import analyze
>>> from datacompact.sandbox.grants import ColumnRule as R
>>> sbk = GrantedTable(name="sbk", parquet_path="sbk.parquet", entity_column="pid", columns={
...     "pid": R(constraint="join_only"), "birth": R(constraint="group_by_only"), "income": R()})
>>> grant = GrantView(grant_id="g", tables={"sbk": sbk})
>>> plan = analyze("SELECT YEAR(birth), COUNT(DISTINCT pid) FROM sbk GROUP BY YEAR(birth)", grant)
>>> check_column_constraints(plan) is plan
True
>>> check_column_constraints(analyze("SELECT birth, pid FROM sbk GROUP BY birth, pid", grant))
Traceback (most recent call last):
...
datacompact.errors.PolicyViolation: 列 sbk.pid 的约束为 join_only，不能作为分组键 / column sbk.pid is join_only: it cannot be used as a GROUP BY key (it may be: counted, an equality join key)
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope, walk_in_scope

from datacompact.sandbox import _allow
from datacompact.sandbox.analyze import _source
from datacompact.sandbox.grants import (
    CONSTRAINT_USES,
    ColumnConstraint,
    ColumnUse,
    GrantedTable,
    GrantView,
)
from datacompact.sandbox.plan import Plan, refuse

#: A physical granted column: its table and its name.
Origin = tuple[GrantedTable, str]

#: Nodes a predicate is combined with; anything else is a predicate of its own.
_CONNECTIVES = (exp.And, exp.Or, exp.Not, exp.Paren)
#: Nodes that bring other rows into a value: a predicate holding one reads
#: more than its own row's column.
_OTHER_ROWS = (exp.AggFunc, exp.Window, exp.Query, exp.Exists)
#: The clauses of a SELECT in which a GROUP BY key stands for its group.
_KEY_CLAUSES = frozenset({"expressions", "group", "having", "order"})
#: The clauses of a SELECT that filter rows.
_FILTER_CLAUSES = frozenset({"where", "having", "qualify"})

_USE_TEXT: dict[ColumnUse, tuple[str, str]] = {
    "output": ("作为值输出或参与其他计算", "output as a value or computed with other values"),
    "group_key": ("作为分组键", "used as a GROUP BY key"),
    "compare": ("在行过滤中与常量比较", "compared with constants in a row filter"),
    "aggregate": ("作为 SUM/AVG 的参数", "the argument of SUM or AVG"),
    "count": ("被计数", "counted"),
    "join": ("作为等值连接键", "an equality join key"),
    "reference": ("在子查询中引用", "referenced in a subquery"),
}


def check_column_constraints(plan: Plan) -> Plan:
    if all(
        plan.grant.tables[table].columns[column].constraint == "plain"
        for table, columns in plan.touched.items()
        for column in columns
    ):
        return plan
    for scope in traverse_scope(plan.expression):
        for node in walk_in_scope(scope.expression):
            if not isinstance(node, exp.Column) or not node.table:
                continue  # unqualified: an output name of the same SELECT, checked there
            origin = _origin(plan.grant, scope, node)
            if origin is None:
                continue  # a value computed in a derived table, checked where it is computed
            constraint = _constraint(origin)
            if constraint == "plain":
                continue
            use, partner = _use(plan.grant, scope, node)
            if use not in CONSTRAINT_USES[constraint]:
                raise _refused(origin, constraint, use)
            if partner is not None and _constraint(partner) != constraint:
                raise _mismatched(origin, constraint, partner)
    return plan


def _constraint(origin: Origin) -> ColumnConstraint:
    table, column = origin
    return table.columns[column].constraint


def _origin(grant: GrantView, scope: Scope, column: exp.Column) -> Origin | None:
    """The physical column ``column`` reads, or None for a value computed in a derived table."""
    source = _source(scope, column.table)
    if isinstance(source, exp.Table):
        table = grant.tables.get(source.name.lower())
        if table is None or column.name not in table.columns:
            return None
        return table, column.name
    if isinstance(source, Scope) and _passes_on(source):
        select = source.expression
        assert isinstance(select, exp.Select)  # noqa: S101 - narrows the type for mypy
        for projection in select.expressions:
            if projection.alias_or_name == column.name:
                inner = projection.unalias()
                if not isinstance(inner, exp.Column) or not inner.table or inner in _keys(select):
                    # Computed, or a GROUP BY key already released as one: checked there.
                    return None
                return _origin(grant, source, inner)
    return None


def _keys(select: exp.Select) -> list[exp.Expr]:
    """The GROUP BY keys of ``select`` (none for ``GROUP BY ALL``, whose outputs stay traced)."""
    group = select.args.get("group")
    return list(group.expressions) if group is not None else []


def _passes_on(scope: Scope) -> bool:
    """Whether a derived table or CTE hands its bare outputs on by unique names.

    DuckDB renames a repeated output name (``d``, ``d_1``), which sqlglot does
    not see; such a SELECT's outputs are then checked as outputs, not traced.
    """
    select = scope.expression
    if not (scope.is_derived_table or scope.is_cte) or not isinstance(select, exp.Select):
        return False
    names = [p.alias_or_name for p in select.expressions]
    return len(names) == len(set(names))


def _use(grant: GrantView, scope: Scope, column: exp.Column) -> tuple[ColumnUse, Origin | None]:
    """How ``column`` is used in ``scope``, and the column it is joined with for a ``join``."""
    select = scope.expression
    if isinstance(select, exp.Select):
        top, path = _clause(column, select)
        if top.arg_key in _KEY_CLAUSES and _is_key(column, path, select):
            return "group_key", None
        aggregate = _aggregate_use(column)
        if aggregate is not None:
            return aggregate, None
        root = _filter_root(top)
        if root is not None and any(node is root for node in path):
            found = _predicate_use(grant, scope, column, _atom(path, root))
            if found is not None:
                return found
        if top.arg_key == "expressions" and top.unalias() is column:
            return _projection_use(grant, scope, select)
    return "output", None


def _clause(column: exp.Expr, select: exp.Select) -> tuple[exp.Expr, list[exp.Expr]]:
    """The child of ``select`` holding ``column``, and the path from ``column`` up to it."""
    path = [column]
    node = column
    while node.parent is not None and node.parent is not select:
        node = node.parent
        path.append(node)
    return node, path


def _reads_only(expression: exp.Expr, column: exp.Column) -> bool:
    """Whether ``expression`` reads ``column`` and constants only, within its own row."""
    if any(isinstance(n, _OTHER_ROWS) for n in expression.walk()):
        return False
    return all(
        c.table == column.table and c.name == column.name for c in expression.find_all(exp.Column)
    )


def _is_key(column: exp.Column, path: list[exp.Expr], select: exp.Select) -> bool:
    keys = _keys(select)
    # Under OVER (arguments, PARTITION BY, ORDER BY) a value orders or partitions rows.
    if not keys or any(isinstance(node, exp.Window) for node in path):
        return False
    for node in path:
        if any(node == key for key in keys):
            return _reads_only(node, column)
    return False


def _aggregate_use(column: exp.Column) -> ColumnUse | None:
    holder: exp.Expr = column
    if isinstance(column.parent, exp.Distinct) and len(column.parent.expressions) == 1:
        holder = column.parent
    aggregate = holder.parent
    if (
        aggregate is None
        or type(aggregate) not in _allow.SAFE_AGGREGATES
        or holder.arg_key != "this"
        or aggregate.args.get("expressions")
        or isinstance(aggregate.parent, exp.Window)
    ):
        return None
    return "count" if isinstance(aggregate, exp.Count) else "aggregate"


def _filter_root(top: exp.Expr) -> exp.Expr | None:
    if top.arg_key in _FILTER_CLAUSES:
        root: exp.Expr | None = top.this
        return root
    if isinstance(top, exp.Join):
        on: exp.Expr | None = top.args.get("on")
        return on
    return None


def _atom(path: list[exp.Expr], root: exp.Expr) -> exp.Expr:
    """The predicate holding the column: the first node below ``root`` that is no AND/OR/NOT."""
    index = next(i for i, node in enumerate(path) if node is root)
    while index > 0 and isinstance(path[index], _CONNECTIVES):
        index -= 1
    return path[index]


def _predicate_use(
    grant: GrantView, scope: Scope, column: exp.Column, atom: exp.Expr
) -> tuple[ColumnUse, Origin | None] | None:
    if isinstance(atom, exp.EQ):
        sides = (atom.this, atom.expression)
        if all(isinstance(s, exp.Column) and s.table for s in sides) and any(
            s is column for s in sides
        ):
            other = sides[1] if sides[0] is column else sides[0]
            assert isinstance(other, exp.Column)  # noqa: S101 - both sides were checked to be columns
            partner = _origin(grant, scope, other)
            if partner is not None and _source(scope, other.table) is not _source(
                scope, column.table
            ):
                return "join", partner
    if isinstance(atom, exp.In) and atom.this is column and atom.args.get("query") is not None:
        inner = _in_scope(scope, atom)
        partner = _linked(grant, inner) if inner is not None else None
        return ("join", partner) if partner is not None else None
    if _reads_only(atom, column):
        return "compare", None
    return None


def _in_scope(scope: Scope, atom: exp.In) -> Scope | None:
    query = atom.args["query"]
    select = query.this if isinstance(query, exp.Subquery) else query
    return next((s for s in scope.subquery_scopes if s.expression is select), None)


def _linked(grant: GrantView, inner: Scope) -> Origin | None:
    """The column an IN subquery returns, when it returns one bare column."""
    select = inner.expression
    if not isinstance(select, exp.Select) or len(select.expressions) != 1:
        return None
    value = select.expressions[0].unalias()
    if not isinstance(value, exp.Column) or not value.table:
        return None
    return _origin(grant, inner, value)


def _projection_use(
    grant: GrantView, scope: Scope, select: exp.Select
) -> tuple[ColumnUse, Origin | None]:
    holder = select.parent.parent if isinstance(select.parent, exp.Subquery) else select.parent
    if isinstance(holder, exp.In) and scope.parent is not None:
        left = holder.this
        if isinstance(left, exp.Column) and left.table:
            partner = _origin(grant, scope.parent, left)
            if partner is not None and _linked(grant, scope) is not None:
                return "join", partner
        return "output", None
    if isinstance(holder, exp.Exists):
        return "reference", None
    if _passes_on(scope):
        return ("count" if select.args.get("distinct") else "reference"), None
    return "output", None


def _refused(origin: Origin, constraint: ColumnConstraint, use: ColumnUse) -> Exception:
    table, column = origin
    zh_use, en_use = _USE_TEXT[use]
    allowed = [
        text
        for u, (_, text) in _USE_TEXT.items()
        if u in CONSTRAINT_USES[constraint] - {"reference"}
    ]
    return refuse(
        f"列 {table.name}.{column} 的约束为 {constraint}，不能{zh_use}",
        f"column {table.name}.{column} is {constraint}: it cannot be {en_use} "
        f"(it may be: {', '.join(allowed) or 'nothing'})",
        rule="column_constraint",
        table=table.name,
        column=column,
        constraint=constraint,
        use=use,
    )


def _mismatched(origin: Origin, constraint: ColumnConstraint, partner: Origin) -> Exception:
    table, column = origin
    other, other_column = partner
    theirs = _constraint(partner)
    return refuse(
        f"列 {table.name}.{column}（{constraint}）只能与约束相同的列连接，"
        f"{other.name}.{other_column} 为 {theirs}",
        f"column {table.name}.{column} is {constraint}: it may only be joined with a column "
        f"of the same constraint, and {other.name}.{other_column} is {theirs}",
        rule="column_constraint",
        table=table.name,
        column=column,
        constraint=constraint,
        use="join",
    )
