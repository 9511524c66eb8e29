"""How a k-anonymous release is generalized: hierarchies built from the values, the optimal search.

:func:`generalize` takes the granted slice (after the platform's row filter
and masks) and returns it k-anonymous, every column a quasi-identifier: a
released column's value, alone or combined with the others, is what links a
record to a person, and the grantee may select on any of them. Each column is
generalized along a hierarchy built from its values (GB/T 37964-2019 §A.3):

* numbers: intervals of a width of a tenth of the range rounded up to 1, 2
  or 5 times a power of ten, merged two at a time (``[20, 30)`` →
  ``[20, 40)`` → ...), then ``*``;
* dates: month, year, decade, ``*``;
* text: masked from the right one character per level, then ``*`` (codes
  such as ICD-10 ``J45.9`` → ``J45.*`` → ``J4*``);
* a column with a single value: itself, then ``*``.

A missing value is its own label up to ``*``, so a column with gaps keeps its
intervals or dates. The privacy engine's optimal search
(:func:`datacompact.privacy.anonymize.anonymize`) picks one level per column
with the least information loss; records of classes still smaller than k are
suppressed, at most 5 % of them.

>>> import datetime as dt
>>> import pyarrow as pa
>>> days = [dt.date(2024, m, d) for m in (3, 4) for d in (1, 5, 9)]
>>> g = generalize(pa.table({"day": days}), k=3)
>>> g.levels, g.table.column("day").to_pylist()
({'day': 1}, ['2024-03', '2024-03', '2024-03', '2024-04', '2024-04', '2024-04'])
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from datacompact.errors import PolicyViolation
from datacompact.privacy.anonymize import KAnonymity, anonymize
from datacompact.privacy.builders import (
    SUPPRESSED,
    date_hierarchy,
    interval_hierarchy,
    masking_hierarchy,
)
from datacompact.privacy.hierarchy import Hierarchy

SUPPRESSION_LIMIT = 0.05
#: The optimal search's time limit. Past it the best transformation found so
#: far is released: still k-anonymous (the search starts from the accepted
#: top of the lattice), only less precise. 200,000 demo clinic visits by 6
#: columns take 1.0 to 2.3 s (docs/_drafts/k_anonymous.md): ten times that margin.
SEARCH_SECONDS = 30.0
NULL = "(空 / null)"


@dataclass(frozen=True)
class Generalized:
    """A table generalized to k-anonymity: the released rows (text) and the transformation."""

    table: pa.Table
    #: Per column, in the input's order: its level, its hierarchy's height and kind.
    levels: Mapping[str, int]
    heights: Mapping[str, int]
    hierarchies: Mapping[str, str]
    suppressed: int
    optimal: bool
    seconds: float


def _is_numeric(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    )


def _hierarchy(kind: pa.DataType, labels: list[str]) -> tuple[Hierarchy, str]:
    """A generalization hierarchy over ``labels`` (a column's distinct values as text), and its kind."""
    values = [v for v in labels if v != NULL]
    if len(labels) == 1:
        return Hierarchy.from_rows([[labels[0], SUPPRESSED]]), "constant"
    numbers = [float(v) for v in values] if values and _is_numeric(kind) else []
    # The span too must be finite: -1e308 and 1e308 are, their difference is not.
    span = max(numbers) - min(numbers) if numbers else math.nan
    dates = bool(values) and (pa.types.is_date(kind) or pa.types.is_timestamp(kind))
    if numbers and all(math.isfinite(n) for n in numbers) and math.isfinite(span):
        width = _round_up(span / 10) if span >= 10 else 1.0
        built, name = interval_hierarchy(values, width=width, fanouts=(2, 2, 2)), "interval"
    elif dates and all(_is_plain_date(v) for v in values):
        built, name = date_hierarchy(values), "date"
    else:
        # Text, numbers with infinities, dates past year 9999: masked from the
        # right, then suppressed. No value may make the release fail.
        if max(len(v) for v in labels) > MAX_MASKED_LENGTH:
            # A masking hierarchy is as tall as the longest value: one long
            # text would make the search quadratic in it. Kept whole or suppressed.
            return Hierarchy.from_rows([[v, SUPPRESSED] for v in labels]), "suppression"
        return masking_hierarchy(labels), "masking"
    if len(values) < len(labels):
        # A missing value stays apart from every interval or date until ``*``.
        built = Hierarchy((*built.rows, (NULL,) * built.height + (SUPPRESSED,)))
    return built, name


#: Text labels longer than this are not masked character by character.
MAX_MASKED_LENGTH = 64


def _is_plain_date(label: str) -> bool:
    """Whether ``label`` is a ``YYYY-MM-DD`` date Python can hold (years 1 to 9999)."""
    try:
        dt.date.fromisoformat(label)
    except ValueError:
        return False
    return True


def _round_up(width: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``width``.

    >>> _round_up(3.9), _round_up(12.0), _round_up(50.0)
    (5.0, 20.0, 50.0)
    """
    power = 10.0 ** math.floor(math.log10(width))
    return next(step * power for step in (1.0, 2.0, 5.0, 10.0) if step * power >= width)


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


def _as_text(column: pa.ChunkedArray) -> tuple[pa.Array, list[str]]:
    """``column`` as text labels, and its distinct labels: one Python call per distinct value."""
    encoded = pc.dictionary_encode(column.combine_chunks(), null_encoding="encode")
    dictionary = encoded.dictionary
    if pa.types.is_timestamp(dictionary.type):
        dictionary = pc.cast(dictionary, pa.date32())
    if pa.types.is_date(dictionary.type):
        # Arrow's own text: Python's dates stop at year 9999, DuckDB's do not.
        texts = [NULL if v is None else v for v in pc.cast(dictionary, pa.string()).to_pylist()]
    else:
        texts = [_text(v) for v in dictionary.to_pylist()]
    strings = pc.take(pa.array(texts, pa.string()), encoded.indices)
    return strings, list(dict.fromkeys(texts))


def generalize(table: pa.Table, *, k: int, time_limit: float = SEARCH_SECONDS) -> Generalized:
    """``table`` generalized and suppressed to k-anonymity, every column a quasi-identifier.

    Raises ``k_anonymous.unreachable`` when the table has fewer than k rows
    (but some): no generalization can hide them. An empty table is released
    as it is, since no record is in it.
    """
    started = time.perf_counter()
    names = table.column_names
    if table.num_rows == 0:
        empty = pa.table({n: pa.array([], pa.string()) for n in names})
        zeros = dict.fromkeys(names, 0)
        return Generalized(empty, zeros, zeros, dict.fromkeys(names, "constant"), 0, True, 0.0)
    if table.num_rows < k:
        raise PolicyViolation(
            f"授权数据少于 k={k} 条，无法匿名化 / the granted slice has fewer than k={k} "
            "records, so no generalization can make it k-anonymous",
            details={"rule": "k_anonymous.unreachable", "k": k},
        )
    strings: dict[str, pa.Array] = {}
    hierarchies: dict[str, Hierarchy] = {}
    kinds: dict[str, str] = {}
    for name in names:
        strings[name], labels = _as_text(table.column(name))
        hierarchies[name], kinds[name] = _hierarchy(table.schema.field(name).type, labels)
    outcome = anonymize(
        pa.table(strings),
        hierarchies=hierarchies,
        models=[KAnonymity(k)],
        suppression_limit=SUPPRESSION_LIMIT,
        time_limit=time_limit,
    )
    return Generalized(
        table=outcome.table,
        levels={n: outcome.transformation[n] for n in names},
        heights={n: hierarchies[n].height for n in names},
        hierarchies=kinds,
        suppressed=outcome.suppressed,
        optimal=outcome.optimal,
        seconds=time.perf_counter() - started,
    )
