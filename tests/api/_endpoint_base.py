"""What every endpoint row is made of, and the objects several row modules build on.

Kept apart from ``_endpoints`` so that the row modules of other domains
(``_endpoints_projects``, ``_endpoints_delivery``) can import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datacompact.catalog.resources import decide_grade, register_resource
from datacompact.catalog.schemas import GradeCode, GradeDecisionIn, ResourceBase
from datacompact.events import EventType
from datacompact.store.models import Resource

from ..conftest import World


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    files: Any = None  # a multipart body, as httpx takes it


@dataclass(frozen=True)
class Endpoint:
    method: str
    route: str
    build: Callable[[World, str, str, str], Call]  # (world, actor participant, role, target)
    event: EventType | None = None  # the event a successful call records


RESOURCE = {
    "name": "部门人员名册",
    "tags": ["名册"],
    "share_type": "conditional",
    "open_type": "not_open",
    "update_frequency": "monthly",
}
_ROSTER = "部门,人数\n综合处,12\n财务处,8\n信息处,15\n"


def _resource_of(world: World, participant: str) -> int:
    """A resource held by ``participant``, registered through the service on first use."""
    key = f"{participant}.resource"
    if key not in world.ids:
        file = world.platform.settings.home / f"{participant}-roster.csv"
        file.write_text(_ROSTER, encoding="utf-8")
        recorded = register_resource(
            db=world.platform.db,
            home=world.platform.settings.home,
            actor=world.principal(f"{participant}.admin"),
            data=ResourceBase.model_validate(RESOURCE),
            file=file,
        )
        with world.platform.db.write() as session:
            decide_grade(
                session=session,
                actor=world.principal(f"{participant}.admin"),
                resource_id=recorded.value.id,
                decision=GradeDecisionIn(decision="confirm"),
            )
        world.ids[key] = recorded.value.id
    return world.ids[key]


OPEN_RESOURCE = {
    "name": "部门编制统计 / Staffing by unit",
    "themes": ["GOVE"],
    "tags": ["编制"],
    "share_type": "unconditional",
    "open_type": "open",
    "update_frequency": "yearly",
}


def _open_resource_of(world: World, participant: str) -> int:
    """An open resource of ``participant``, graded general-1 by its steward: open data."""
    key = f"{participant}.open_resource"
    if key not in world.ids:
        file = world.platform.settings.home / f"{participant}-staffing.csv"
        file.write_text(_ROSTER, encoding="utf-8")
        recorded = register_resource(
            db=world.platform.db,
            home=world.platform.settings.home,
            actor=world.principal(f"{participant}.admin"),
            data=ResourceBase.model_validate(OPEN_RESOURCE),
            file=file,
        )
        with world.platform.db.write() as session:
            decide_grade(
                session=session,
                actor=world.principal(f"{participant}.admin"),
                resource_id=recorded.value.id,
                decision=GradeDecisionIn(
                    decision="override", grade=GradeCode.GENERAL_1, reason="公开的编制统计"
                ),
            )
        world.ids[key] = recorded.value.id
    return world.ids[key]


def code_of(world: World, resource_id: int) -> str:
    with world.platform.db.read() as session:
        resource = session.get(Resource, resource_id)
        assert resource is not None
        return resource.code
