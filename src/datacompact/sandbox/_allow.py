"""The allow-lists of the analyzer: the node types and functions a query may use.

Everything not listed is refused, so a new sqlglot node type (or a DuckDB
function sqlglot parses as ``Anonymous``) is refused until someone reviews it.
Kept apart from :mod:`analyze` so a review of the surface is a review of one file.

What is deliberately missing:

* table functions and dynamic SQL (``read_*``, ``query()``, ``glob``,
  ``range``, ``unnest``): a table is only ever a granted name;
* catalog access (``duckdb_*``, ``pragma_*``, ``information_schema``,
  ``current_setting``): they would show view definitions and file paths;
* row-to-struct constructors (``struct_pack``, ``row``, ``{...}``), ``COLUMNS()``,
  ``PIVOT``/``UNPIVOT``, ``LATERAL``: they expand to columns the analyzer cannot see;
* ``hash``/``md5``/``sha256``: a plain hash would let a user build a dictionary
  of identifiers to compare with (keyed pseudonyms come only from the grant).

>>> exp.Select in NODES, exp.Pivot in NODES
(True, False)
"""

from __future__ import annotations

from sqlglot import exp

#: Structural nodes (clauses, operators, literals) a SELECT may contain.
NODES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Select,
        exp.Union,
        exp.Intersect,
        exp.Except,
        exp.From,
        exp.Join,
        exp.Where,
        exp.Group,
        exp.Having,
        exp.Qualify,
        exp.Order,
        exp.Ordered,
        exp.Limit,
        exp.Offset,
        exp.With,
        exp.CTE,
        exp.Subquery,
        exp.Table,
        exp.TableAlias,
        exp.Alias,
        exp.Column,
        exp.Identifier,
        exp.Star,
        exp.Literal,
        exp.Boolean,
        exp.Null,
        exp.Paren,
        exp.Tuple,
        exp.DataType,
        exp.DataTypeParam,
        exp.Interval,
        exp.Var,
        exp.Distinct,
        exp.Window,
        exp.WindowSpec,
        exp.Exists,
        exp.And,
        exp.Or,
        exp.Not,
        exp.Neg,
        exp.EQ,
        exp.NEQ,
        exp.GT,
        exp.GTE,
        exp.LT,
        exp.LTE,
        exp.Is,
        exp.In,
        exp.Between,
        exp.Like,
        exp.ILike,
        exp.Add,
        exp.Sub,
        exp.Mul,
        exp.Div,
        exp.IntDiv,
        exp.Mod,
        exp.DPipe,
        exp.Case,
        exp.If,
    }
)

#: Scalar functions (sqlglot classes) a query may call.
SCALARS: frozenset[type[exp.Func]] = frozenset(
    {
        exp.Cast,
        exp.TryCast,
        exp.Coalesce,
        exp.Nullif,
        exp.Lower,
        exp.Upper,
        exp.Length,
        exp.Substring,
        exp.Trim,
        exp.Left,
        exp.Right,
        exp.Concat,
        exp.Round,
        exp.Abs,
        exp.Floor,
        exp.Ceil,
        exp.Greatest,
        exp.Least,
        exp.DateTrunc,
        exp.TimestampTrunc,
        exp.Extract,
        exp.Year,
        exp.Month,
        exp.Quarter,
        exp.Day,
        exp.TimeToStr,
        exp.CurrentDate,
        exp.DateDiff,
        exp.RowNumber,
    }
)

#: Aggregates that combine many rows into one number.
AGGREGATES: frozenset[type[exp.Func]] = frozenset(
    {exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Median, exp.Stddev, exp.CountIf}
)

#: Aggregates allowed when only aggregates may leave: MIN, MAX and MEDIAN
#: return one row's own value, so they are records in disguise.
SAFE_AGGREGATES: frozenset[type[exp.Func]] = frozenset({exp.Count, exp.Sum, exp.Avg})

#: DuckDB functions sqlglot leaves as ``Anonymous``, by lowercase name.
ANONYMOUS: frozenset[str] = frozenset({"strftime", "date_part", "datepart"})

#: Prefixes of table names that are never a granted table.
SYSTEM_PREFIXES: tuple[str, ...] = ("duckdb_", "pragma_", "sqlite_", "pg_", "__dc")

#: The prefix of every identifier the rewrite introduces; user SQL may not use it.
INTERNAL_PREFIX = "__dc"
