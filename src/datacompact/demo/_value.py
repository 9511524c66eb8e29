"""The demo city's price list: an operator, its ceilings and prices, free and paid uses.

The JV platform company operates the list. The Big Data Bureau (the
regulator) sets the ceilings and the JV's maximum permitted revenue for the
year; the JV sets its prices below them. The credit check of a small-business
lender (a commercial purpose) pays for its API calls and PSI runs; the bus
network planning of the transit company (urban planning, public-interest)
uses the same PSI service free. The month's statement is issued once the
month has ended (``datacompact billing issue --period YYYY-MM``): a statement
covers only a month whose uses are all on the log.

Built through the same services as any participant; run again, it adds nothing.
"""

from __future__ import annotations

from sqlalchemy import select

from datacompact.clock import CST, utcnow
from datacompact.permissions import Role
from datacompact.platform import Platform
from datacompact.store.models import Application, Grant, Resource
from datacompact.store.value_models import PriceItem, RevenueCap
from datacompact.value import metering, prices, revenue
from datacompact.value.schemas import PriceChange, PriceItemCreate, RevenueCapIn, UsageIn

from ._catalog import principal
from ._city import Org
from ._grants import participant_by_uscc

__all__ = ["ensure_value"]

#: code, title, kind, form, unit, resource (English name), ceiling, price.
ITEMS = (
    (
        "entity-query",
        "市场主体登记信息受治理查询 / governed queries on the register of market entities",
        "query_service",
        "service_count",
        "service",
        "Register of market entities",
        "20.00",
        "15.00",
    ),
    (
        "entity-api",
        "市场主体核验接口 / market entity verification API",
        "api",
        "call_volume",
        "thousand_calls",
        "Register of market entities",
        "3.00",
        "2.40",
    ),
    (
        "psi-match",
        "隐私求交匹配服务 / private set intersection matching",
        "psi_service",
        "service_count",
        "service",
        None,
        "200.00",
        "150.00",
    ),
)
#: grantee slug, item code, quantity: the lender pays, the transit company is free.
USES = (
    ("it-yunqi", "entity-api", "12.5"),
    ("it-yunqi", "entity-api", "7.25"),
    ("it-yunqi", "psi-match", "1"),
    ("it-yunqi", "psi-match", "1"),
    ("transit", "psi-match", "1"),
)
PERMITTED_REVENUE = "500000.00"


def _grant_of(platform: Platform, grantee_id: int) -> int | None:
    with platform.db.read() as session:
        return session.scalar(
            select(Grant.id)
            .join(Application, Application.id == Grant.application_id)
            .where(Grant.grantee_id == grantee_id)
            .order_by(Grant.id)
            .limit(1)
        )


def ensure_value(platform: Platform, cast: list[Org]) -> int:
    """List the JV's items with ceilings and prices, meter the demo uses; the items listed."""
    by_slug = {o.slug: o for o in cast}
    jv = participant_by_uscc(platform, by_slug["jv"].uscc)
    bdb = participant_by_uscc(platform, by_slug["bdb"].uscc)
    operator = principal(platform, jv, Role.ADMIN)
    regulator = principal(platform, bdb, Role.REVIEWER)
    with platform.db.read() as session:
        if session.scalar(select(PriceItem.id).where(PriceItem.operator_id == jv.id)):
            return 0
    items: dict[str, int] = {}
    for code, title, kind, form, unit, resource_name, ceiling, price in ITEMS:
        with platform.db.read() as session:
            resource_id = (
                None
                if resource_name is None
                else session.scalar(select(Resource.id).where(Resource.name_en == resource_name))
            )
        if resource_name is not None and resource_id is None:
            continue  # the demo was built without datasets
        data = PriceItemCreate(
            code=code, title=title, kind=kind, form=form, unit=unit, resource_id=resource_id
        )
        with platform.db.write() as session:
            item_id = prices.list_item(session=session, actor=operator, data=data).value.id
        with platform.db.write() as session:
            prices.set_ceiling(
                session=session,
                actor=regulator,
                item_id=item_id,
                change=PriceChange(value=ceiling, reason="核定上限 / the ceiling set"),
            )
        with platform.db.write() as session:
            prices.set_price(
                session=session, actor=operator, item_id=item_id, change=PriceChange(value=price)
            )
        items[code] = item_id
    for slug, code, quantity in USES:
        grantee = participant_by_uscc(platform, by_slug[slug].uscc)
        grant_id = _grant_of(platform, grantee.id)
        if grant_id is None or code not in items:
            continue
        with platform.db.write() as session:
            metering.record_usage(
                session=session,
                actor=operator,
                data=UsageIn(item_id=items[code], grant_id=grant_id, quantity=quantity),
            )
    year = utcnow().astimezone(CST).year
    with platform.db.write() as session:
        if not session.scalar(
            select(RevenueCap.id).where(RevenueCap.operator_id == jv.id, RevenueCap.year == year)
        ):
            revenue.set_revenue_cap(
                session=session,
                actor=principal(platform, bdb, Role.ADMIN),
                operator_id=jv.id,
                data=RevenueCapIn(year=year, maximum=PERMITTED_REVENUE),
            )
    return len(items)
