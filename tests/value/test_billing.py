"""Prices, free purposes, metering, statements and the audit, on both stores."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update

from datacompact.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    PolicyViolation,
)
from datacompact.policy import grants, queries
from datacompact.store.value_models import StatementLine
from datacompact.value import charging, metering, prices, statements
from datacompact.value.schemas import (
    BillingAudit,
    MisuseIn,
    PriceChange,
    PurposeClassIn,
    StatementPublic,
)

from ..conftest import World
from ._billing import LATER, Priced, ceiling, list_item, price, priced_world, use


@pytest.fixture
def priced(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Priced:
    monkeypatch.setattr(statements, "utcnow", lambda: LATER)
    return priced_world(world, tmp_path)


def _issue(world: World, period: str) -> StatementPublic:
    with world.platform.db.write() as session:
        return statements.issue_statement(
            session=session, actor=world.principal("department.admin"), period=period
        ).value


def _audit(world: World, period: str) -> BillingAudit:
    with world.platform.db.read() as session:
        return statements.audit_billing(
            session=session, actor=world.principal("regulator.auditor"), period=period
        )


@pytest.mark.parametrize("bad", ["3.01", "-1", "abc", "1e2", "NaN", "1.00001"])
def test_a_price_above_its_ceiling_negative_or_not_a_number_is_refused(
    world: World, priced: Priced, bad: str
) -> None:
    with pytest.raises(InvalidInput if bad != "3.01" else PolicyViolation) as caught:
        price(world, priced.api_item, bad)
    assert bad not in str(caught.value) or bad == "3.01"
    with pytest.raises(InvalidInput):
        price(world, priced.api_item, 2.5)  # a JSON number: floats never reach a price
    with world.platform.db.read() as session:
        item = prices.get_item(
            session=session, actor=world.principal("enterprise.analyst"), item_id=priced.api_item
        )
    assert (item.price, item.version) == ("2.5000", 3)


def test_a_ceiling_can_be_set_by_the_regulator_only_and_never_on_itself(
    world: World, priced: Priced
) -> None:
    with pytest.raises(Forbidden), world.platform.db.write() as session:
        prices.set_ceiling(
            session=session,
            actor=world.principal("department.admin"),
            item_id=priced.api_item,
            change=PriceChange(value="100"),
        )


def test_an_item_is_free_until_it_has_a_ceiling(world: World, priced: Priced) -> None:
    psi = list_item(world, "psi", kind="psi_service", form="service_count", unit="service")
    with pytest.raises(PolicyViolation):
        price(world, psi, "1.00")
    with pytest.raises(InvalidInput):
        list_item(world, "bad-unit", kind="api", form="service_time", unit="call")
    with pytest.raises(Conflict):
        list_item(world, "psi", kind="psi_service", form="service_count", unit="service")


def test_the_price_list_is_public_with_every_version(world: World, priced: Priced) -> None:
    from datacompact.permissions import Principal

    anonymous = Principal.anonymous(world.platform.settings.governance_mode)
    with world.platform.db.read() as session:
        listed = prices.price_list(session=session, actor=anonymous)
        item = prices.get_item(session=session, actor=anonymous, item_id=priced.api_item)
    assert {i.code for i in listed} == {"tax-api", "tax-query"}
    assert [(v.version, v.change, v.ceiling, v.price) for v in item.versions] == [
        (1, "listed", None, "0.0000"),
        (2, "ceiling", "3.0000", "0.0000"),
        (3, "price", "3.0000", "2.5000"),
    ]


def test_a_ceiling_changed_in_an_open_month_applies_to_later_uses_only(
    world: World, priced: Priced
) -> None:
    use(world, priced.api_item, priced.paid_grant, "3")  # 3,000 calls at 2.50 per thousand
    ceiling(world, priced.api_item, "1.9999")  # the price falls to the ceiling
    use(world, priced.api_item, priced.paid_grant, "1")
    issued = _issue(world, priced.period)
    with world.platform.db.read() as session:
        lines = statements.get_statement(
            session=session,
            actor=world.principal("department.admin"),
            operator_id=issued.operator_id,
            period=priced.period,
        ).lines
    assert [(x.version, x.unit_price, x.amount) for x in lines] == [
        (3, "2.5000", "7.50"),
        (4, "1.9999", "2.00"),
    ]
    assert issued.total == "9.50"
    assert _audit(world, priced.period).ok


def test_a_public_interest_grant_is_free_and_cannot_be_charged(
    world: World, priced: Priced
) -> None:
    use(world, priced.api_item, priced.free_grant, "10")
    with pytest.raises(PolicyViolation) as refused, world.platform.db.write() as session:
        charging.assign_purpose_class(
            session=session,
            actor=world.principal("regulator.reviewer"),
            grant_id=priced.free_grant,
            data=PurposeClassIn(purpose_class="commercial", reason="try"),
        )
    assert refused.value.details["rule"] == "charging.free_purpose"
    issued = _issue(world, priced.period)
    assert issued.total == "0.00"
    # A statement line altered to charge the free use is caught by the audit.
    with world.platform.db.write() as session:
        session.execute(
            update(StatementLine)
            .where(StatementLine.statement_id == issued.id)
            .values(unit_price="2.5000", amount="25.00")
        )
    audit = _audit(world, priced.period)
    assert not audit.ok
    assert audit.first_mismatch is not None
    assert (audit.first_mismatch.line_no, audit.first_mismatch.field) == (1, "unit_price")
    assert "free purpose" in audit.first_mismatch.message


def test_a_query_is_metered_from_its_event_and_the_audit_names_a_changed_line(
    world: World, priced: Priced
) -> None:
    for _ in range(2):
        queries.run_query(
            db=world.platform.db,
            home=world.platform.settings.home,
            secret=world.platform.secret,
            actor=world.principal("enterprise.analyst"),
            grant_id=priced.paid_grant,
            sql=f"SELECT count(*) AS n FROM r{priced.resource_id}",
        )
    use(world, priced.api_item, priced.paid_grant, "0.5")
    issued = _issue(world, priced.period)
    assert (issued.line_count, issued.total) == (3, "17.25")
    with pytest.raises(Conflict):
        _issue(world, priced.period)
    assert _audit(world, priced.period).ok
    with world.platform.db.write() as session:
        session.execute(
            update(StatementLine)
            .where(StatementLine.statement_id == issued.id, StatementLine.line_no == 2)
            .values(amount="7.00")
        )
    mismatch = _audit(world, priced.period).first_mismatch
    assert mismatch is not None
    assert (mismatch.line_no, mismatch.field, mismatch.expected, mismatch.recorded) == (
        2,
        "amount",
        "8.00",
        "7.00",
    )


def test_a_user_sees_only_its_own_lines(world: World, priced: Priced) -> None:
    use(world, priced.api_item, priced.paid_grant, "2")
    use(world, priced.api_item, priced.free_grant, "2")
    issued = _issue(world, priced.period)
    with world.platform.db.read() as session:
        mine = statements.get_statement(
            session=session,
            actor=world.principal("enterprise2.analyst"),
            operator_id=issued.operator_id,
            period=priced.period,
        )
    assert [line.free for line in mine.lines] == [True]
    assert mine.total == "0.00"
    csv_text = statements.statement_csv(mine)
    assert csv_text.splitlines()[-1] == "total,,,,,,,,0.00,"


def test_an_open_month_cannot_be_issued(
    world: World, priced: Priced, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datacompact.clock import utcnow

    monkeypatch.setattr(statements, "utcnow", utcnow)
    with pytest.raises(InvalidTransition):
        _issue(world, priced.period)
    with pytest.raises(InvalidInput):
        _issue(world, "2026-13")


def test_money_rounds_each_line_to_the_fen_and_totals_add_up(world: World, priced: Priced) -> None:
    # 0.002 thousand calls at 2.50 is 0.005 yuan: half up to 0.01; seven of them 0.07.
    for _ in range(7):
        use(world, priced.api_item, priced.paid_grant, "0.002")
    issued = _issue(world, priced.period)
    with world.platform.db.read() as session:
        amounts = session.scalars(
            select(StatementLine.amount).where(StatementLine.statement_id == issued.id)
        ).all()
    assert amounts == ["0.01"] * 7
    assert issued.total == "0.07" == str(sum(Decimal(a) for a in amounts))


def test_misuse_is_an_audit_finding(world: World, priced: Priced) -> None:
    with world.platform.db.write() as session:
        charging.report_misuse(
            session=session,
            actor=world.principal("regulator.auditor"),
            grant_id=priced.free_grant,
            data=MisuseIn(reason="用于商业营销 / used for marketing"),
        )
    with pytest.raises(PolicyViolation), world.platform.db.write() as session:
        charging.report_misuse(
            session=session,
            actor=world.principal("regulator.auditor"),
            grant_id=priced.paid_grant,
            data=MisuseIn(reason="x"),
        )
    kinds = {(f.kind, f.grant_id) for f in _audit(world, priced.period).findings}
    assert kinds == {("misuse_reported", priced.free_grant)}


def test_no_use_is_metered_under_a_grant_that_is_not_active(world: World, priced: Priced) -> None:
    with world.platform.db.write() as session:
        grants.set_grant_status(
            session=session,
            actor=world.principal("regulator.reviewer"),
            grant_id=priced.paid_grant,
            decision="suspend",
            reason="暂停 / suspended",
        )
    with pytest.raises(PolicyViolation) as refused:
        use(world, priced.api_item, priced.paid_grant, "1")
    assert refused.value.details["rule"] == "usage.grant_not_active"


@pytest.mark.parametrize("period", ["0000-01", "2026-13", "2026-1", " 2026-11x", ""])
def test_a_period_outside_the_calendar_is_refused(period: str) -> None:
    with pytest.raises(InvalidInput):
        metering.parse_period(period)
