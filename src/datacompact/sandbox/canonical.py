"""The canonical form of a SQL query, as the query-overlap auditor compares it.

Every SQL text is parsed (DuckDB dialect) and brought to a canonical form:
identifiers are lowercased and unquoted, table aliases, CTE names, derived
table names and output aliases are dropped or renamed by position, numbers
are normalised (``30.0`` is ``30``), a constant goes to the right of a
comparison (``30 < age`` is ``age > 30``), ``NOT`` is pushed into comparisons
(``NOT age > 30`` is ``age <= 30``, which is exact under SQL's three-valued
logic), ``IN`` lists and the operands of ``AND`` and ``OR`` are sorted,
``COUNT(1)`` is ``COUNT(*)``, and ``ORDER BY`` is dropped unless a ``LIMIT``
makes it matter. What is left splits in two: the *shape* (tables, joins,
outputs, grouping) and the *filter*, the set of ``WHERE`` and ``HAVING``
conjuncts. A text that does not parse, or is not one query, is skipped: the
sandbox refused it, so it released nothing.

:func:`canonicalize` returns the two parts as a :class:`Canonical`, each
filter conjunct as a :class:`Conjunct` with what the auditor's rules look
at: its negation, its template, its range bounds or ``IN`` values, its
columns. :func:`canonical_sql` prints the canonical form.

>>> canonical_sql("SELECT COUNT(1) AS n FROM sbk AS s WHERE NOT s.sex = 'f' AND 30.0 < s.age")
"SELECT COUNT(*) FROM sbk WHERE age > 30 AND sex <> 'f'"
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

from datacompact.sandbox.grants import is_plain_name

__all__ = ["Canonical", "Conjunct", "canonical_sql", "canonicalize"]

_DUCKDB = Dialect.get_or_raise("duckdb")
_NEGATED: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.EQ: exp.NEQ,
    exp.NEQ: exp.EQ,
    exp.GT: exp.LTE,
    exp.GTE: exp.LT,
    exp.LT: exp.GTE,
    exp.LTE: exp.GT,
}
_FLIPPED: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
    exp.EQ: exp.EQ,
    exp.NEQ: exp.NEQ,
    exp.NullSafeEQ: exp.NullSafeEQ,
}
_RANGES = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)
_ATOMS = (exp.Column, exp.Literal, exp.Func, exp.Boolean, exp.Null, exp.Star, exp.Subquery)


@dataclass(frozen=True)
class Conjunct:
    key: str  # clause tag + fingerprint, e.g. "w:(gt this:(column ...) expression:30)"
    negation: str  # the key of its negation
    template: str  # the key with literals as '?' and IN lists collapsed
    family: Literal["range", "list", "other"]
    order: tuple[tuple[int, float | str], ...]  # the literals, comparable, for range bounds
    values: frozenset[str]  # the members of an IN list
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Canonical:
    shape: str
    shape_size: int  # how many fingerprint tokens the shape contributes
    filters: frozenset[str]
    conjuncts: dict[str, Conjunct]


def canonicalize(sql: str) -> Canonical | None:
    try:
        tree = _canonical_tree(sql)
        return None if tree is None else _split(tree)
    # A deeply nested text can exhaust the recursion of the parser; like a
    # syntax error, it was refused, and is skipped rather than abort an audit.
    except (SqlglotError, RecursionError):
        return None


def _canonical_tree(sql: str) -> exp.Query | None:
    statements = [s for s in _DUCKDB.parse(sql) if s is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        return None
    tree = statements[0]
    nodes = list(tree.walk(bfs=False))
    _normalize_names(nodes)
    # Children before parents, so each rewrite sees normalised operands.
    for node in reversed(nodes):
        new = _rewrite(node)
        if new is not node:
            node.replace(new)
    if isinstance(tree, exp.Select):
        _tidy_select(tree)
    return tree


def _normalize_names(nodes: list[exp.Expr]) -> None:
    ctes: list[exp.CTE] = []
    tables: list[exp.Table] = []
    derived: list[exp.Subquery] = []
    columns: list[exp.Column] = []
    for node in nodes:
        if isinstance(node, exp.Identifier):
            # DuckDB folds identifiers whether quoted or not.
            node.set("this", node.name.lower())
            node.set("quoted", False)
        elif isinstance(node, exp.CTE):
            ctes.append(node)
        elif isinstance(node, exp.Table):
            tables.append(node)
        elif isinstance(node, exp.Subquery) and node.args.get("alias"):
            derived.append(node)
        elif isinstance(node, exp.Column):
            columns.append(node)
    renames: dict[str, str] = {}
    for n, cte in enumerate(ctes):
        renames[cte.alias] = f"cte{n}"
        cte.args["alias"].set("this", exp.to_identifier(f"cte{n}"))
    names = Counter(renames.get(t.name, t.name) for t in tables)
    seen: Counter[str] = Counter()
    for table in tables:
        name = renames.get(table.name, table.name)
        if name != table.name:
            table.set("this", exp.to_identifier(name))
        alias = table.alias
        if names[name] > 1 and alias:
            # A self-join keeps its two sides apart, by position.
            seen[name] += 1
            renames[alias] = f"{name}_{seen[name]}"
            table.set("alias", exp.TableAlias(this=exp.to_identifier(renames[alias])))
        else:
            if alias:
                renames[alias] = name
            table.set("alias", None)
    for n, sub in enumerate(derived):
        renames[sub.alias] = f"sub{n}"
        sub.args["alias"].set("this", exp.to_identifier(f"sub{n}"))
    single = len(tables) == 1 and not derived
    for column in columns:
        if column.table:
            qualifier = (
                None if single else exp.to_identifier(renames.get(column.table, column.table))
            )
            column.set("table", qualifier)


def _rewrite(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Literal) and not node.is_string:
        node.set("this", _number(node.this))
    elif (
        isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string
    ):
        text = node.this.this
        return exp.Literal.number(text[1:] if text.startswith("-") else f"-{text}")
    elif isinstance(node, exp.Count) and isinstance(node.this, exp.Literal):
        node.set("this", exp.Star())
    elif isinstance(node, exp.Paren) and isinstance(node.this, _ATOMS):
        return node.this
    elif type(node) in _FLIPPED:
        left, right = node.this, node.expression
        if _is_constant(left) and not _is_constant(right):
            return _FLIPPED[type(node)](this=right, expression=left)
        if (
            type(node) is _FLIPPED[type(node)]
            and not _is_constant(right)
            and _fp(right) < _fp(left)
        ):
            return type(node)(this=right, expression=left)
    elif isinstance(node, exp.Not):
        return _negate(node.this)
    elif isinstance(node, exp.In) and node.expressions:
        unique = {_fp(e): e for e in node.expressions}
        node.set("expressions", [unique[k] for k in sorted(unique)])
    elif isinstance(node, exp.Or | exp.And) and type(node.parent) is not type(node):
        # The top of a chain flattens it; AND drops TRUE, and sorting makes it commute.
        unique = {_fp(e): e for e in node.flatten() if not _is_true(e) or isinstance(node, exp.Or)}
        if not unique:
            return exp.true()
        combine = exp.or_ if isinstance(node, exp.Or) else exp.and_
        return combine(*(unique[k] for k in sorted(unique)), copy=False)
    return node


def _is_true(node: exp.Expr) -> bool:
    return isinstance(node, exp.Boolean) and node.this is True


def _negate(node: exp.Expr) -> exp.Expr:
    inner = node.unnest()
    if isinstance(inner, exp.Not):
        operand: exp.Expr = inner.this
        return operand.unnest()
    negated = _NEGATED.get(type(inner))
    if negated is not None:
        return negated(this=inner.this, expression=inner.expression)
    return exp.Not(this=exp.Paren(this=inner) if isinstance(inner, exp.Connector) else inner)


def _tidy_select(select: exp.Select) -> None:
    _inline_positions(select)
    outputs = {p.alias: p.this for p in select.expressions if isinstance(p, exp.Alias)}
    for clause in ("group", "having", "order"):
        if select.args.get(clause) is not None:
            _inline_aliases(select.args[clause], outputs)
    if not (select.args.get("limit") or select.args.get("offset")):
        select.set("order", None)
    select.set("expressions", sorted((p.unalias() for p in select.expressions), key=_fp))
    group = select.args.get("group")
    if group is not None and group.expressions:
        group.set("expressions", sorted(group.expressions, key=_fp))
    for clause in ("where", "having"):
        node = select.args.get(clause)
        if node is not None and _is_true(node.this.unnest()):
            select.set(clause, None)


def _inline_positions(select: exp.Select) -> None:
    # GROUP BY 1 and ORDER BY 1 name an output by position.
    outputs = [p.unalias() for p in select.expressions]
    for clause in ("group", "order"):
        node = select.args.get(clause)
        for item in node.expressions if node is not None else []:
            target = item.this if isinstance(item, exp.Ordered) else item
            if isinstance(target, exp.Literal) and not target.is_string and target.this.isdigit():
                position = int(target.this)
                if 1 <= position <= len(outputs):
                    target.replace(outputs[position - 1].copy())


def _inline_aliases(clause: exp.Expr, outputs: dict[str, exp.Expr]) -> None:
    for column in list(clause.find_all(exp.Column)):
        if not column.table and column.name in outputs:
            column.replace(outputs[column.name].copy())


def _conjuncts(clause: exp.Expr) -> list[exp.Expr]:
    # The chain is already flat, sorted and without duplicates (see _rewrite).
    top = clause.this.unnest()
    return list(top.flatten()) if isinstance(top, exp.And) else [top]


def _split(tree: exp.Query) -> Canonical:
    conjuncts: dict[str, Conjunct] = {}
    outputs = 0
    if isinstance(tree, exp.Select):
        for tag, clause in (("w", "where"), ("h", "having")):
            node = tree.args.get(clause)
            if node is not None:
                for conjunct in _conjuncts(node):
                    info = _conjunct(tag, conjunct)
                    conjuncts[info.key] = info
                tree.set(clause, None)
        outputs = len(tree.expressions)
    return Canonical(
        shape=_fp(tree),
        shape_size=1 + outputs,
        filters=frozenset(conjuncts),
        conjuncts=conjuncts,
    )


def _conjunct(tag: str, node: exp.Expr) -> Conjunct:
    literals: list[exp.Literal] = []
    columns: set[str] = set()
    for child in node.walk():
        if isinstance(child, exp.Literal):
            literals.append(child)
        elif isinstance(child, exp.Column):
            columns.add(_column_name(child))
    family: Literal["range", "list", "other"] = "other"
    values: frozenset[str] = frozenset()
    target = node.this if isinstance(node, exp.Not) else node
    if isinstance(node, _RANGES) and literals:
        family = "range"
    elif (
        isinstance(target, exp.In)
        and target.expressions
        and all(isinstance(e, exp.Literal) for e in target.expressions)
    ):
        family = "list"
        values = frozenset(_fp(e) for e in target.expressions)
    key = f"{tag}:{_fp(node)}"
    return Conjunct(
        key=key,
        # Only the range and list rules group by template; others skip the work.
        template=f"{tag}:{_fp(node, literals=False)}" if family != "other" else key,
        family=family,
        order=tuple(_comparable(lit) for lit in literals),
        values=values,
        columns=tuple(sorted(columns)),
        # Last: _negate moves the operands of ``node`` into the new node.
        negation=f"{tag}:{_fp(_negate(node))}",
    )


def _fp(node: exp.Expr, literals: bool = True) -> str:
    """A structural fingerprint of ``node``, as exact as its SQL and far cheaper to build.

    Without ``literals`` every literal is ``?`` and an IN list is one ``?``: the
    template that two conjuncts differing only in values share.
    """
    if isinstance(node, exp.Literal):
        if not literals:
            return "?"
        return repr(node.this) if node.is_string else str(node.this)
    if not literals and isinstance(node, exp.In) and node.expressions:
        return f"(in {_fp(node.this, literals)} ?)"
    parts = [node.key]
    for key, value in node.args.items():
        if isinstance(value, exp.Expr):
            parts.append(f"{key}:{_fp(value, literals)}")
        elif isinstance(value, list):
            if value:
                items = (_fp(v, literals) if isinstance(v, exp.Expr) else repr(v) for v in value)
                parts.append(f"{key}:[{','.join(items)}]")
        elif value is not None and value is not False:
            parts.append(f"{key}:{value!r}")
    return f"({' '.join(parts)})"


def _is_constant(node: exp.Expr) -> bool:
    return node.find(exp.Column, exp.Query, exp.Star) is None


def _number(text: str) -> str:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    # Spelling out 1e999999999 would take a gigabyte: keep such numbers as written.
    if not value.is_finite() or abs(value.adjusted()) > 64:
        return text
    return format(value.normalize(), "f")


def _comparable(literal: exp.Literal) -> tuple[int, float | str]:
    if not literal.is_string:
        try:
            return (0, float(literal.this))
        except ValueError:
            pass
    return (1, literal.this)


def _column_name(column: exp.Column) -> str:
    # A quoted identifier can hold anything, even an ID number: show only names
    # that could be granted columns.
    return ".".join(p.name if is_plain_name(p.name) else "?" for p in column.parts)


def canonical_sql(sql: str) -> str | None:
    """The canonical form of ``sql`` the auditor compares, or ``None`` if it is not one query.

    It holds literals: it is for debugging and tests, never for a reason text.
    """
    try:
        tree = _canonical_tree(sql)
        return None if tree is None else tree.sql(dialect="duckdb")
    except (SqlglotError, RecursionError):
        return None
