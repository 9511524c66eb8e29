"""DP release of a pre-release table (see :mod:`.rules.dp_release`) through OpenDP.

Which groups appear is itself differentially private. Each group's distinct
entities are counted, and OpenDP's noisy threshold
(:class:`~datacompact.privacy.dp.GroupSelection`, ``make_laplace_threshold``)
keeps a group only if its noisy count reaches a threshold τ ≥ k. τ is the
smallest such integer at which the chance that a group of one person appears
at all is at most δ = :data:`~datacompact.privacy.dp.RELEASE_DELTA`. No exact
count decides anything: one entity more or less changes whether a group
appears by a factor of at most e^ε, plus δ.

ε is split. :data:`~datacompact.privacy.dp.SELECTION_SHARE` of it (half) goes
to the selection, and the rest, evenly, to the aggregates of the kept groups,
each released with OpenDP noise. Groups are disjoint sets of rows, and each
entity contributes at most ``max_contributions`` rows, the bound the rewrite
enforces. Every map is linear in that bound, so the groups compose in parallel.
The release costs (``epsilon_per_query``, δ), and δ is 0 without group keys:
the single global group always appears.

Every measurement was calibrated at analysis, by
:func:`~datacompact.sandbox.rules.dp_release.release_calibration`, before any
data was read, and the ε was charged then too. So nothing here checks a
budget or can fail on a calibration. The data's edge cases have fixed
outcomes:

- COUNT(x) counts non-null values, as SQL does; NaN counts as a value.
- SUM and AVG skip NULL and NaN (OpenDP's domain has no NaN), clamp ±∞ and
  every other value to the column's ``dp_bounds``, and cast integers and
  decimals to float without a range check. Large integers round; they never
  raise.
- A NULL group key is a group like any other.
- The kept groups come out sorted by their keys, so their order tells nothing
  about the order of the rows.
- With no group kept the result is an empty table with the same schema. A
  global aggregate is exactly one row, even over no rows.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from datacompact.privacy.dp import AggregateNoise
from datacompact.sandbox.plan import DPAggregate, Plan, refuse
from datacompact.sandbox.rules.dp_release import release_calibration

ENTITY = "__dc_entity"
#: Names of the per-group counts: ``__dc`` names are reserved, so no group key
#: a user writes can take them.
_ENTITIES = f"{ENTITY}_count_distinct"
_ROWS = f"{ENTITY}_count"


def release(table: pa.Table, plan: Plan) -> tuple[pa.Table, float]:
    """The noisy answer of a DP plan over its pre-release ``table``, and its ε.

    The release's δ is ``plan.dp_delta``: like ε, it is fixed at analysis, so
    a receipt carries both even when the query fails after it was charged.
    """
    calibrated = release_calibration(plan)
    keys = list(plan.dp_keys)
    work = pa.table(
        {
            **{key: table.column(key) for key in keys},
            **{
                a.column: _slot(table.column(a.column), a.kind)
                for a in plan.dp_aggregates
                if a.column is not None
            },
            ENTITY: table.column(ENTITY),
        }
    )
    pairs = list(zip(plan.dp_aggregates, calibrated.aggregates, strict=True))
    out: dict[str, list[Any]] = {
        name: [] for name in [*keys, *(a.name for a in plan.dp_aggregates)]
    }
    selection = calibrated.selection  # set exactly when the plan has group keys
    if selection is not None:
        grouped = work.group_by(keys).aggregate(
            [
                (ENTITY, "count_distinct"),
                (ENTITY, "count", pc.CountOptions(mode="all")),
                *_per_group(plan.dp_aggregates),
            ]
        )
        kept = selection.kept(grouped.column(_ENTITIES).to_pylist())
        # Typed indices: an empty list would infer Arrow's null type, which take() refuses.
        grouped = grouped.take(pa.array(kept, pa.int64()))
        grouped = grouped.sort_by([(key, "ascending") for key in keys])
        for key in keys:
            out[key] = grouped.column(key).to_pylist()
        for aggregate, noise in pairs:
            out[aggregate.name] = [
                _noisy(aggregate, noise, grouped, i) for i in range(grouped.num_rows)
            ]
    else:
        for aggregate, noise in pairs:
            out[aggregate.name] = [_noisy_whole(aggregate, noise, work)]
    fields = [
        *(table.schema.field(key) for key in keys),
        *(pa.field(a.name, pa.float64()) for a in plan.dp_aggregates),
    ]
    return pa.table(out, schema=pa.schema(fields)), calibrated.epsilon


def _slot(column: pa.ChunkedArray, aggregate: str) -> pa.ChunkedArray:
    """The column an aggregate reads: as it is for COUNT, as floats without NaN for SUM/AVG."""
    if aggregate == "count":
        return column
    kind = column.type
    numeric = (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    )
    if not numeric:
        # Decided by the column's type, which the grant shows, never by a value.
        raise refuse(
            "DP 求和与均值只能针对数值列",
            f"DP sums and means read a numeric column, got {kind}",
            rule="dp_release",
        )
    numbers = pc.cast(column, pa.float64(), safe=False)
    return pc.if_else(pc.is_nan(numbers), None, numbers)


def _per_group(aggregates: tuple[DPAggregate, ...]) -> list[tuple[str, str]]:
    return [
        (a.column, "count" if a.kind == "count" else "list")
        for a in aggregates
        if a.column is not None
    ]


def _noisy(aggregate: DPAggregate, noise: AggregateNoise, grouped: pa.Table, i: int) -> float:
    if aggregate.column is None:
        return noise.release(count=grouped.column(_ROWS)[i].as_py())
    if aggregate.kind == "count":
        return noise.release(count=grouped.column(f"{aggregate.column}_count")[i].as_py())
    listed = grouped.column(f"{aggregate.column}_list")[i].values
    values = pa.array([], pa.float64()) if listed is None else listed.drop_null()
    return noise.release(count=len(values), values=values)


def _noisy_whole(aggregate: DPAggregate, noise: AggregateNoise, work: pa.Table) -> float:
    if aggregate.column is None:
        return noise.release(count=work.num_rows)
    column = work.column(aggregate.column)
    if aggregate.kind == "count":
        return noise.release(count=pc.count(column).as_py())
    values = pc.drop_null(column)
    return noise.release(count=len(values), values=values)
