"""Analysis: one SELECT, built from the allow-list, over granted columns only.

:func:`analyze` is the first gate of the sandbox. It parses the user's SQL
(DuckDB dialect) with SQLGlot and refuses, before anything runs:

* more than one statement, any comment, anything but a query;
* a node type or function outside :mod:`datacompact.sandbox._allow`: table
  functions and dynamic SQL, catalog functions, ``COLUMNS()``, ``PIVOT``,
  struct constructors, schema-qualified names (``information_schema.*``);
* recursive CTEs, more joins than the limit, and joins without an equality
  between both sides (cartesian products);
* a table outside the grant, a column outside the grant ("column
  sbk.resident_id is not granted"), and whole-row references (``SELECT t FROM t``).

``*`` is expanded to the *granted* columns (never refused): the grant is the
schema the query is qualified against, so an ungranted column cannot appear
in an expansion. The columns are resolved through CTEs, derived tables, joins
and correlated subqueries with sqlglot's ``qualify`` and scope analysis.

>>> from datacompact.sandbox.grants import ColumnRule, GrantedTable, GrantView
>>> t = GrantedTable(name="sbk", parquet_path="x.parquet", output_mode="records",
...                  columns={"district": ColumnRule(), "age": ColumnRule()})
>>> plan = analyze("SELECT * FROM sbk WHERE age > 30", GrantView(grant_id="g", tables={"sbk": t}))
>>> plan.sql()
'SELECT sbk.district AS district, sbk.age AS age FROM sbk AS sbk WHERE sbk.age > 30'
>>> sorted(plan.touched["sbk"])
['age', 'district']
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope, walk_in_scope

from datacompact.errors import MalformedInput, PayloadTooLarge
from datacompact.sandbox import _allow
from datacompact.sandbox.grants import MODE_ORDER, GrantView, Limits, OutputMode
from datacompact.sandbox.plan import Plan, refuse, sha256_text

_LIMITS = Limits()


def analyze(sql: str, grant: GrantView, *, limits: Limits = _LIMITS) -> Plan:
    """Parse, check and qualify ``sql`` under ``grant``; raise on the first broken rule."""
    if len(sql) > limits.max_sql_chars:
        raise PayloadTooLarge(
            f"查询过长 / expected at most {limits.max_sql_chars} characters of SQL",
            details={"limit": limits.max_sql_chars, "found": len(sql)},
        )
    tree = _parse_one(sql)
    _check_nodes(tree, limits)
    tables = _physical_tables(tree, grant)
    mode: OutputMode = max((grant.tables[t].output_mode for t in tables), key=MODE_ORDER.index)
    if mode == "k_anonymous":
        raise refuse(
            "k-匿名授权只能通过隐私引擎导出",
            "a k_anonymous grant releases extracts through the privacy engine, not SQL",
            rule="k_anonymous_mode",
        )
    qualified = _qualify(tree, grant)
    # qualify may introduce nodes (e.g. whole-row TableColumn): check again.
    for node in qualified.walk():
        if isinstance(node, exp.TableColumn):
            raise refuse("不允许整行引用", "whole-row references are not allowed", rule="whole_row")
        _check_node(node)
    touched = _resolve_columns(qualified, grant)
    _check_join_predicates(qualified)
    return Plan(
        expression=qualified,
        grant=grant,
        touched=touched,
        mode=mode,
        limits=limits,
        sql_hash=sha256_text(sql),
    )


def _parse_one(sql: str) -> exp.Query:
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except SqlglotError as exc:
        raise MalformedInput(
            "无法解析 SQL / expected DuckDB SQL, got text that does not tokenize"
        ) from exc
    # Comments can hide a second statement from a reviewer, or hints from a
    # linter; they carry nothing a query needs.
    if any(token.comments for token in tokens):
        raise refuse("不允许注释", "comments are not allowed", rule="comments")
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except SqlglotError as exc:
        raise MalformedInput(
            "无法解析 SQL / expected one DuckDB SELECT, got text that does not parse"
        ) from exc
    if not statements:
        raise MalformedInput("空查询 / expected one SELECT, got no statement")
    if len(statements) != 1:
        raise refuse(
            "只允许一条语句",
            f"expected exactly one statement, got {len(statements)}",
            rule="one_statement",
        )
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise refuse(
            "只允许 SELECT 查询",
            "only a SELECT query is allowed",
            rule="select_only",
            node=tree.key,
        )
    return tree


def _check_nodes(tree: exp.Expr, limits: Limits) -> None:
    joins = 0
    for count, node in enumerate(tree.walk(), start=1):
        if count > limits.max_nodes:
            raise refuse(
                "查询过于复杂", "the query is too large", rule="max_nodes", limit=limits.max_nodes
            )
        _check_node(node)
        if isinstance(node, exp.Join):
            joins += 1
            if joins > limits.max_joins:
                raise refuse(
                    "连接过多",
                    f"at most {limits.max_joins} joins are allowed",
                    rule="max_joins",
                    limit=limits.max_joins,
                )
            if node.args.get("kind", "").upper() == "CROSS" or not (
                node.args.get("on") or node.args.get("using")
            ):
                raise refuse(
                    "不允许笛卡尔积连接",
                    "joins need an ON or USING condition (no cartesian products)",
                    rule="cartesian_join",
                )
        elif isinstance(node, exp.With) and node.args.get("recursive"):
            raise refuse("不允许递归 CTE", "recursive CTEs are not allowed", rule="recursive_cte")


def _check_node(node: exp.Expr) -> None:
    if type(node) in _allow.NODES:
        pass
    elif isinstance(node, exp.Anonymous):
        if node.name.lower() not in _allow.ANONYMOUS:
            raise _function_refused(node.name.lower())
    elif isinstance(node, exp.Func):
        if type(node) not in _allow.SCALARS and type(node) not in _allow.AGGREGATES:
            raise _function_refused(node.sql_name().lower())
    else:
        raise refuse(
            f"不允许的语法 {node.key.upper()}",
            f"{node.key.upper()} is not allowed",
            rule="node_not_allowed",
            node=node.key,
        )
    if isinstance(node, exp.Identifier) and node.name.lower().startswith(_allow.INTERNAL_PREFIX):
        raise refuse(
            "保留的标识符", "identifiers starting with __dc are reserved", rule="reserved_name"
        )
    if isinstance(node, exp.Table):
        if not isinstance(node.this, exp.Identifier):
            raise refuse("不允许表函数", "table functions are not allowed", rule="table_function")
        if (
            node.args.get("db")
            or node.args.get("catalog")
            or node.name.lower().startswith(_allow.SYSTEM_PREFIXES)
        ):
            raise refuse(
                "不允许访问系统目录",
                "schema-qualified and system tables are not allowed",
                rule="system_catalog",
            )
    if isinstance(node, exp.Column) and (node.args.get("db") or node.args.get("catalog")):
        raise refuse(
            "不允许结构体字段访问", "struct field access is not allowed", rule="struct_access"
        )


def _function_refused(name: str) -> Exception:
    return refuse(
        f"不允许的函数 {name}",
        f"function {name} is not allowed",
        rule="function_not_allowed",
        function=name,
    )


def _physical_tables(tree: exp.Expr, grant: GrantView) -> frozenset[str]:
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    found: set[str] = set()
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if name in ctes:
            continue
        if name not in grant.tables:
            raise refuse(
                f"表 {name} 未授权",
                f"table {name} is not granted",
                rule="table_not_granted",
                table=name,
            )
        found.add(name)
    if not found:
        raise refuse("查询必须读取授权表", "the query must read a granted table", rule="no_table")
    return frozenset(found)


def _qualify(tree: exp.Query, grant: GrantView) -> exp.Query:
    schema: dict[str, object] = {
        name: {c: "UNKNOWN" for c in t.columns} for name, t in grant.tables.items()
    }
    try:
        result = qualify(
            tree.copy(),
            schema=schema,
            dialect="duckdb",
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
    except SqlglotError as exc:
        _explain_unresolved(tree, schema, grant)
        raise MalformedInput("无法解析列引用 / expected resolvable column references") from exc
    assert isinstance(result, exp.Query)
    return result


def _explain_unresolved(tree: exp.Query, schema: dict[str, object], grant: GrantView) -> None:
    """Name the ungranted column that made ``qualify`` fail, if that is what happened."""
    try:
        partial = qualify(tree.copy(), schema=schema, dialect="duckdb", qualify_columns=False)
    except SqlglotError:
        return
    for scope in traverse_scope(partial):
        for column in walk_in_scope(scope.expression):
            if isinstance(column, exp.Column) and column.table:
                source = _source(scope, column.table)
                if isinstance(source, exp.Table):
                    table = grant.tables.get(source.name.lower())
                    if table is not None and column.name not in table.columns:
                        raise _not_granted(table.name, column.name)


def _source(scope: Scope | None, alias: str) -> exp.Expr | Scope | None:
    # Correlated references name a source of an enclosing scope.
    while scope is not None:
        if alias in scope.sources:
            found: exp.Expr | Scope = scope.sources[alias]
            return found
        scope = scope.parent
    return None


def _resolve_columns(tree: exp.Query, grant: GrantView) -> Mapping[str, frozenset[str]]:
    touched: dict[str, set[str]] = {}
    for scope in traverse_scope(tree):
        aliases = set(scope.sources)
        for column in walk_in_scope(scope.expression):
            if not isinstance(column, exp.Column):
                continue
            if isinstance(column.this, exp.Star):
                raise refuse(
                    "不允许 * 展开", "this * cannot be expanded to granted columns", rule="star"
                )
            if (
                not column.table
                and column.name in _output_names(scope.expression)
                and column.find_ancestor(exp.Order, exp.Having, exp.Group, exp.Qualify, exp.Where)
            ):
                continue  # a clause naming an output of the same SELECT
            if not column.table:
                physical = [s for s in scope.sources.values() if isinstance(s, exp.Table)]
                if column.name in aliases or column.name in grant.tables:
                    raise refuse(
                        "不允许整行引用", "whole-row references are not allowed", rule="whole_row"
                    )
                owner = physical[0].name if len(physical) == 1 else "?"
                raise _not_granted(owner, column.name)
            source = _source(scope, column.table)
            if isinstance(source, exp.Table):
                table = grant.tables[source.name.lower()]
                if column.name not in table.columns:
                    raise _not_granted(table.name, column.name)
                touched.setdefault(table.name, set()).add(column.name)
    for star in tree.find_all(exp.Star):
        if not isinstance(star.parent, exp.Count):
            raise refuse(
                "不允许 * 展开", "this * cannot be expanded to granted columns", rule="star"
            )
    return {name: frozenset(cols) for name, cols in touched.items()}


def _output_names(select: exp.Expr) -> set[str]:
    if not isinstance(select, exp.Select):
        return set()
    return {e.alias for e in select.expressions if isinstance(e, exp.Alias)}


def _not_granted(table: str, column: str) -> Exception:
    return refuse(
        f"列 {table}.{column} 未授权",
        f"column {table}.{column} is not granted",
        rule="column_not_granted",
        table=table,
        column=column,
    )


def _check_join_predicates(tree: exp.Expr) -> None:
    for join in tree.find_all(exp.Join):
        if join.args.get("using"):
            continue
        on = join.args["on"]
        if not any(
            isinstance(eq.left, exp.Column)
            and isinstance(eq.right, exp.Column)
            and eq.left.table != eq.right.table
            for eq in on.find_all(exp.EQ)
        ):
            raise refuse(
                "连接条件必须是两表列的等值比较",
                "join conditions need an equality between columns of both sides",
                rule="cartesian_join",
            )
