"""Builders of generalization hierarchies (GB/T 37964-2019 §A.3.2, ARX's builders).

Each builder takes the distinct values of a column and returns a
:class:`~datacompact.privacy.hierarchy.Hierarchy` whose last level is ``*``.

>>> interval_hierarchy([3, 17, 25], width=10, fanouts=(2,)).rows[1]
('17', '[10, 20)', '[0, 20)', '*')
>>> region_code_hierarchy(["110105", "320102"]).rows[1]
('320102', '320100', '320000', '*')
>>> masking_hierarchy(["1234"]).rows[0]
('1234', '123*', '12**', '1***', '****', '*')
>>> date_hierarchy(["2024-03-15"]).rows[0]
('2024-03-15', '2024-03', '2024', '2020s', '*')
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence

from datacompact.errors import InvalidIdentifier, InvalidInput
from datacompact.privacy.hierarchy import Hierarchy

SUPPRESSED = "*"
_REGION = re.compile(r"^[1-9][0-9]{5}$")
_DATE_LEVELS = ("month", "year", "decade")


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def interval_hierarchy(
    values: Iterable[float | int | str],
    *,
    width: float,
    fanouts: Sequence[int] = (2, 2),
    start: float | None = None,
) -> Hierarchy:
    """Half-open intervals ``[lo, hi)`` of ``width``, then merged ``fanouts`` at a time.

    ``start`` anchors the first interval (default: the smallest value rounded
    down to a multiple of ``width``), as ARX's interval builder does.
    """
    if width <= 0 or not math.isfinite(width):
        raise InvalidInput("expected a positive interval width", details={"width": width})
    if any(f < 2 for f in fanouts):
        raise InvalidInput(
            "expected every fanout to be at least 2", details={"fanouts": list(fanouts)}
        )
    labels: list[str] = []
    numbers: list[float] = []
    for position, value in enumerate(values):
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"expected a number at position {position}", details={"position": position}
            ) from exc
        if not math.isfinite(number):
            raise InvalidInput(f"expected a finite number at position {position}")
        labels.append(value if isinstance(value, str) else _fmt(number))
        numbers.append(number)
    if not numbers:
        raise InvalidInput("expected at least one value to build a hierarchy from")
    origin = math.floor(min(numbers) / width) * width if start is None else start
    if min(numbers) < origin:
        raise InvalidInput("expected every value at or above the start of the first interval")
    rows: list[list[str]] = []
    seen: set[str] = set()
    for label, number in zip(labels, numbers, strict=True):
        if label in seen:
            continue
        seen.add(label)
        row = [label]
        span = width
        for fanout in (1, *fanouts):
            span = span * fanout
            lo = origin + math.floor((number - origin) / span) * span
            row.append(f"[{_fmt(lo)}, {_fmt(lo + span)})")
        row.append(SUPPRESSED)
        rows.append(row)
    return Hierarchy.from_rows(rows)


def _as_date(value: str | dt.date, position: int) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value[:10])
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"expected an ISO date at position {position}", details={"position": position}
        ) from exc


def date_hierarchy(
    values: Iterable[str | dt.date], *, levels: Sequence[str] = _DATE_LEVELS
) -> Hierarchy:
    """Date → month (``YYYY-MM``) → year → decade (``2020s``) → ``*``; ``levels`` picks a subset."""
    unknown = [lv for lv in levels if lv not in _DATE_LEVELS]
    if unknown or list(levels) != sorted(levels, key=_DATE_LEVELS.index) or not levels:
        raise InvalidInput(
            "expected levels in order from month, year, decade",
            details={"levels": list(levels)},
        )
    rows: list[list[str]] = []
    seen: set[str] = set()
    for position, value in enumerate(values):
        day = _as_date(value, position)
        label = value if isinstance(value, str) else day.isoformat()
        if label in seen:
            continue
        seen.add(label)
        cells = {
            "month": f"{day.year:04d}-{day.month:02d}",
            "year": f"{day.year:04d}",
            "decade": f"{day.year // 10 * 10}s",
        }
        rows.append([label, *(cells[lv] for lv in levels), SUPPRESSED])
    if not rows:
        raise InvalidInput("expected at least one value to build a hierarchy from")
    return Hierarchy.from_rows(rows)


def region_code_hierarchy(codes: Iterable[str]) -> Hierarchy:
    """GB/T 2260 administrative codes: county ``320102`` → city ``320100`` → province ``320000`` → ``*``.

    A city code (``XXXX00``) generalizes to itself at level 1 and a province
    code (``XX0000``) to itself at levels 1 and 2, so that a column mixing the
    three kinds stays monotonic.
    """
    rows: list[list[str]] = []
    seen: set[str] = set()
    for position, code in enumerate(codes):
        if not isinstance(code, str) or not _REGION.match(code):
            raise InvalidIdentifier(
                f"expected a six-digit GB/T 2260 region code at position {position}",
                details={"position": position},
            )
        if code in seen:
            continue
        seen.add(code)
        rows.append([code, code[:4] + "00", code[:2] + "0000", SUPPRESSED])
    if not rows:
        raise InvalidInput("expected at least one code to build a hierarchy from")
    return Hierarchy.from_rows(rows)


def masking_hierarchy(values: Iterable[str], *, mask: str = "*") -> Hierarchy:
    """Right-to-left masking of codes and IDs: level ``i`` masks the last ``i`` characters.

    Values of different lengths are masked up to the longest length (a short
    value stays fully masked), then a final ``*`` level joins them all.
    """
    if len(mask) != 1:
        raise InvalidInput("expected a one-character mask")
    distinct = list(dict.fromkeys(str(v) for v in values))
    if not distinct:
        raise InvalidInput("expected at least one value to build a hierarchy from")
    longest = max(len(v) for v in distinct)
    rows = []
    for value in distinct:
        row = [value]
        for i in range(1, longest + 1):
            keep = max(len(value) - i, 0)
            row.append(value[:keep] + mask * (len(value) - keep))
        row.append(SUPPRESSED)
        rows.append(row)
    return Hierarchy.from_rows(rows)
