"""k-anonymous extracts: what a ``k_anonymous`` grant releases, through the privacy engine.

A k-anonymous grant answers row-level SQL, but never the rows as selected:
the query runs on the masked slice (as under ``masked_records``), and its
result goes through :func:`datacompact.privacy.anonymize.anonymize` with
``KAnonymity(k)``. Every returned column is treated as a quasi-identifier and
generalized along a hierarchy built from its values (GB/T 37964-2019 §A.3):

* numbers: intervals of a width of about a tenth of the range, merged two at
  a time (``[20, 30)`` → ``[20, 40)`` → ...), then ``*``;
* dates: month, year, decade, ``*``;
* text: masked from the right one character per level, then ``*`` (codes
  such as ICD-10 ``J45.9`` → ``J45.*`` → ``J4*``).

Records of classes that stay smaller than ``k`` are suppressed, at most 5 %
of them; if no generalization reaches k within that, the query is refused.
Identifiers and contact data (the entity key, every pseudonymized or
partially masked column) are refused outright: a pseudonym is unique per
person, so no k could hold, and a partial mask keeps most of a number.

Only row-level SQL is accepted: one table, each output computed from its own
row. An aggregate, a window, a subquery, a join or a set operation could put
one person's exact value on every row, and a value shared by every row is
trivially k-anonymous: ``SELECT 区县, (SELECT max(金额) FROM t WHERE ...)``
would release it untouched.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from datacompact.errors import PolicyViolation
from datacompact.privacy.anonymize import KAnonymity, anonymize
from datacompact.privacy.builders import date_hierarchy, interval_hierarchy, masking_hierarchy
from datacompact.privacy.hierarchy import Hierarchy
from datacompact.sandbox import GrantedTable, GrantView, Result, result_digest
from datacompact.sandbox.plan import Plan

SUPPRESSION_LIMIT = 0.05
SEARCH_SECONDS = 10.0


def sql_view(view: GrantView) -> GrantView:
    """The view the SQL of a k-anonymous grant runs on: its masked records."""
    tables = {
        name: GrantedTable(
            name=t.name,
            parquet_path=t.parquet_path,
            columns=t.columns,
            row_filter=t.row_filter,
            output_mode="masked_records",
            min_group_entities=t.min_group_entities,
            entity_column=t.entity_column,
        )
        for name, t in view.tables.items()
    }
    return GrantView(
        grant_id=view.grant_id,
        tables=tables,
        epsilon_per_query=view.epsilon_per_query,
        max_contributions=view.max_contributions,
    )


#: Nodes that let a row's output depend on other rows.
_CROSS_ROW = (
    exp.AggFunc,
    exp.Window,
    exp.Subquery,
    exp.Join,
    exp.SetOperation,
    exp.With,
    exp.Distinct,
    exp.Group,
    exp.Having,
    exp.Qualify,
)


def check_row_level(sql: str) -> None:
    """Refuse a k-anonymous query whose outputs could depend on other rows."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError:
        return  # the analyzer reports the syntax error with its own rule
    found = next((n for n in tree.walk() if isinstance(n, _CROSS_ROW)), None)
    if found is not None:
        raise PolicyViolation(
            f"k-匿名提取只接受逐行查询，不允许 {found.key.upper()} / a k-anonymous extract takes "
            f"row-level SQL only (one table, each output from its own row), not "
            f"{found.key.upper()}",
            details={"rule": "k_anonymous.row_level", "node": found.key},
        )


def check_no_identifiers(plan: Plan) -> None:
    """Refuse a k-anonymous query that touches an identifier or contact data."""
    for table, columns in plan.touched.items():
        granted = plan.grant.tables[table]
        direct = sorted(
            c
            for c in columns
            if c == granted.entity_column
            or granted.columns[c].entity_key
            or granted.columns[c].mask in ("pseudonym", "partial")
        )
        if direct:
            raise PolicyViolation(
                f"k-匿名提取不能包含直接标识符 {table}.{direct[0]} / a k-anonymous extract "
                f"cannot include the direct identifier {table}.{direct[0]}",
                details={"rule": "k_anonymous.identifier", "columns": direct},
            )


NULL = "(空 / null)"


def _hierarchy(kind: pa.DataType, labels: list[str]) -> Hierarchy:
    """A generalization hierarchy over ``labels`` (the column's values as text)."""
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    if NULL not in labels:
        numbers = [float(v) for v in labels] if numeric else []
        if numeric and all(math.isfinite(n) for n in numbers):
            span = max(numbers) - min(numbers)
            width = 10.0 ** math.floor(math.log10(span / 10)) if span >= 10 else 1.0
            return interval_hierarchy(labels, width=width, fanouts=(2, 2, 2))
        if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
            return date_hierarchy(labels)
    # Text, and any column with nulls or infinities: masked from the right, then suppressed.
    return masking_hierarchy(labels)


def k_anonymous(result: Result, *, k: int) -> Result:
    """``result`` with its rows generalized and suppressed to k-anonymity, or a refusal."""
    table = result.rows
    if table.num_rows == 0:
        return result
    if table.num_rows < k:
        raise PolicyViolation(
            f"结果少于 k={k} 行，无法匿名化 / the result has fewer than k={k} rows",
            details={"rule": "k_anonymous.too_few", "k": k},
        )
    texts = {
        name: [_text(v) for v in table.column(name).to_pylist()] for name in table.column_names
    }
    hierarchies = {
        name: _hierarchy(table.schema.field(name).type, values) for name, values in texts.items()
    }
    strings = pa.table({name: pa.array(values, pa.string()) for name, values in texts.items()})
    outcome = anonymize(
        strings,
        hierarchies=hierarchies,
        models=[KAnonymity(k)],
        suppression_limit=SUPPRESSION_LIMIT,
        time_limit=SEARCH_SECONDS,
    )
    if outcome.table.num_rows == 0:
        raise PolicyViolation(
            f"结果无法在 k={k} 下匿名化 / the result cannot be made {k}-anonymous "
            f"with at most {SUPPRESSION_LIMIT:.0%} of its records suppressed",
            details={"rule": "k_anonymous.unreachable", "k": k},
        )
    rows = outcome.table
    return replace(result, rows=rows, result_sha256=result_digest(rows))


def _text(value: object) -> str:
    if value is None:
        return NULL
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
