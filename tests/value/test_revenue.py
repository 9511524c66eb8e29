"""The maximum permitted revenue, its alert, the carry-over and the annual report."""

from __future__ import annotations

from pathlib import Path

import pytest

from datacompact.errors import Conflict, Forbidden, InvalidInput
from datacompact.value import revenue, statements
from datacompact.value.schemas import RevenueCapIn, RevenueStatus

from ..conftest import World
from ._billing import LATER, Priced, priced_world, use


@pytest.fixture
def priced(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Priced:
    monkeypatch.setattr(statements, "utcnow", lambda: LATER)
    built = priced_world(world, tmp_path)
    use(world, built.api_item, built.paid_grant, "6.9")  # 17.25 yuan
    use(world, built.api_item, built.free_grant, "1")  # free
    with world.platform.db.write() as session:
        statements.issue_statement(
            session=session, actor=world.principal("department.admin"), period=built.period
        )
    return built


def _cap(world: World, year: int, maximum: object, who: str = "regulator.admin") -> RevenueStatus:
    with world.platform.db.write() as session:
        return revenue.set_revenue_cap(
            session=session,
            actor=world.principal(who),
            operator_id=world.ids["department"],
            data=RevenueCapIn(year=year, maximum=maximum),
        ).value


def test_revenue_near_the_cap_alerts(world: World, priced: Priced) -> None:
    year = int(priced.period[:4])
    status = _cap(world, year, "19.00")
    assert (status.revenue, status.permitted, status.share, status.alert) == (
        "17.25",
        "19.00",
        "0.9079",
        "near_cap",
    )
    with pytest.raises(Conflict):
        _cap(world, year, "20.00")


def test_revenue_above_the_cap_is_deducted_from_next_year(world: World, priced: Priced) -> None:
    year = int(priced.period[:4])
    assert _cap(world, year, "10.00").alert == "over_cap"
    following = _cap(world, year + 1, "100.00")
    assert (following.maximum, following.deduction, following.permitted) == (
        "100.00",
        "7.25",
        "92.75",
    )


def test_a_cap_is_set_by_a_regulator_in_fen(world: World, priced: Priced) -> None:
    year = int(priced.period[:4])
    with pytest.raises(Forbidden):
        _cap(world, year, "19.00", who="department.admin")
    with pytest.raises(InvalidInput):
        _cap(world, year, "19.001")
    with pytest.raises(InvalidInput):
        _cap(world, year, "-5")


def test_the_annual_report_comes_from_the_log_and_statements(world: World, priced: Priced) -> None:
    year = int(priced.period[:4])
    _cap(world, year, "19.00")
    with world.platform.db.write() as session:
        filed = revenue.file_annual_report(
            session=session, actor=world.principal("department.admin"), year=year
        )
    report = filed.value
    assert (report.free_uses, report.paid_uses, report.price_changes) == (1, 1, 4)
    assert report.revenue.revenue == "17.25"
    assert [s.period for s in report.statements] == [priced.period]
    with world.platform.db.read() as session:
        again = revenue.annual_report(
            session=session,
            actor=world.principal("regulator.auditor"),
            operator_id=world.ids["department"],
            year=year,
        )
        with pytest.raises(Forbidden):
            revenue.annual_report(
                session=session,
                actor=world.principal("enterprise.admin"),
                operator_id=world.ids["department"],
                year=year,
            )
    assert again.sha256 == report.sha256
