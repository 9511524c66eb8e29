"""A small priced world: a resource, a commercial and a free grant, two items with prices.

The department holds a resource and operates its price list; enterprise
applies for credit assessment (commercial, charged) and enterprise2 for a
public service (public-interest, free). The regulator sets the ceilings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from datacompact.catalog import resources
from datacompact.catalog.schemas import GradeDecisionIn, ResourceBase
from datacompact.policy import applications
from datacompact.policy.schemas import ApplicationCreate
from datacompact.value import metering, prices
from datacompact.value.schemas import PriceChange, PriceItemCreate, UsageIn

from ..conftest import World

ROWS = "姓名,金额\n" + "".join(f"{n},{100 + k}\n" for k, n in enumerate(["张伟", "王芳"] * 20))
#: After the current month has ended: statements of it may be issued.
LATER = datetime(2099, 1, 1, tzinfo=UTC)


@dataclass
class Priced:
    resource_id: int
    paid_grant: int
    free_grant: int
    api_item: int
    query_item: int

    @property
    def period(self) -> str:
        return metering_period()


def metering_period() -> str:
    from datacompact.clock import CST, utcnow

    return utcnow().astimezone(CST).strftime("%Y-%m")


def register(world: World, tmp_path: Path) -> int:
    tmp_path.mkdir(parents=True, exist_ok=True)
    file = tmp_path / "people.csv"
    file.write_text(ROWS, encoding="utf-8")
    steward = world.principal("department.data_steward")
    resource_id = resources.register_resource(
        db=world.platform.db,
        home=world.platform.settings.home,
        actor=steward,
        data=ResourceBase.model_validate({"name": "企业纳税名册"}),
        file=file,
    ).value.id
    with world.platform.db.write() as session:
        resources.decide_grade(
            session=session,
            actor=steward,
            resource_id=resource_id,
            decision=GradeDecisionIn(decision="confirm"),
        )
    return resource_id


def grant(world: World, resource_id: int, who: str, purpose: str) -> int:
    data = ApplicationCreate.model_validate(
        {
            "scenario": "场景 / a scenario",
            "purpose": purpose,
            "resources": [{"resource_id": resource_id, "columns": ["姓名", "金额"]}],
            "output": {"mode": "aggregates"},
            "duration_days": 30,
            "expected_queries": 100,
        }
    )
    with world.platform.db.write() as session:
        application_id = applications.submit_application(
            session=session, actor=world.principal(f"{who}.analyst"), data=data
        ).value.id
    for reviewer in ("department.reviewer", "regulator.reviewer"):
        with world.platform.db.write() as session:
            applications.review_application(
                session=session,
                actor=world.principal(reviewer),
                application_id=application_id,
                decision="approve",
                reason="ok",
            )
    with world.platform.db.read() as session:
        (grant_id,) = applications.get_application(
            session=session, actor=world.principal(f"{who}.analyst"), application_id=application_id
        ).grants
    return grant_id


def list_item(world: World, code: str, **fields: object) -> int:
    with world.platform.db.write() as session:
        return prices.list_item(
            session=session,
            actor=world.principal("department.admin"),
            data=PriceItemCreate.model_validate({"code": code, "title": code, **fields}),
        ).value.id


def ceiling(world: World, item_id: int, value: object) -> None:
    with world.platform.db.write() as session:
        prices.set_ceiling(
            session=session,
            actor=world.principal("regulator.reviewer"),
            item_id=item_id,
            change=PriceChange(value=value, reason="核定 / set"),
        )


def price(world: World, item_id: int, value: object) -> None:
    with world.platform.db.write() as session:
        prices.set_price(
            session=session,
            actor=world.principal("department.admin"),
            item_id=item_id,
            change=PriceChange(value=value),
        )


def use(world: World, item_id: int, grant_id: int, quantity: str) -> None:
    with world.platform.db.write() as session:
        metering.record_usage(
            session=session,
            actor=world.principal("department.admin"),
            data=UsageIn(item_id=item_id, grant_id=grant_id, quantity=quantity),
        )


def priced_world(world: World, tmp_path: Path) -> Priced:
    resource_id = register(world, tmp_path)
    paid = grant(world, resource_id, "enterprise", "credit_assessment")
    free = grant(world, resource_id, "enterprise2", "public_service")
    api = list_item(
        world,
        "tax-api",
        kind="api",
        form="call_volume",
        unit="thousand_calls",
        resource_id=resource_id,
    )
    query = list_item(
        world,
        "tax-query",
        kind="query_service",
        form="service_count",
        unit="service",
        resource_id=resource_id,
    )
    ceiling(world, api, "3.00")
    price(world, api, "2.50")
    ceiling(world, query, "10.00")
    price(world, query, "8.00")
    return Priced(resource_id, paid, free, api, query)
