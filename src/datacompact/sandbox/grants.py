"""The grant view the sandbox enforces: plain frozen dataclasses, checked when built.

The policy layer turns an ODRL Agreement into a :class:`GrantView`; the
sandbox never reads the store. A view lists, per granted table, the columns
the user may touch (each with an optional mask), the platform's row filter,
the output mode and the entity whose distinct count sets group thresholds.

>>> t = GrantedTable(
...     name="sbk",
...     parquet_path="/data/sbk.parquet",
...     columns={"district": ColumnRule(), "resident_id": ColumnRule(mask="pseudonym", entity_key=True)},
...     output_mode="aggregates",
...     entity_column="resident_id",
... )
>>> GrantView(grant_id="g1", tables={"sbk": t}).mode
'aggregates'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, get_args

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from datacompact.errors import InvalidInput


class MaskKind(StrEnum):
    """A masking technique, ordered by :attr:`rank` (higher reveals less).

    The policy layer derives one per personal column, with its parameters; the
    sandbox applies it as an :data:`AppliedMask`.

    >>> MaskKind.CLEAR.rank < MaskKind.TRUNCATE.rank < MaskKind.REDACT.rank
    True
    """

    CLEAR = "clear"
    TRUNCATE = "truncate"
    PARTIAL = "partial"
    PSEUDONYM = "pseudonym"
    REDACT = "redact"

    @property
    def rank(self) -> int:
        return list(MaskKind).index(self)


#: A :class:`MaskKind` as the sandbox applies it to a column, its parameters
#: fixed: ``truncate_date`` truncates to the month, ``truncate_year`` to the
#: year; ``redact`` replaces the value with NULL (plain SQL, no engine function
#: needed). These names are part of a k-anonymous release's fingerprint.
AppliedMask = Literal["pseudonym", "partial", "truncate_date", "truncate_year", "redact"]
OutputMode = Literal["records", "masked_records", "aggregates", "dp_aggregates", "k_anonymous"]

#: Output modes from the loosest to the strictest; a query over several tables
#: runs under the strictest mode among them.
MODE_ORDER: tuple[OutputMode, ...] = get_args(OutputMode)
AGGREGATE_MODES: frozenset[str] = frozenset({"aggregates", "dp_aggregates"})
#: A plain identifier: lowercase ASCII letters, digits and '_', or non-ASCII
#: letters (Chinese column names such as 企业名称), not starting with a digit.
_NAME = re.compile(r"^(?![\d_])(?:[a-z0-9_]|[^\W\x00-\x7f]){1,63}$")


def is_plain_name(name: str) -> bool:
    """Whether ``name`` can be a table or column of a grant.

    Names become SQL identifiers in the rewrite, so only plain ones: no case
    to fold, nothing to escape, and none of DuckDB's catalog prefixes.

    >>> [is_plain_name(n) for n in ("resident_id", "企业名称", "Name", "a-b", "duckdb_x")]
    [True, True, False, False, False]
    """
    return bool(_NAME.match(name)) and not name.startswith(("duckdb_", "pragma_", "sqlite_", "pg_"))


def _check_name(name: str, what: str) -> None:
    if not is_plain_name(name):
        raise InvalidInput(
            f"{what}名称无效 / expected a {what} name of lowercase letters, digits and '_', "
            "or Chinese characters",
            details={"kind": what},
        )


#: What a granted column's values may flow into, after the column
#: control list of SecretFlow SCQL. :data:`CONSTRAINT_USES` says which uses each
#: allows; :mod:`datacompact.sandbox.rules.column_constraints` classifies every
#: column reference of a query into one use and checks it.
ColumnConstraint = Literal[
    "plain", "group_by_only", "aggregate_only", "compare_only", "join_only", "none"
]
#: One column reference's use: ``output`` (a value that leaves or feeds any
#: other computation), ``group_key`` (a GROUP BY key, or an output equal to
#: one), ``compare`` (a row-filter predicate on this column and constants
#: only), ``aggregate`` (the bare argument of SUM or AVG), ``count`` (of COUNT,
#: or the rows of a DISTINCT derived table), ``join`` (an equality with a bare
#: column of another table reference) and ``reference`` (passed through a
#: derived table or an EXISTS projection without being used).
ColumnUse = Literal["output", "group_key", "compare", "aggregate", "count", "join", "reference"]
CONSTRAINTS: tuple[ColumnConstraint, ...] = get_args(ColumnConstraint)
CONSTRAINT_USES: Mapping[ColumnConstraint, frozenset[ColumnUse]] = MappingProxyType(
    {
        "plain": frozenset(get_args(ColumnUse)),
        "group_by_only": frozenset({"group_key", "compare", "count", "join", "reference"}),
        "aggregate_only": frozenset({"aggregate", "count", "reference"}),
        "compare_only": frozenset({"compare", "count", "reference"}),
        "join_only": frozenset({"join", "count", "reference"}),
        "none": frozenset(),
    }
)


def stricter_constraint(a: ColumnConstraint, b: ColumnConstraint) -> ColumnConstraint:
    """The one of ``a`` and ``b`` that allows no use the other forbids; ``none`` if neither.

    Used to combine a grant's agreed constraint with today's derivation: the
    result never allows more than either. ``group_by_only`` and
    ``aggregate_only`` share only COUNT, which no named constraint is, so two
    incomparable constraints meet at ``none``.

    >>> stricter_constraint("plain", "join_only"), stricter_constraint("group_by_only", "aggregate_only")
    ('join_only', 'none')
    """
    if CONSTRAINT_USES[a] <= CONSTRAINT_USES[b]:
        return a
    if CONSTRAINT_USES[b] <= CONSTRAINT_USES[a]:
        return b
    return "none"


@dataclass(frozen=True)
class ColumnRule:
    """One granted column: its mask (applied below every user predicate), DP bounds and constraint."""

    mask: AppliedMask | None = None
    entity_key: bool = False
    #: For ``partial``: how many characters to keep at the start and at the end.
    keep: tuple[int, int] = (6, 4)
    #: Clamping bounds for DP sums and means; DP modes refuse SUM/AVG without them.
    dp_bounds: tuple[float, float] | None = None
    #: What the column's values may flow into (see :data:`CONSTRAINT_USES`).
    constraint: ColumnConstraint = "plain"

    def __post_init__(self) -> None:
        if self.mask is not None and self.mask not in get_args(AppliedMask):
            raise InvalidInput(
                f"未知的脱敏方式 / unknown mask, expected one of {', '.join(get_args(AppliedMask))}"
            )
        if self.constraint not in CONSTRAINTS:
            raise InvalidInput(
                f"未知的列约束 / unknown column constraint, expected one of {', '.join(CONSTRAINTS)}"
            )
        if len(self.keep) != 2 or not all(0 <= int(k) <= 32 for k in self.keep):
            raise InvalidInput("保留字符数无效 / expected two character counts from 0 to 32")
        if self.dp_bounds is not None:
            lo, hi = self.dp_bounds
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise InvalidInput("DP 边界无效 / expected finite DP bounds with lower < upper")


@dataclass(frozen=True)
class GrantedTable:
    """A physical table as the grant exposes it."""

    name: str
    parquet_path: str
    columns: Mapping[str, ColumnRule]
    row_filter: str | None = None
    output_mode: OutputMode = "aggregates"
    min_group_entities: int = 10
    entity_column: str | None = None
    #: The parsed row filter (trusted platform SQL, DuckDB dialect).
    filter_expression: exp.Expr | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name, "table")
        if not self.columns:
            raise InvalidInput("授权表没有列 / expected at least one granted column")
        for column in self.columns:
            _check_name(column, "column")
        if self.output_mode not in MODE_ORDER:
            raise InvalidInput(
                f"未知的输出方式 / unknown output mode, expected one of {MODE_ORDER}"
            )
        if self.min_group_entities < 2:
            raise InvalidInput("最小群组实体数至少为 2 / expected min_group_entities of at least 2")
        if self.output_mode in AGGREGATE_MODES and not self.entity_column:
            raise InvalidInput(
                "聚合模式需要实体列 / aggregate modes need an entity_column to count distinct entities"
            )
        if self.entity_column is not None:
            _check_name(self.entity_column, "column")
        if self.output_mode == "masked_records":
            unmasked = [c for c, r in self.columns.items() if r.entity_key and r.mask is None]
            if unmasked:
                raise InvalidInput(
                    "脱敏记录模式下标识列必须脱敏 / masked_records needs a mask on every entity key",
                    details={"columns": sorted(unmasked)},
                )
        parsed: exp.Expr | None = None
        if self.row_filter is not None:
            try:
                parsed = sqlglot.parse_one(self.row_filter, read="duckdb")
            except SqlglotError as exc:
                raise InvalidInput("行过滤条件无法解析 / the row filter does not parse") from exc
        object.__setattr__(self, "filter_expression", parsed)

    @property
    def visible_columns(self) -> tuple[str, ...]:
        """The columns a query may name at all, in grant order: every one not constrained ``none``.

        The analyzer qualifies queries against these, so ``SELECT *`` never
        expands to a ``none`` column (other constrained columns do expand, and
        the constraint check then names the one that may not be output).
        """
        return tuple(c for c, rule in self.columns.items() if rule.constraint != "none")


@dataclass(frozen=True)
class GrantView:
    """What one grant lets one user do in the sandbox."""

    grant_id: str
    tables: Mapping[str, GrantedTable]
    #: Privacy loss charged per DP query, split evenly over its aggregates.
    epsilon_per_query: float = 1.0
    #: At most this many rows of one entity feed a DP release (contribution bound).
    max_contributions: int = 1

    def __post_init__(self) -> None:
        if not self.grant_id:
            raise InvalidInput("缺少授权编号 / expected a grant id")
        if not self.tables:
            raise InvalidInput("授权没有表 / expected at least one granted table")
        for key, table in self.tables.items():
            if key != table.name:
                raise InvalidInput("授权表名不一致 / table keys must equal table names")
        if not (self.epsilon_per_query > 0 and math.isfinite(self.epsilon_per_query)):
            raise InvalidInput("ε 无效 / expected a positive, finite ε per query")
        if self.max_contributions < 1:
            raise InvalidInput("贡献上限至少为 1 / expected max_contributions of at least 1")

    @property
    def mode(self) -> OutputMode:
        """The strictest output mode among the granted tables."""
        return max((t.output_mode for t in self.tables.values()), key=MODE_ORDER.index)


@dataclass(frozen=True)
class Limits:
    """Per-request resource limits.

    The parse-time limits are checked by :func:`~datacompact.sandbox.analyze.analyze`
    before anything runs; the others by the engine.
    """

    max_sql_chars: int = 20_000
    #: Nesting of brackets and ``CASE … END`` (a ``NOT`` before one adds a
    #: level) in the SQL text, checked on the tokens before SQLGlot parses. SQLGlot's parser
    #: takes about 25 Python frames per level and hits the recursion limit at
    #: about 40 levels from an empty stack; 24 leaves room for the caller's.
    max_depth: int = 24
    #: Depth of the parsed tree, a chain of one operator (``a + b + c``, ``AND``,
    #: ``UNION``) counting once: SQLGlot writes those chains without recursing.
    max_tree_depth: int = 128
    max_joins: int = 4
    max_nodes: int = 2_000
    max_result_rows: int = 100_000
    memory_limit: str = "1GB"
    #: What DuckDB may spill to its private temporary folder, per database.
    max_temp_directory_size: str = "2GB"
    threads: int = 2
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        size = r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$"
        if not re.match(size, self.memory_limit):
            raise InvalidInput("内存限制无效 / expected a memory limit such as '1GB'")
        if not re.match(size, self.max_temp_directory_size):
            raise InvalidInput("临时文件限制无效 / expected a temp directory size such as '2GB'")
        if (
            min(
                self.max_sql_chars,
                self.max_depth,
                self.max_tree_depth,
                self.max_nodes,
                self.max_result_rows,
                self.threads,
            )
            < 1
        ):
            raise InvalidInput("限制必须为正 / expected positive limits")
        if self.max_joins < 0 or not (
            self.timeout_seconds > 0 and math.isfinite(self.timeout_seconds)
        ):
            raise InvalidInput("限制必须为正 / expected positive limits")
