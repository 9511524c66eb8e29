"""The platform's clock: the current UTC time and China Standard Time dates.

Stored times are timezone-aware UTC (:func:`utcnow`). Procurement and contract
dates (qualification validity, contract periods, "today") are dates in China
Standard Time, UTC+8 all year round (:data:`CST`, :func:`cst_date`,
:func:`today_cst`).

This module is the bottom layer: it imports only the standard library, and
every package may import it.

>>> from datetime import datetime
>>> cst_date(datetime(2026, 11, 29, 17, 30, tzinfo=UTC))
datetime.date(2026, 11, 30)
>>> utcnow().tzinfo is UTC
True
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

__all__ = ["CST", "UTC", "cst_date", "today_cst", "utcnow"]

#: China Standard Time: a fixed UTC+8 offset, with no daylight saving time.
CST = timezone(timedelta(hours=8))


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC, to the microsecond.

    Microsecond precision is what both store backends keep, so an event's
    encoded time equals the time read back from the store.
    """
    return datetime.now(UTC)


def cst_date(moment: datetime) -> date:
    """The CST date of a timezone-aware ``moment``.

    >>> cst_date(datetime(2026, 11, 29, 15, 59, tzinfo=UTC))
    datetime.date(2026, 11, 29)
    >>> cst_date(datetime(2026, 11, 29, 16, 0, tzinfo=UTC))
    datetime.date(2026, 11, 30)
    """
    return moment.astimezone(CST).date()


def today_cst() -> date:
    """Today's date in China Standard Time.

    >>> isinstance(today_cst(), date)
    True
    """
    return datetime.now(CST).date()
