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
  of identifiers to compare with (keyed pseudonyms come only from the grant);
* ``error()``, ``LIKE ... ESCAPE``, ``regexp_*``, ``SIMILAR TO`` and every other
  function that can raise on a value with an error DuckDB's ``TRY(...)`` does
  not catch (a bad escape is a syntax error): whether a query fails must not
  depend on a row.

Every scalar function listed here fails, if at all, either when the query is
bound (the same for every dataset) or with a conversion, out-of-range or
invalid-input error, which :mod:`.rules.safe_eval` turns into NULL with
``TRY``. Its patterns, formats, date parts and lengths must be literals (the
same rule refuses the others), so only the value they apply to comes from data.

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

#: Aggregates that read their argument as DOUBLE outside plain records: over
#: DECIMAL or HUGEINT, DuckDB's sum raises on overflow, and so does MEDIAN's
#: interpolation of extreme dates. A DOUBLE sum goes to infinity instead (and
#: a value that is no number is NULL).
DOUBLE_AGGREGATES: frozenset[type[exp.Func]] = frozenset({exp.Sum, exp.Avg, exp.Median, exp.Stddev})

#: Aggregates allowed when only aggregates may leave: MIN, MAX and MEDIAN
#: return one row's own value, so they are records in disguise.
SAFE_AGGREGATES: frozenset[type[exp.Func]] = frozenset({exp.Count, exp.Sum, exp.Avg})

#: DuckDB functions sqlglot leaves as ``Anonymous``, by lowercase name.
ANONYMOUS: frozenset[str] = frozenset({"strftime", "date_part", "datepart"})

#: Date parts accepted by DATE_TRUNC, DATE_PART, DATEDIFF and EXTRACT, lowercase:
#: those DuckDB 2.0 takes in all four, on dates and timestamps alike. Any
#: other part fails when the query is bound, or (DATEDIFF) on the first row
#: that reaches it, so it is refused before anything runs.
DATE_PARTS: frozenset[str] = frozenset(
    {
        "year",
        "month",
        "day",
        "decade",
        "century",
        "millennium",
        "quarter",
        "week",
        "dow",
        "isodow",
        "doy",
        "dayofweek",
        "dayofyear",
        "hour",
        "minute",
        "second",
        "millisecond",
        "microsecond",
        "epoch",
        "yearweek",
        "isoyear",
        "julian",
        "weekday",
        "weekofyear",
    }
)

#: STRFTIME specifiers (after ``%``; ``%%`` is a literal ``%``) that DuckDB 2.0
#: formats for every date, the extreme ones included; ``-`` (no padding) only
#: where DuckDB takes it.
STRFTIME_SPECIFIERS: frozenset[str] = frozenset("aAwudbhBmyYGHIpMSfgnzZjUWVcxX") | frozenset(
    {"-d", "-m", "-y", "-H", "-I", "-M", "-S", "-j"}
)

#: Prefixes of table names that are never a granted table.
SYSTEM_PREFIXES: tuple[str, ...] = ("duckdb_", "pragma_", "sqlite_", "pg_", "__dc")

#: The prefix of every identifier the rewrite introduces; user SQL may not use it.
INTERNAL_PREFIX = "__dc"
