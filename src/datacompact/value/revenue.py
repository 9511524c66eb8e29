"""The maximum permitted revenue (最高准许收入), its carry-over, and the annual report.

A regulator sets an operator's maximum permitted revenue for a calendar year
(:func:`set_revenue_cap`). The operator's revenue is the sum of its issued
statements of that year. Revenue above the permitted amount is deducted when
the next year's maximum is set: the cap of year *Y* records the excess of
year *Y − 1* as its ``deduction``, and the permitted revenue is the maximum
less that deduction (never below zero). :func:`revenue_status` compares the
revenue with the permitted amount and alerts from 90% of it on
(``near_cap``), and above it (``over_cap``).

The annual operating report (:func:`annual_report`) is built from the log
and the statements: revenue by month, the cap, the items and their price
changes, free and paid uses, and the findings of misuse. Filing it
(:func:`file_annual_report`) logs its SHA-256, so the report filed can be
told from any later one.
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_HALF_UP, Decimal

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.clock import CST
from datacompact.errors import Conflict, InvalidInput, NotFound
from datacompact.events import EventType, Recorded, record_event
from datacompact.permissions import (
    Actions,
    ParticipantResource,
    PartyResource,
    Principal,
    authorize,
)
from datacompact.store.models import Participant
from datacompact.store.value_models import RevenueCap, Statement
from datacompact.value import charging, money, prices
from datacompact.value.metering import Period, meter
from datacompact.value.schemas import AnnualReport, RevenueCapIn, RevenueStatus

__all__ = ["NEAR_CAP", "annual_report", "file_annual_report", "revenue_status", "set_revenue_cap"]

#: The share of the permitted revenue from which the status alerts.
NEAR_CAP = Decimal("0.90")
ZERO = Decimal("0.00")


def _operator(session: Session, operator_id: int) -> Participant:
    operator = session.get(Participant, operator_id)
    if operator is None:
        raise NotFound(
            f"参与方不存在 / no participant {operator_id}",
            details={"kind": "participant", "id": operator_id},
        )
    return operator


def _revenue(session: Session, operator_id: int, year: int) -> dict[str, Decimal]:
    rows = session.execute(
        select(Statement.period, Statement.total)
        .where(Statement.operator_id == operator_id, Statement.period.like(f"{year:04d}-%"))
        .order_by(Statement.period)
    )
    return {period: Decimal(total) for period, total in rows}


def _cap(session: Session, operator_id: int, year: int) -> RevenueCap | None:
    return session.scalar(
        select(RevenueCap).where(RevenueCap.operator_id == operator_id, RevenueCap.year == year)
    )


def _permitted(cap: RevenueCap) -> Decimal:
    return max(Decimal(cap.maximum) - Decimal(cap.deduction), ZERO)


def _excess(session: Session, operator_id: int, year: int) -> Decimal:
    """What the operator earned above its permitted revenue of ``year``."""
    cap = _cap(session, operator_id, year)
    if cap is None:
        return ZERO
    revenue = money.total(_revenue(session, operator_id, year).values())
    return max(revenue - _permitted(cap), ZERO)


def set_revenue_cap(
    *, session: Session, actor: Principal, operator_id: int, data: RevenueCapIn
) -> Recorded[RevenueStatus]:
    """A regulator's maximum permitted revenue of an operator for a year, less last year's excess."""
    _operator(session, operator_id)
    authorize(
        actor=actor,
        action=Actions.PRICE_REGULATE,
        resource=PartyResource(participant_id=operator_id, reviewers=prices.authorities(session)),
    )
    maximum = money.fen(money.parse_price(data.maximum, "maximum"))
    if money.parse_price(data.maximum, "maximum") != maximum:
        raise InvalidInput(
            "最高准许收入须精确到分 / expected the maximum in yuan with at most 2 places",
            details={"field": "maximum"},
        )
    if _cap(session, operator_id, data.year) is not None:
        raise Conflict(
            f"{data.year} 年最高准许收入已核定 / the maximum of {data.year} is already set",
            details={"year": data.year},
        )
    deduction = _excess(session, operator_id, data.year - 1)
    cap = RevenueCap(
        operator_id=operator_id,
        year=data.year,
        maximum=money.text(maximum),
        deduction=money.text(deduction),
        set_by=actor.member_id,
    )
    session.add(cap)
    session.flush()
    event = record_event(
        session,
        actor=actor,
        type=EventType.REVENUE_CAP_SET,
        object_type="revenue_cap",
        object_id=cap.id,
        payload={
            "operator_id": operator_id,
            "year": data.year,
            "maximum": cap.maximum,
            "deduction": cap.deduction,
            "permitted": money.text(_permitted(cap)),
        },
    )
    cap.log_index = event.seq
    return Recorded(_status(session, operator_id, data.year), event.seq)


def _status(session: Session, operator_id: int, year: int) -> RevenueStatus:
    months = _revenue(session, operator_id, year)
    revenue = money.total(months.values())
    cap = _cap(session, operator_id, year)
    if cap is None:
        return RevenueStatus(
            operator_id=operator_id,
            year=year,
            maximum=None,
            deduction="0.00",
            permitted=None,
            revenue=money.text(revenue),
            share=None,
            alert="none",
            excess="0.00",
            months={k: money.text(v) for k, v in months.items()},
        )
    permitted = _permitted(cap)
    share = (
        (revenue / permitted).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        if permitted > 0
        else None
    )
    if revenue > permitted:
        alert = "over_cap"
    elif share is not None and share >= NEAR_CAP:
        alert = "near_cap"
    else:
        alert = "none"
    return RevenueStatus(
        operator_id=operator_id,
        year=year,
        maximum=cap.maximum,
        deduction=cap.deduction,
        permitted=money.text(permitted),
        revenue=money.text(revenue),
        share=None if share is None else money.text(share),
        alert=alert,
        excess=money.text(max(revenue - permitted, ZERO)),
        months={k: money.text(v) for k, v in months.items()},
    )


def _readable(session: Session, actor: Principal, operator_id: int) -> None:
    authorize(
        actor=actor,
        action=Actions.BILLING_READ,
        resource=PartyResource(participant_id=operator_id, parties=prices.authorities(session)),
    )


def revenue_status(
    *, session: Session, actor: Principal, operator_id: int, year: int
) -> RevenueStatus:
    """The operator's revenue of a year against its permitted revenue, with the alert."""
    _operator(session, operator_id)
    _readable(session, actor, operator_id)
    return _status(session, operator_id, year)


