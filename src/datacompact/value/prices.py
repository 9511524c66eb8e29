"""The product and service list (产品和服务清单): items, ceilings and prices, versioned.

An operator lists an item (:func:`list_item`): a governed query service or an
extract on one resource, a PSI service, a derived dataset or an API, with its
charging form and unit. It is free until the authorizing body sets a ceiling
price (:func:`set_ceiling`); the operator then sets its own price at or
below the ceiling (:func:`set_price`). Every change is a new version, logged
in the same transaction; a ceiling set below the current price lowers the
price to the ceiling in the same version, so that no version is ever above
its ceiling. The list and every version are public (:func:`price_list`,
:func:`get_item`).

A use is charged at the version in force when it happened: the meter replays
these events in log order (:mod:`datacompact.value.metering`).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.clock import utcnow
from datacompact.errors import Conflict, InvalidInput, NotFound, PolicyViolation
from datacompact.events import EventType, Recorded, record_event
from datacompact.permissions import (
    Actions,
    ParticipantResource,
    PartyResource,
    Principal,
    PublicListing,
    authorize,
)
from datacompact.registry.participants import approved_of_kind
from datacompact.store.models import Participant, Resource
from datacompact.store.value_models import PriceItem, PriceVersion
from datacompact.value import money
from datacompact.value.schemas import (
    UNITS,
    PriceChange,
    PriceItemCreate,
    PriceItemPublic,
    PriceVersionPublic,
)

__all__ = ["get_item", "items_of", "list_item", "price_list", "set_ceiling", "set_price"]

#: Kinds that sell one resource's data: the meter finds them by resource.
ON_A_RESOURCE = ("query_service", "extract")
#: Who sets ceilings and permitted revenue: the regulators (price and data authorities).
AUTHORITIES = ("regulator",)
ZERO = Decimal("0.0000")


def _missing(item_id: int) -> NotFound:
    return NotFound(
        f"收费项目不存在 / no price item {item_id}", details={"kind": "price_item", "id": item_id}
    )


def load_item(session: Session, item_id: int, *, lock: bool = False) -> PriceItem:
    item = session.get(PriceItem, item_id, with_for_update=lock)
    if item is None:
        raise _missing(item_id)
    return item


def authorities(session: Session) -> frozenset[int]:
    """The participants that regulate prices and revenue: the approved regulators."""
    return frozenset(approved_of_kind(session, AUTHORITIES))


def list_item(
    *, session: Session, actor: Principal, data: PriceItemCreate
) -> Recorded[PriceItemPublic]:
    """List a product or service of the actor's participant, free until a ceiling is set."""
    operator = actor.participant_id
    authorize(actor=actor, action=Actions.PRICE_MANAGE, resource=ParticipantResource(operator))
    assert operator is not None  # noqa: S101 - authorize() refused anonymous actors
    if data.unit not in UNITS[data.form]:
        raise InvalidInput(
            f"计量单位与收费方式不符 / unit {data.unit} does not fit the charging form "
            f"{data.form}: expected one of {', '.join(UNITS[data.form])}",
            details={"field": "unit", "allowed": list(UNITS[data.form])},
        )
    if data.kind in ON_A_RESOURCE:
        if data.resource_id is None or session.get(Resource, data.resource_id) is None:
            raise InvalidInput(
                f"{data.kind} 须指明已登记的数据资源 / expected the id of a registered "
                f"resource for a {data.kind}",
                details={"field": "resource_id"},
            )
        # The meter charges a query or an extract to the one item on its resource.
        taken = session.scalar(
            select(PriceItem.id).where(
                PriceItem.resource_id == data.resource_id, PriceItem.kind == data.kind
            )
        )
        if taken is not None:
            raise Conflict(
                f"该资源已有此类收费项目 / resource {data.resource_id} already has a "
                f"{data.kind} item ({taken})",
                details={"item_id": taken},
            )
    if session.scalar(
        select(PriceItem.id).where(PriceItem.operator_id == operator, PriceItem.code == data.code)
    ):
        raise Conflict(
            f"项目编码已存在 / the code {data.code} is already on your list",
            details={"field": "code"},
        )
    item = PriceItem(
        operator_id=operator,
        code=data.code,
        title=data.title,
        kind=data.kind,
        form=data.form,
        unit=data.unit,
        resource_id=data.resource_id,
        version=1,
        ceiling=None,
        price=money.text(ZERO),
    )
    session.add(item)
    session.flush()
    event = record_event(
        session,
        actor=actor,
        type=EventType.PRICE_ITEM_LISTED,
        object_type="price_item",
        object_id=item.id,
        payload={
            "item_id": item.id,
            "operator_id": operator,
            "code": item.code,
            "kind": item.kind,
            "form": item.form,
            "unit": item.unit,
            "resource_id": item.resource_id,
            "version": 1,
            "ceiling": None,
            "price": item.price,
        },
    )
    _add_version(session, actor, item, "listed", "", event.seq)
    item.log_index = event.seq
    return Recorded(_view(session, item), event.seq)


