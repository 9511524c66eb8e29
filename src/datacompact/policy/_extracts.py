"""k-anonymous grants: which SQL they take, and the view it runs on (their stored release).

A k-anonymous grant answers row-level SQL over its *release*: the whole
granted slice generalized once, per grant and resource version, by the
privacy engine, then stored and receipted
(:mod:`datacompact.policy._release_store`). The query service analyzes the
SQL on :func:`analysis_view` (it checks the SQL and returns the release's
shape, from metadata only), charges the query, and only then reads or
computes the release itself (``ensure_release``), on which the SQL runs like
plain records.

**Only row-level SQL.** ``SELECT <expressions> FROM <table> [WHERE
<condition>]``: each output row is computed from one release row alone.
Everything that moves information between rows is refused with the rule
``k_anonymous.row_level``: aggregates, windows, ``DISTINCT``, ``GROUP
BY``/``HAVING``/``QUALIFY``, joins, set operations, CTEs, every nested
``SELECT`` (scalar subqueries, ``EXISTS``, ``IN (SELECT ...)``, hence every
correlated reference), ``ORDER BY``, ``LIMIT``/``OFFSET``/``FETCH`` and
``TABLESAMPLE``. Every release row shares its whole tuple with at least k - 1
others, and such a query is a deterministic function of one row, so any
answer is a union of whole equivalence classes: two queries can never differ
by one record.

``ORDER BY`` and ``LIMIT`` are refused although they compute nothing: the
position of a row in an ordered answer is its rank among the other rows, and
``LIMIT`` (or an ``ORDER BY`` cut by the sandbox's row cap) picks rows by that
position, which splits classes. Nothing is lost: the release is stored
sorted by all of its columns, so answers come back in that order.

**No identifiers.** A query naming an identifier or contact column (the
entity key, every pseudonymized or partially masked column) is refused as
``k_anonymous.identifier``, not as an unknown column: such columns are never
released, since a pseudonym is unique per person and a partial mask keeps
most of a number. A granted column left out of the release for its
constraint (redacted, or allowed in comparisons only) is refused as
``k_anonymous.not_released``.

Both checks read the SQL only, before any data: their refusals may name
their rule. SQL that does not parse is left to the analyzer, which reports it
as in every other mode.

>>> check_row_level("SELECT 区县, 金额 FROM t WHERE 金额 LIKE '[1%'")
>>> check_row_level(
...     "SELECT 区县 FROM t WHERE EXISTS (SELECT 1 FROM t AS u WHERE u.金额 > 1)"
... )  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
datacompact.errors.PolicyViolation: k-匿名提取只接受逐行查询，不允许 EXISTS / ...
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from datacompact.errors import PolicyViolation
from datacompact.policy._release_store import identifiers, release_shape, released_columns
from datacompact.sandbox import GrantView, Limits


def analysis_view(sql: str, view: GrantView) -> GrantView:
    """The view ``sql`` is analyzed on under a k-anonymous grant, from metadata only.

    ``view`` is the grant's own view. ``sql`` is refused first if it is not
    row-level or names an identifier (:func:`check_query`); the answer is the
    shape of the grant's release (:func:`~datacompact.policy._release_store.release_shape`).
    Nothing here reads data, so a refusal may name its rule.
    """
    check_query(sql, view)
    return release_shape(view)


_LIMITS = Limits()
#: The clauses of a row-level SELECT; any other clause of the statement is refused.
_ROW_LEVEL_CLAUSES = frozenset({"expressions", "from_", "where"})
#: Nodes that let one output row depend on other rows, wherever they appear.
_CROSS_ROW: tuple[type[exp.Expr], ...] = (
    exp.Query,  # any nested SELECT or set operation: scalar, IN and EXISTS subqueries
    exp.Subquery,
    exp.Exists,
    exp.AggFunc,  # aggregates, and window functions (RANK, LAG, ...) that sqlglot files there
    exp.RowNumber,
    exp.Window,
    exp.WindowSpec,
    exp.Join,
    exp.Lateral,
    exp.Unnest,
    exp.With,
    exp.CTE,
    exp.Distinct,
    exp.Group,
    exp.Having,
    exp.Qualify,
    exp.Order,
    exp.Ordered,
    exp.Limit,
    exp.Fetch,
    exp.Offset,
    exp.TableSample,
)


def _parse(sql: str) -> exp.Expr | None:
    """The parsed statement, or ``None`` when the analyzer should report the SQL itself."""
    if len(sql) > _LIMITS.max_sql_chars:
        return None
    try:
        return sqlglot.parse_one(sql, read="duckdb")
    except (SqlglotError, RecursionError):
        # Unparsable, several statements, too deeply nested: the analyzer
        # refuses these with its own rule, as for every other mode.
        return None


def _row_level_refusal(node: str) -> PolicyViolation:
    return PolicyViolation(
        f"k-匿名提取只接受逐行查询，不允许 {node.upper()} / a k-anonymous extract takes "  # noqa: S608 - an error message, not SQL
        "row-level SQL only (SELECT <expressions> FROM <table> [WHERE <condition>], each "
        f"output from its own row), not {node.upper()}",
        details={"rule": "k_anonymous.row_level", "node": node},
    )


def _check_shape(tree: exp.Expr) -> None:
    if not isinstance(tree, exp.Query):
        return  # not a query at all: the analyzer's select_only rule
    if not isinstance(tree, exp.Select):
        raise _row_level_refusal(tree.key)
    for clause, value in tree.args.items():
        if value and clause not in _ROW_LEVEL_CLAUSES:
            first = value[0] if isinstance(value, list) else value
            raise _row_level_refusal(first.key if isinstance(first, exp.Expr) else clause)
    source = tree.args.get("from_")
    table = source.this if isinstance(source, exp.From) else None
    if not isinstance(table, exp.Table):
        raise _row_level_refusal(table.key if isinstance(table, exp.Expr) else "from")
    for clause, value in table.args.items():
        if value and clause not in ("this", "alias", "db", "catalog"):
            # db and catalog are refused by the analyzer (system_catalog).
            first = value[0] if isinstance(value, list) else value
            raise _row_level_refusal(first.key if isinstance(first, exp.Expr) else clause)
    for node in tree.walk():
        if node is tree:
            continue
        if isinstance(node, _CROSS_ROW) or (isinstance(node, exp.Table) and node is not table):
            raise _row_level_refusal(node.key)


def check_row_level(sql: str) -> None:
    """Refuse a k-anonymous query whose outputs could depend on other rows.

    SQL that does not parse passes: the analyzer reports it under its own
    rule, so the refusal is the same as in every other mode.
    """
    tree = _parse(sql)
    if tree is not None:
        _check_shape(tree)


def check_query(sql: str, view: GrantView) -> None:
    """Refuse, before any data is read, a k-anonymous query that is not row-level or names an identifier.

    ``view`` is the grant's own view (not its release): a column excluded
    from the release as an identifier is named as such, instead of the
    analyzer's "not granted" on the release.
    """
    tree = _parse(sql)
    if tree is None:
        return
    _check_shape(tree)
    named = {c.name.lower() for c in tree.find_all(exp.Column)}
    for table in view.tables.values():
        left_out = sorted(named & (set(table.columns) - set(released_columns(table))))
        direct = [c for c in left_out if c in identifiers(table)]
        if direct:
            raise PolicyViolation(
                f"k-匿名提取不能包含直接标识符 {table.name}.{direct[0]} / a k-anonymous "
                f"extract cannot include the direct identifier {table.name}.{direct[0]}",
                details={"rule": "k_anonymous.identifier", "columns": direct},
            )
        if left_out:
            raise PolicyViolation(
                f"列 {table.name}.{left_out[0]} 受约束，不在 k-匿名发布中 / column "
                f"{table.name}.{left_out[0]} is not in the k-anonymous release: under this "
                "grant it is redacted or may not be output",
                details={"rule": "k_anonymous.not_released", "columns": left_out},
            )
