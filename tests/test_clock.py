"""The platform clock: UTC now and China Standard Time dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from datacompact import clock


def test_utcnow_is_aware_utc() -> None:
    now = clock.utcnow()
    assert now.tzinfo is UTC
    assert abs(datetime.now(UTC) - now) < timedelta(seconds=5)


def test_cst_is_a_fixed_utc_plus_eight() -> None:
    assert timezone(timedelta(hours=8)) == clock.CST
    assert clock.CST.utcoffset(datetime(2026, 7, 1)) == timedelta(hours=8)
    assert clock.CST.utcoffset(datetime(2026, 1, 1)) == timedelta(hours=8)


def test_cst_date_turns_at_sixteen_utc() -> None:
    assert clock.cst_date(datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)) == date(2026, 12, 31)
    assert clock.cst_date(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == date(2027, 1, 1)
    assert clock.cst_date(datetime(2027, 1, 1, 0, 30, tzinfo=clock.CST)) == date(2027, 1, 1)


def test_today_cst_is_the_cst_date_of_now() -> None:
    before = clock.cst_date(clock.utcnow())
    today = clock.today_cst()
    after = clock.cst_date(clock.utcnow())
    assert today in (before, after)
