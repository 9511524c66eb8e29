"""Metered lines of a month, computed from the log alone.

:func:`meter` replays the events of the log in order: applications and
grants (who uses which resource for which purpose), the price list's events
(every item's version), the reviewers' purpose classes, and the uses of the
month. Nothing else is read, so an auditor who holds the log recomputes the
same lines (:func:`datacompact.value.statements.audit_billing`).

Each use becomes one line charged at the price version in force when it was
logged (a version set later never applies to an earlier use):

======================== ===================== =========================================
event                    item                  quantity, by the item's unit
======================== ===================== =========================================
``query.executed``       the resource's        1 per query (``service``, ``call``);
                         ``query_service``     0.001 per ``thousand_calls``
``release.computed``     the resource's        1 per ``copy`` or ``service``; the
                         ``extract``           release's rows per ``row``, /1000 per
                                               ``thousand_rows``
``billing.usage_recorded`` the item named      as recorded, in the item's unit
======================== ===================== =========================================

A governed query is charged by the query, never by its rows: under the
aggregate modes how many rows a query touched is not released, and its price
must not release it either.

A use under a public-interest grant (the purpose's class in
:mod:`datacompact.policy.purposes`, unless a reviewer classed the grant
otherwise) is a free line: unit price and amount zero, whoever the user.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from heapq import merge
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from datacompact.clock import CST
from datacompact.errors import InvalidInput, NotFound, PolicyViolation
from datacompact.events import EventType, Recorded, record_event
from datacompact.permissions import Actions, ParticipantResource, Principal, authorize
from datacompact.policy.purposes import Purpose
from datacompact.store.models import Event, Grant
from datacompact.value import money
from datacompact.value.prices import ON_A_RESOURCE, load_item
from datacompact.value.schemas import PERIOD_PATTERN, UsageIn

__all__ = ["Line", "Period", "Replay", "meter", "parse_period", "record_usage"]

USES = (
    EventType.QUERY_EXECUTED.value,
    EventType.RELEASE_COMPUTED.value,
    EventType.USAGE_RECORDED.value,
)
STATE = (
    EventType.APPLICATION_SUBMITTED.value,
    EventType.APPLICATION_AMENDED.value,
    EventType.GRANT_ISSUED.value,
    EventType.PRICE_ITEM_LISTED.value,
    EventType.PRICE_CEILING_SET.value,
    EventType.PRICE_SET.value,
    EventType.PURPOSE_CLASS_ASSIGNED.value,
    EventType.MISUSE_REPORTED.value,
)
ONE = Decimal(1)
THOUSANDTH = Decimal("0.001")
ZERO_PRICE = Decimal("0.0000")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Period:
    """A calendar month in China Standard Time, ``2026-11``."""

    year: int
    month: int

    @property
    def text(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=CST)

    @property
    def end(self) -> datetime:
        days = calendar.monthrange(self.year, self.month)[1]
        last = datetime(self.year, self.month, days, tzinfo=CST)
        return datetime.fromtimestamp(last.timestamp() + 86400, tz=CST)


def parse_period(value: object) -> Period:
    """``YYYY-MM``; anything else is refused with the form expected."""
    import re

    if not isinstance(value, str) or re.fullmatch(PERIOD_PATTERN, value.strip()) is None:
        raise InvalidInput(
            "账期须为 YYYY-MM / expected the period as a month such as 2026-11, got another form",
            details={"field": "period"},
        )
    year, month = value.strip().split("-")
    return Period(int(year), int(month))


class Line(NamedTuple):
    """One metered use. Money and quantity are ``Decimal``."""

    operator_id: int
    event_seq: int
    user_id: int
    grant_id: int | None
    item_id: int
    version: int
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    free: bool


@dataclass
class _Item:
    operator_id: int
    kind: str
    form: str
    unit: str
    resource_id: int | None
    version: int
    price: Decimal


@dataclass
class _Grant:
    resource_id: int
    user_id: int
    purpose: str
    assigned: str | None = None
    #: The class the meter applies: the reviewer's, else the purpose's (kept, not
    #: recomputed per use: a month may hold millions of uses).
    public_interest: bool = False

    def __post_init__(self) -> None:
        self.reclass(self.assigned)

    def reclass(self, assigned: str | None) -> None:
        self.assigned = assigned
        if assigned is not None:
            self.public_interest = assigned == "public_interest"
        else:
            self.public_interest = public_interest(self.purpose)


def public_interest(purpose: str) -> bool:
    """Whether a purpose code is public-interest; an unknown code counts as commercial."""
    try:
        return Purpose(purpose).info.public_interest
    except ValueError:
        return False


@dataclass
class Replay:
    """The state the log describes at one point: items, grants, classes and reports."""

    items: dict[int, _Item]
    grants: dict[int, _Grant]
    by_resource: dict[tuple[int, str], int]
    applications: dict[int, tuple[int, str]]
    misuse: dict[int, tuple[str, int]]
    #: (quantity, unit price) → amount: a month repeats a few pairs millions of times.
    amounts: dict[tuple[Decimal, Decimal], Decimal]

    @classmethod
    def empty(cls) -> Replay:
        return cls({}, {}, {}, {}, {}, {})

    def amount(self, quantity: Decimal, price: Decimal) -> Decimal:
        key = (quantity, price)
        found = self.amounts.get(key)
        if found is None:
            if len(self.amounts) > 100_000:
                self.amounts.clear()
            found = self.amounts[key] = money.amount(quantity, price)
        return found

    def apply(self, seq: int, type: str, participant: int | None, oid: str, p: Any) -> None:
        """Advance the state by one non-use event."""
        if type == "application.submitted" or type == "application.amended":
            applicant, _ = self.applications.get(int(oid), (participant or 0, ""))
            self.applications[int(oid)] = (applicant, p.get("purpose", ""))
        elif type == "grant.issued":
            applicant, purpose = self.applications.get(p["application_id"], (0, ""))
            self.grants[int(oid)] = _Grant(p["resource_id"], applicant, purpose)
        elif type == "price.item_listed":
            item = _Item(
                p["operator_id"],
                p["kind"],
                p["form"],
                p["unit"],
                p["resource_id"],
                p["version"],
                Decimal(p["price"]),
            )
            self.items[p["item_id"]] = item
            if item.resource_id is not None:
                self.by_resource[(item.resource_id, item.kind)] = p["item_id"]
        elif type == "price.ceiling_set" or type == "price.set":
            known = self.items[p["item_id"]]
            known.version, known.price = p["version"], Decimal(p["price"])
        elif type == "billing.purpose_assigned":
            if (grant := self.grants.get(p["grant_id"])) is not None:
                grant.reclass(p["purpose_class"])
        elif type == "billing.misuse_reported":
            self.misuse[p["grant_id"]] = (p["reason"], seq)

    def line(self, seq: int, type: str, p: Any) -> Line | None:
        """The line of one use, or None when no item charges it."""
        grant_id = p["grant_id"]
        grant = self.grants.get(grant_id)
        if grant is None:
            return None
        if type == "billing.usage_recorded":
            item_id: int | None = p["item_id"]
        else:
            kind = "query_service" if type == "query.executed" else "extract"
            item_id = self.by_resource.get((grant.resource_id, kind))
        item = None if item_id is None else self.items.get(item_id)
        if item is None or item_id is None:
            return None
        quantity = _quantity(item, type, p)
        free = grant.public_interest
        price = ZERO_PRICE if free else item.price
        return Line(
            item.operator_id,
            seq,
            grant.user_id,
            grant_id,
            item_id,
            item.version,
            quantity,
            price,
            self.amount(quantity, price),
            free,
        )


def _quantity(item: _Item, type: str, p: Any) -> Decimal:
    if type == "billing.usage_recorded":
        return Decimal(p["quantity"])
    if type == "release.computed" and item.unit in ("row", "thousand_rows"):
        rows = Decimal(p["rows"])
        return rows if item.unit == "row" else rows * THOUSANDTH
    return THOUSANDTH if item.unit == "thousand_calls" else ONE


def _rows(
    session: Session, types: tuple[str, ...], lo: datetime | None, hi: datetime
) -> Iterator[Any]:
    # The payload as text, parsed by orjson, and Core rather than the ORM: a
    # month may hold millions of uses, and both are several times faster.
    payload = cast(Event.payload, Text)
    columns = (Event.seq, Event.type, Event.actor_participant_id, Event.object_id, payload)
    query = select(*columns).where(Event.type.in_(types), Event.occurred_at < hi)
    if lo is not None:
        query = query.where(Event.occurred_at >= lo)
    result = session.connection().execute(
        query.order_by(Event.seq).execution_options(yield_per=20_000)
    )
    for rows in result.partitions():
        for seq, type, participant, oid, text in rows:
            yield seq, type, participant, oid, orjson.loads(text)


def meter(session: Session, period: Period) -> tuple[list[Line], Replay]:
    """Every metered line of ``period``, in log order, and the state at its end.

    Reads only the log's events; callers authorize.
    """
    replay = Replay.empty()
    lines: list[Line] = []
    state = _rows(session, STATE, None, period.end)
    uses = _rows(session, USES, period.start, period.end)
    add = lines.append
    for seq, type, participant, oid, payload in merge(state, uses, key=lambda row: row[0]):
        if type in USES:
            line = replay.line(seq, type, payload)
            if line is not None:
                add(line)
        else:
            replay.apply(seq, type, participant, oid, payload)
    return lines, replay


def record_usage(*, session: Session, actor: Principal, data: UsageIn) -> Recorded[dict[str, Any]]:
    """Meter a use with no event of its own (a PSI run, API calls, connection time)."""
    item = load_item(session, data.item_id)
    authorize(
        actor=actor, action=Actions.BILLING_METER, resource=ParticipantResource(item.operator_id)
    )
    if item.kind in ON_A_RESOURCE:
        raise PolicyViolation(
            f"{item.kind} 的用量由查询和提取记录自动计量 / a {item.kind} is metered from its "
            "queries and extracts, not recorded by hand",
            details={"rule": "usage.metered_from_log", "item_id": item.id},
        )
    grant = session.get(Grant, data.grant_id)
    if grant is None:
        raise NotFound(
            f"授权不存在 / no grant {data.grant_id}", details={"kind": "grant", "id": data.grant_id}
        )
    if grant.status != "active":
        raise PolicyViolation(
            "授权未生效，不能计量使用 / the grant is not active: no use can be metered under it",
            details={"rule": "usage.grant_not_active", "grant_id": grant.id},
        )
    if item.resource_id is not None and grant.resource_id != item.resource_id:
        raise InvalidInput(
            "授权与收费项目不属于同一数据资源 / the grant is on another resource than the item",
            details={"field": "grant_id"},
        )
    quantity = money.parse_quantity(data.quantity)
    if quantity == 0:
        raise InvalidInput(
            "用量须大于零 / expected a quantity above zero, got zero", details={"field": "quantity"}
        )
    payload = {"item_id": item.id, "grant_id": grant.id, "quantity": money.text(quantity)}
    event = record_event(
        session,
        actor=actor,
        type=EventType.USAGE_RECORDED,
        object_type="grant",
        object_id=grant.id,
        payload=payload,
    )
    return Recorded({**payload, "unit": item.unit, "log_index": event.seq}, event.seq)