def annual_report(
    *, session: Session, actor: Principal, operator_id: int, year: int
) -> AnnualReport:
    """The annual operating report of an operator, from the log and its statements."""
    operator = _operator(session, operator_id)
    _readable(session, actor, operator_id)
    return _report(session, operator, year)


def _report(session: Session, operator: Participant, year: int) -> AnnualReport:
    from datacompact.value import statements

    status = _status(session, operator.id, year)
    items = prices.items_of(session, operator.id)
    changes = sum(
        1
        for item in items
        for version in item.versions
        if version.change != "listed" and version.effective_at.astimezone(CST).year == year
    )
    issued = [
        s
        for s in statements.statements_of(session, operator.id)
        if s.period.startswith(f"{year:04d}-")
    ]
    free = paid = 0
    replay = None
    for statement in issued:
        lines, replay = meter(session, Period(year, int(statement.period[5:])))
        for line in lines:
            if line.operator_id == operator.id:
                if line.free:
                    free += 1
                else:
                    paid += 1
    found = [] if replay is None else charging.findings(replay, operator_id=operator.id)
    body = {
        "operator_id": operator.id,
        "year": year,
        "revenue": status.model_dump(mode="json"),
        "items": [i.model_dump(mode="json") for i in items],
        "statements": [s.model_dump(mode="json") for s in reversed(issued)],
        "free_uses": free,
        "paid_uses": paid,
        "price_changes": changes,
        "findings": [f.model_dump(mode="json") for f in found],
    }
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return AnnualReport(
        operator_id=operator.id,
        operator_name=operator.name,
        year=year,
        revenue=status,
        items=items,
        statements=list(reversed(issued)),
        free_uses=free,
        paid_uses=paid,
        price_changes=changes,
        findings=found,
        sha256=digest,
    )


def file_annual_report(*, session: Session, actor: Principal, year: int) -> Recorded[AnnualReport]:
    """The acting operator files its annual operating report: its digest is logged."""
    operator_id = actor.participant_id
    authorize(actor=actor, action=Actions.BILLING_METER, resource=ParticipantResource(operator_id))
    assert operator_id is not None  # noqa: S101 - authorize() refused anonymous actors
    report = _report(session, _operator(session, operator_id), year)
    event = record_event(
        session,
        actor=actor,
        type=EventType.ANNUAL_REPORT_FILED,
        object_type="participant",
        object_id=operator_id,
        payload={
            "operator_id": operator_id,
            "year": year,
            "revenue": report.revenue.revenue,
            "permitted": report.revenue.permitted,
            "sha256": report.sha256,
        },
    )
    return Recorded(report, event.seq)