def set_ceiling(
    *, session: Session, actor: Principal, item_id: int, change: PriceChange
) -> Recorded[PriceItemPublic]:
    """The authorizing body's ceiling price (上限收费标准) for an item: a new version.

    A price above the new ceiling is lowered to it in the same version.
    """
    item = load_item(session, item_id, lock=True)
    authorize(
        actor=actor,
        action=Actions.PRICE_REGULATE,
        resource=PartyResource(participant_id=item.operator_id, reviewers=authorities(session)),
    )
    ceiling = money.parse_price(change.value, "ceiling")
    price = min(Decimal(item.price), ceiling)
    return _new_version(session, actor, item, EventType.PRICE_CEILING_SET, ceiling, price, change)


def set_price(
    *, session: Session, actor: Principal, item_id: int, change: PriceChange
) -> Recorded[PriceItemPublic]:
    """The operator's own price (具体收费标准), at or below the ceiling: a new version."""
    item = load_item(session, item_id, lock=True)
    authorize(
        actor=actor, action=Actions.PRICE_MANAGE, resource=ParticipantResource(item.operator_id)
    )
    price = money.parse_price(change.value, "price")
    ceiling = None if item.ceiling is None else Decimal(item.ceiling)
    if price > 0 and ceiling is None:
        raise PolicyViolation(
            "尚无上限收费标准，只能免费 / no ceiling price is set yet: the item is free until "
            "the authorizing body sets one",
            details={"rule": "price.no_ceiling", "item_id": item.id},
        )
    if ceiling is not None and price > ceiling:
        raise PolicyViolation(
            f"收费标准高于上限 / the price is above the item's ceiling of {money.text(ceiling)}",
            details={"rule": "price.above_ceiling", "item_id": item.id},
        )
    return _new_version(session, actor, item, EventType.PRICE_SET, ceiling, price, change)


def _new_version(
    session: Session,
    actor: Principal,
    item: PriceItem,
    type: EventType,
    ceiling: Decimal | None,
    price: Decimal,
    change: PriceChange,
) -> Recorded[PriceItemPublic]:
    item.version += 1
    item.ceiling = None if ceiling is None else money.text(ceiling)
    item.price = money.text(price)
    event = record_event(
        session,
        actor=actor,
        type=type,
        object_type="price_item",
        object_id=item.id,
        payload={
            "item_id": item.id,
            "version": item.version,
            "ceiling": item.ceiling,
            "price": item.price,
            "reason": change.reason,
        },
    )
    kind = "ceiling" if type is EventType.PRICE_CEILING_SET else "price"
    _add_version(session, actor, item, kind, change.reason, event.seq)
    return Recorded(_view(session, item), event.seq)


def _add_version(
    session: Session, actor: Principal, item: PriceItem, change: str, reason: str, seq: int
) -> None:
    session.add(
        PriceVersion(
            item_id=item.id,
            version=item.version,
            ceiling=item.ceiling,
            price=item.price,
            change=change,
            reason=reason,
            set_by=actor.member_id,
            effective_at=utcnow(),
            log_index=seq,
        )
    )
    session.flush()


def price_list(
    *, session: Session, actor: Principal, operator_id: int | None = None
) -> list[PriceItemPublic]:
    """The published list (收费公示): every item with its current ceiling and price."""
    authorize(actor=actor, action=Actions.PRICE_READ, resource=PublicListing())
    query = select(PriceItem).order_by(PriceItem.operator_id, PriceItem.id)
    if operator_id is not None:
        query = query.where(PriceItem.operator_id == operator_id)
    return [_view(session, item) for item in session.scalars(query)]


def get_item(*, session: Session, actor: Principal, item_id: int) -> PriceItemPublic:
    """One item with every version it has had, oldest first."""
    authorize(actor=actor, action=Actions.PRICE_READ, resource=PublicListing())
    return _with_versions(session, load_item(session, item_id))


def items_of(session: Session, operator_id: int) -> list[PriceItemPublic]:
    """An operator's items with their versions (the list is public: no actor needed)."""
    query = select(PriceItem).where(PriceItem.operator_id == operator_id).order_by(PriceItem.id)
    return [_with_versions(session, item) for item in session.scalars(query)]


def _with_versions(session: Session, item: PriceItem) -> PriceItemPublic:
    versions = session.scalars(
        select(PriceVersion).where(PriceVersion.item_id == item.id).order_by(PriceVersion.version)
    )
    view = _view(session, item)
    view.versions = [
        PriceVersionPublic(
            version=v.version,
            ceiling=v.ceiling,
            price=v.price,
            change=v.change,
            reason=v.reason,
            effective_at=v.effective_at,
            log_index=v.log_index,
        )
        for v in versions
    ]
    return view


def _view(session: Session, item: PriceItem) -> PriceItemPublic:
    operator = session.get(Participant, item.operator_id)
    return PriceItemPublic(
        id=item.id,
        operator_id=item.operator_id,
        operator_name=operator.name if operator is not None else "",
        code=item.code,
        title=item.title,
        kind=item.kind,
        form=item.form,
        unit=item.unit,
        resource_id=item.resource_id,
        version=item.version,
        ceiling=item.ceiling,
        price=item.price,
    )
