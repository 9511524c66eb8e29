"""Analysis: one SELECT, built from the allow-list, over granted columns only.

:func:`analyze` is the first gate of the sandbox. It parses the user's SQL
(DuckDB dialect) with SQLGlot and refuses, before anything runs:

* more than one statement, any comment, anything but a query;
* SQL beyond the hard limits of :class:`~datacompact.sandbox.grants.Limits`
 : its length; its nesting, counted on the tokens before
  SQLGlot parses (SQLGlot's parser recurses once per level, about 25 Python
  frames each); the depth and the node count of the parsed tree. A
  ``RecursionError`` anywhere in the analysis is the same refusal (rule
  ``max_depth``), never a crash;
* a node type or function outside :mod:`datacompact.sandbox._allow`: table
  functions and dynamic SQL, catalog functions, ``COLUMNS()``, ``PIVOT``,
  struct constructors, schema-qualified names (``information_schema.*``);
* recursive CTEs, more joins than the limit, and every cartesian-shaped join
  (rule ``cartesian_join``): a join is accepted only if its condition is a
  conjunction (``AND``) holding an equality between a bare column of the
  joined table and one of a source before it. ``OR`` at the top, range-only
  conditions, ``CROSS``/``NATURAL``/``ASOF``/``POSITIONAL``/``SEMI``/``ANTI``
  joins and joins without a condition are refused, and so is a ``LIKE`` in a
  join condition whose pattern is built from columns (rule ``join_pattern``:
  one pattern per row pair is a resource bomb);
* a ``LIMIT`` or ``OFFSET`` that is not an integer literal;
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

from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from sqlglot import Token, TokenType, exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope, walk_in_scope

from datacompact.errors import MalformedInput, PayloadTooLarge
from datacompact.sandbox import _allow
from datacompact.sandbox.grants import MODE_ORDER, GrantView, Limits, OutputMode
from datacompact.sandbox.plan import Plan, refuse, sha256_text

_LIMITS = Limits()
_DUCKDB = Dialect.get_or_raise("duckdb")
#: Tokens that open and close a level of the parser's recursion.
_OPENERS = frozenset({TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE, TokenType.CASE})
_CLOSERS = frozenset({TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE, TokenType.END})
#: Join kinds that are not an inner or outer join on a condition.
_PLAIN_KINDS = frozenset({"", "INNER", "OUTER"})
_MAX_BIGINT = 2**63 - 1


def analyze(sql: str, grant: GrantView, *, limits: Limits = _LIMITS) -> Plan:
    """Parse, check and qualify ``sql`` under ``grant``; raise on the first broken rule."""
    try:
        return _analyze(sql, grant, limits)
    except RecursionError:
        pass
    # Raised outside the handler on purpose: the RecursionError, about a
    # thousand frames deep, is then neither its cause nor its context, so no
    # log line with a traceback can grow to hundreds of kilobytes.
    raise _too_deep(limits.max_depth)


def _analyze(sql: str, grant: GrantView, limits: Limits) -> Plan:
    if len(sql) > limits.max_sql_chars:
        raise PayloadTooLarge(
            f"查询过长 / expected at most {limits.max_sql_chars} characters of SQL",
            details={"limit": limits.max_sql_chars, "found": len(sql)},
        )
    tree = _parse_one(sql, limits)
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
    scopes = traverse_scope(qualified)
    touched = _resolve_columns(qualified, scopes, grant)
    _check_joins(scopes)
    return Plan(
        expression=qualified,
        grant=grant,
        touched=touched,
        mode=mode,
        limits=limits,
        sql_hash=sha256_text(sql),
    )


def _parse_one(sql: str, limits: Limits) -> exp.Query:
    try:
        tokens = _DUCKDB.tokenize(sql)
    except SqlglotError as exc:
        raise MalformedInput(
            "无法解析 SQL / expected DuckDB SQL, got text that does not tokenize"
        ) from exc
    # Comments can hide a second statement from a reviewer, or hints from a
    # linter; they carry nothing a query needs.
    if any(token.comments for token in tokens):
        raise refuse("不允许注释", "comments are not allowed", rule="comments")
    _check_nesting(tokens, limits.max_depth)
    try:
        statements = [s for s in _DUCKDB.parser().parse(tokens, sql) if s is not None]
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


def _check_nesting(tokens: Sequence[Token], limit: int) -> None:
    """Refuse SQL that nests deeper than ``limit`` before the recursive parser sees it.

    A level is a bracket or ``CASE … END``, plus each ``NOT`` right before
    one (``NOT (NOT (…))``): the parser holds frames for it until the bracket
    closes. A run of ``NOT`` keywords counts while it lasts. Long chains
    (``a + b + …``, ``x = 1 AND …``) do not nest and are bounded by the node count.

    >>> _check_nesting(_DUCKDB.tokenize("SELECT ((1))"), 2)
    >>> _check_nesting(_DUCKDB.tokenize("SELECT ))) (((1)))"), 2)
    Traceback (most recent call last):
    ...
    datacompact.errors.PolicyViolation: 查询嵌套过深 / the query nests deeper than 2 levels
    >>> _check_nesting(_DUCKDB.tokenize("SELECT NOT ((1))"), 2)
    Traceback (most recent call last):
    ...
    datacompact.errors.PolicyViolation: 查询嵌套过深 / the query nests deeper than 2 levels
    """
    held: list[int] = []
    depth = nots = 0
    for token in tokens:
        kind = token.token_type
        if kind == TokenType.NOT:
            nots += 1
        elif kind in _OPENERS:
            held.append(nots)
            depth += 1 + nots
            nots = 0
        elif kind in _CLOSERS:
            # Never below zero: stray closers first must not buy openers later.
            depth = max(depth - 1 - (held.pop() if held else 0), 0)
            nots = 0
        else:
            nots = 0
        if depth + nots > limit:
            raise _too_deep(limit)


def _too_deep(limit: int) -> Exception:
    return refuse(
        "查询嵌套过深",
        f"the query nests deeper than {limit} levels",
        rule="max_depth",
        limit=limit,
    )


def _check_nodes(tree: exp.Expr, limits: Limits) -> None:
    """Walk ``tree`` once, breadth first and without recursion, checking every node."""
    joins = 0
    count = 0
    queue: deque[tuple[exp.Expr, int]] = deque([(tree, 1)])
    while queue:
        node, depth = queue.popleft()
        count += 1
        if count > limits.max_nodes:
            raise refuse(
                "查询过于复杂", "the query is too large", rule="max_nodes", limit=limits.max_nodes
            )
        if depth > limits.max_tree_depth:
            raise _too_deep(limits.max_tree_depth)
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
            _check_join_shape(node)
        elif isinstance(node, exp.With) and node.args.get("recursive"):
            raise refuse("不允许递归 CTE", "recursive CTEs are not allowed", rule="recursive_cte")
        elif isinstance(node, (exp.Limit, exp.Offset)):
            _check_count(node)
        for child in node.iter_expressions():
            queue.append((child, depth if _chained(node, child) else depth + 1))


def _chained(parent: exp.Expr, child: exp.Expr) -> bool:
    """Whether ``child`` continues a chain SQLGlot handles without recursion.

    Its generator writes a run of ``AND``/``OR``, of set operations and of one
    binary operator with a loop, so ``a + b + c`` is one level deep, not three;
    ``a + b - c`` alternates operators and is not a chain.

    >>> _chained(exp.Add(this=exp.Add(), expression=exp.column("c")), exp.Add())
    True
    >>> _chained(exp.Sub(), exp.Add())
    False
    """
    if isinstance(parent, exp.Connector):
        return isinstance(child, exp.Connector)
    if isinstance(parent, exp.SetOperation):
        return isinstance(child, exp.SetOperation)
    return isinstance(parent, exp.Binary) and type(child) is type(parent)


def _check_join_shape(join: exp.Join) -> None:
    """Refuse a join that is cartesian by its keywords, before its condition is read."""
    kind = join.kind
    if join.method or kind not in _PLAIN_KINDS:
        shape = " ".join(w for w in (join.method, kind) if w)
        raise refuse(
            f"不允许 {shape} 连接",
            f"{shape} JOIN is not allowed; join on an equality of key columns",
            rule="cartesian_join",
            join=shape.lower(),
        )
    if not (join.args.get("on") or join.args.get("using")):
        raise refuse(
            "不允许笛卡尔积连接",
            "joins need an ON or USING condition (no cartesian products)",
            rule="cartesian_join",
        )


def _check_count(node: exp.Limit | exp.Offset) -> None:
    """``LIMIT`` and ``OFFSET`` take an integer literal: a count built from data is a channel."""
    value = node.args.get("expression")
    if not (
        isinstance(value, exp.Literal)
        and value.is_int
        and 0 <= int(value.this) <= _MAX_BIGINT
        and not node.args.get("limit_options")
    ):
        clause = node.key.upper()
        raise refuse(
            f"{clause} 必须是整数常量",
            f"{clause} takes a non-negative integer literal",
            rule="limit_literal",
            clause=node.key,
        )


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
        # Only visible columns: ``*`` never expands to a column constrained ``none``.
        name: dict.fromkeys(t.visible_columns, "UNKNOWN")
        for name, t in grant.tables.items()
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
    assert isinstance(result, exp.Query)  # noqa: S101 - narrows the type for mypy
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
                    if table is not None and column.name not in table.visible_columns:
                        raise _not_granted(table.name, column.name)


def _source(scope: Scope | None, alias: str) -> exp.Expr | Scope | None:
    # Correlated references name a source of an enclosing scope.
    while scope is not None:
        if alias in scope.sources:
            found: exp.Expr | Scope = scope.sources[alias]
            return found
        scope = scope.parent
    return None


def _resolve_columns(
    tree: exp.Query, scopes: Iterable[Scope], grant: GrantView
) -> Mapping[str, frozenset[str]]:
    touched: dict[str, set[str]] = {}
    for scope in scopes:
        aliases = set(scope.sources)
        for column in walk_in_scope(scope.expression):
            if not isinstance(column, exp.Column):
                continue
            if isinstance(column.this, exp.Star):
                raise refuse(
                    "不允许 * 展开", "this * cannot be expanded to granted columns", rule="star"
                )
            clause = column.find_ancestor(exp.Order, exp.Having, exp.Group, exp.Qualify, exp.Where)
            if (
                not column.table
                and clause is not None
                # The clause of this very SELECT: a subquery's output under an
                # outer WHERE is not an alias of the outer query.
                and clause.parent is scope.expression
                and column.name in _output_names(scope.expression)
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
                if column.name not in table.visible_columns:
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


def _check_joins(scopes: Iterable[Scope]) -> None:
    """Refuse each join whose condition does not tie the joined table to a source before it."""
    for scope in scopes:
        select = scope.expression
        if not isinstance(select, exp.Select):
            continue
        first = select.args.get("from_")
        before = {first.this.alias_or_name} if first is not None else set()
        for join in select.args.get("joins") or ():
            joined = join.this.alias_or_name
            # qualify has turned USING into ON equalities of the same columns.
            condition = join.args.get("on")
            if condition is not None:
                _check_join_condition(condition, joined, frozenset(before))
            before.add(joined)


def _check_join_condition(condition: exp.Expr, joined: str, before: frozenset[str]) -> None:
    """A conjunction with one equality of bare key columns, and no pattern built from data.

    ``a.x = b.x AND a.y = a.y`` passes (it still has its key equality and
    cannot grow the join); ``a.x = b.x OR 1 = 1``, ``a.t < b.t`` and
    ``a.x + 0 = b.x`` do not.
    """
    for like in condition.find_all(exp.Like, exp.ILike):
        if like.expression.find(exp.Column):
            raise refuse(
                "连接条件中的模式不能由列构成",
                "a LIKE pattern in a join condition must not be built from columns",
                rule="join_pattern",
            )
    if not any(_key_equality(c, joined, before) for c in _conjuncts(condition)):
        raise refuse(
            "连接条件必须是含两表键列等值比较的合取",
            "a join condition must be an AND of terms, one an equality between a column "
            "of the joined table and a column of the other side",
            rule="cartesian_join",
        )


def _conjuncts(condition: exp.Expr) -> list[exp.Expr]:
    """The terms of an ``AND`` tree (through brackets), left to right, without recursion.

    >>> import sqlglot
    >>> [t.sql() for t in _conjuncts(sqlglot.parse_one("(a = 1 AND (b = 2)) AND (c OR d)"))]
    ['a = 1', 'b = 2', 'c OR d']
    """
    terms: list[exp.Expr] = []
    stack = [condition]
    while stack:
        node = stack.pop().unnest()
        if isinstance(node, exp.And):
            stack.extend((node.expression, node.this))
        else:
            terms.append(node)
    return terms


def _key_equality(term: exp.Expr, joined: str, before: frozenset[str]) -> bool:
    if not isinstance(term, exp.EQ):
        return False
    left, right = term.this.unnest(), term.expression.unnest()
    if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
        return False
    return (left.table == joined and right.table in before) or (
        right.table == joined and left.table in before
    )
