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
Direct identifiers (the entity key, pseudonymized columns) are refused
outright: a pseudonym is unique per person, so no k could hold.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

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


def check_no_identifiers(plan: Plan) -> None:
    """Refuse a k-anonymous query that touches a direct identifier."""
    for table, columns in plan.touched.items():
        granted = plan.grant.tables[table]
        direct = sorted(
            c
            for c in columns
            if c == granted.entity_column
            or granted.columns[c].entity_key
            or granted.columns[c].mask == "pseudonym"
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
    if NULL not in labels:
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            numbers = [float(v) for v in labels]
            span = max(numbers) - min(numbers)
            width = 10.0 ** math.floor(math.log10(span / 10)) if span >= 10 else 1.0
            return interval_hierarchy(labels, width=width, fanouts=(2, 2, 2))
        if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
            return date_hierarchy(labels)
    # Text, and any column with nulls: masked from the right, then suppressed.
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
