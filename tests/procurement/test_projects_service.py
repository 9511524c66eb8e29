"""Projects, modes, meetings, lots, exceptions and task matching, on both backends."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from datacompact.catalog.resources import decide_grade, register_resource
from datacompact.catalog.schemas import GradeDecisionIn, ResourceBase
from datacompact.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, PolicyViolation
from datacompact.events import EventType
from datacompact.procurement import lots, projects
from datacompact.procurement.schemas import LotCreate, MeetingCreate, ProjectCreate
from datacompact.store.models import Event
from datacompact.store.project_models import Lot, Meeting, Project

from ..conftest import World
from ._helpers import (
    approve_mode,
    lot_body,
    new_lot,
    new_tender,
    project_body,
    qualify,
)

_files = count()


def graded(world: World, grade: str | None = None) -> int:
    """A department resource with a confirmed grade, or one overridden to ``grade``."""
    file = world.platform.settings.home / f"roster-{next(_files)}.csv"
    file.write_text("部门,人数\n综合处,12\n财务处,8\n", encoding="utf-8")
    steward = world.principal("department.data_steward")
    resource_id = register_resource(
        db=world.platform.db,
        home=world.platform.settings.home,
        actor=steward,
        data=ResourceBase.model_validate({"name": "部门人员名册"}),
        file=file,
    ).value.id
    decision = (
        GradeDecisionIn.model_validate(
            {"decision": "override", "grade": grade, "reason": "测试分级"}
        )
        if grade
        else GradeDecisionIn(decision="confirm")
    )
    with world.platform.db.write() as session:
        decide_grade(session=session, actor=steward, resource_id=resource_id, decision=decision)
    return resource_id


def counts(world: World) -> tuple[int, int, int, int]:
    with world.platform.db.read() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(m)) or 0
            for m in (Project, Lot, Meeting, Event)
        )


def create(world: World, key: str = "department.admin", **extra: Any) -> int:
    with world.platform.db.write() as session:
        return projects.create_project(
            session=session,
            actor=world.principal(key),
            data=ProjectCreate.model_validate(project_body(world, **extra)),
        ).value.id


def test_a_department_creates_a_project_the_regulator_approves_its_mode(world: World) -> None:
    project_id = create(world)
    with world.platform.db.read() as session:
        found = projects.get_project(
            session=session, actor=world.principal("enterprise.analyst"), project_id=project_id
        )
        types = list(session.scalars(select(Event.type).where(Event.object_type == "project")))
    assert found.owner_id == world.ids["department"]
    assert found.budget == "3000000.00"
    assert (found.mode, found.mode_status) == ("government_purchase", "proposed")
    assert found.mode_approvers == [world.ids["regulator"]]
    assert types == [EventType.PROJECT_CREATED.value]
    for key in ("department.admin", "enterprise.admin", "regulator.analyst"):
        with pytest.raises(Forbidden), world.platform.db.write() as session:
            projects.decide_mode(
                session=session,
                actor=world.principal(key),
                project_id=project_id,
                decision="approve",
                reason="自行批准",
            )
    approve_mode(world, project_id)
    with pytest.raises(InvalidTransition):
        approve_mode(world, project_id)


@pytest.mark.parametrize("key", ["regulator.admin", "enterprise.admin", "department.analyst"])
def test_only_a_departments_admin_creates_projects(world: World, key: str) -> None:
    before = counts(world)
    with pytest.raises(Forbidden) as caught:
        create(world, key)
    assert caught.value.details["reason"]
    assert counts(world) == before


@pytest.mark.parametrize("budget", ["0", "-5", "1.234", "abc", "1e6", "1,000", "0.00"])
def test_budget_must_be_a_positive_decimal(world: World, budget: str) -> None:
    before = counts(world)
    with pytest.raises(InvalidInput) as caught:
        create(world, budget=budget)
    assert caught.value.details["field"] == "budget"
    assert counts(world) == before


def test_sponsor_must_be_an_approved_department(world: World) -> None:
    with pytest.raises(InvalidInput):
        create(world, sponsor_id=world.ids["enterprise"])


def test_the_project_inherits_the_highest_grade_and_refuses_repeats(world: World) -> None:
    low, high = graded(world, "general-2"), graded(world, "general-4")
    project_id = create(world, resource_ids=[low])
    with world.platform.db.write() as session:
        linked = projects.link_resources(
            session=session,
            actor=world.principal("department.admin"),
            project_id=project_id,
            resource_ids=[high],
        ).value
    assert linked.grade == "general-4"
    assert linked.resource_ids == [low, high]
    before = counts(world)
    with pytest.raises(Conflict), world.platform.db.write() as session:
        projects.link_resources(
            session=session,
            actor=world.principal("department.admin"),
            project_id=project_id,
            resource_ids=[low],
        )
    with pytest.raises(InvalidInput):
        create(world, resource_ids=[low, low])
    assert counts(world) == before


def test_core_data_needs_the_jv_platform_mode(world: World) -> None:
    core = graded(world, "core")
    before = counts(world)
    with pytest.raises(PolicyViolation) as caught:
        create(world, resource_ids=[core])
    assert caught.value.details["rule"] == "mode.jv_required"
    assert counts(world) == before
    project_id = create(world, resource_ids=[core], mode="jv_platform")
    approve_mode(world, project_id)


def test_linking_important_data_refuses_a_mode_that_no_longer_fits(world: World) -> None:
    project_id = create(world)
    approve_mode(world, project_id)
    important = graded(world, "important")
    with pytest.raises(PolicyViolation), world.platform.db.write() as session:
        projects.link_resources(
            session=session,
            actor=world.principal("department.admin"),
            project_id=project_id,
            resource_ids=[important],
        )
    with world.platform.db.write() as session:
        proposed = projects.propose_mode(
            session=session,
            actor=world.principal("department.admin"),
            project_id=project_id,
            mode="jv_platform",
            reason="涉及重要数据",
        ).value
        assert proposed.mode_status == "proposed"
        linked = projects.link_resources(
            session=session,
            actor=world.principal("department.admin"),
            project_id=project_id,
            resource_ids=[important],
        ).value
    assert linked.grade == "important"


def test_classified_work_needs_jv_and_ppp_is_for_non_sensitive_projects(world: World) -> None:
    with pytest.raises(PolicyViolation) as caught:
        create(world, classified=True, mode="ppp")
    assert set(caught.value.details["rules"]) == {"mode.jv_required", "mode.ppp_sensitive"}
    with pytest.raises(PolicyViolation) as caught:
        create(world, resource_ids=[graded(world, "general-3")], mode="ppp")
    assert caught.value.details["rule"] == "mode.ppp_sensitive"
    create(world, resource_ids=[graded(world, "general-2")], mode="ppp")


def test_franchise_needs_stated_qualification_levels(world: World) -> None:
    project_id = create(world)
    bare = new_lot(world, project_id)
    with pytest.raises(PolicyViolation) as caught, world.platform.db.write() as session:
        projects.propose_mode(
            session=session,
            actor=world.principal("department.admin"),
            project_id=project_id,
            mode="franchise",
            reason="特许经营",
        )
    assert caught.value.details["lot_ids"] == [bare]
    franchise = create(world, mode="franchise")
    with pytest.raises(PolicyViolation):
        new_lot(world, franchise)
    new_lot(world, franchise, requirements=[{"name": "ITSS", "min_level": "二级"}])


def test_the_mode_cannot_change_once_tendering_began(world: World) -> None:
    project_id = create(world)
    approve_mode(world, project_id)
    new_tender(world, new_lot(world, project_id))
    with pytest.raises(InvalidTransition), world.platform.db.write() as session:
        projects.propose_mode(
            session=session,
            actor=world.principal("department.admin"),
            project_id=project_id,
            mode="jv_platform",
            reason="改为合资平台",
        )


def _meeting(world: World, project_id: int, **extra: Any) -> Any:
    body = {
        "held_on": date.today().isoformat(),
        "attendees": [world.ids["department"], world.ids["regulator"]],
        "decisions": ["同意分为开发与运维两个标段 / split into development and O&M lots"],
        **extra,
    }
    with world.platform.db.write() as session:
        return projects.record_meeting(
            session=session,
            actor=world.principal("department.admin"),
            project_id=project_id,
            data=MeetingCreate.model_validate(body),
        )


def test_a_joint_meeting_and_its_decisions_are_logged(world: World) -> None:
    project_id = create(world)
    recorded = _meeting(world, project_id)
    with world.platform.db.read() as session:
        event = session.get(Event, recorded.log_index)
        shown = projects.get_project(
            session=session, actor=world.principal("regulator.auditor"), project_id=project_id
        )
    assert event is not None
    assert event.type == EventType.MEETING_RECORDED.value
    assert event.payload["decisions"] == recorded.value.decisions
    assert [m.id for m in shown.meetings] == [recorded.value.id]
    before = counts(world)
    with pytest.raises(InvalidInput):
        _meeting(world, project_id, attendees=[world.ids["regulator"], world.ids["enterprise"]])
    with pytest.raises(InvalidInput):
        _meeting(world, project_id, held_on=(date.today() + timedelta(days=2)).isoformat())
    assert counts(world) == before


def test_lots_stay_within_the_project_budget_and_state_their_terms(world: World) -> None:
    project_id = create(world, budget="1000000")
    first = new_lot(world, project_id, budget="600000")
    before = counts(world)
    with pytest.raises(InvalidInput) as caught:
        new_lot(world, project_id, budget="400000.01")
    assert caught.value.details["reason"] == "exceeds_project_budget"
    with pytest.raises(InvalidInput):
        new_lot(
            world,
            project_id,
            requirements=[
                {"name": "ITSS", "min_level": "二级"},
                {"name": "itss", "min_level": "一级"},
            ],
        )
    with pytest.raises(InvalidInput):
        new_lot(world, project_id, successor_of=first, system="另一个系统")
    with pytest.raises(ValidationError):
        LotCreate.model_validate({k: v for k, v in lot_body().items() if k != "code_escrow"})
    assert counts(world) == before
    second = new_lot(world, project_id, budget="400000", successor_of=first)
    with world.platform.db.read() as session:
        shown = lots.get_lot(
            session=session, actor=world.principal("enterprise.analyst"), lot_id=second
        )
    assert shown.successor_of == first
    assert shown.code_escrow
    assert not shown.open_source


def test_only_the_regulator_grants_rule_exceptions(world: World) -> None:
    project_id = create(world)
    lot_id = new_lot(world, project_id)
    for key in ("department.admin", "enterprise.admin", "regulator.analyst"):
        with pytest.raises(Forbidden), world.platform.db.write() as session:
            lots.grant_exception(
                session=session,
                actor=world.principal(key),
                lot_id=lot_id,
                supplier_id=world.ids["enterprise"],
                rule="separation.dev_ops",
                reason="唯一具备能力的供应商",
            )
    with world.platform.db.write() as session:
        granted = lots.grant_exception(
            session=session,
            actor=world.principal("regulator.reviewer"),
            lot_id=lot_id,
            supplier_id=world.ids["enterprise"],
            rule="separation.dev_ops",
            reason="唯一具备能力的供应商",
        )
        event = session.get(Event, granted.log_index)
    assert event is not None
    assert event.type == EventType.RULE_EXCEPTION_GRANTED.value
    assert granted.value.granted_by == world.ids["regulator"]
    with pytest.raises(InvalidTransition), world.platform.db.write() as session:
        lots.grant_exception(
            session=session,
            actor=world.principal("regulator.admin"),
            lot_id=lot_id,
            supplier_id=world.ids["enterprise"],
            rule="separation.dev_ops",
            reason="重复批准",
        )


def test_task_matching_ranks_qualified_enterprises_with_reasons(world: World) -> None:
    project_id = create(world)
    lot_id = new_lot(world, project_id, requirements=[{"name": "ITSS 运维", "min_level": "二级"}])
    qualify(world, "enterprise", "ITSS 运维", "一级")
    qualify(world, "enterprise2", "ITSS 运维", "三级")
    with world.platform.db.read() as session:
        ranking = lots.match_lot(
            session=session, actor=world.principal("department.analyst"), lot_id=lot_id
        )
        assert lots.past_kpi(session, world.ids["enterprise"]) is None
    assert [m.participant_id for m in ranking.matches] == [world.ids["enterprise"]]
    assert any("ITSS" in r for r in ranking.matches[0].reasons)
    excluded = {e.participant_id: e.kind for e in ranking.excluded}
    assert excluded[world.ids["enterprise2"]] == "qualification"
    assert ranking.empty_reason is None


def test_projects_name_their_parties(world: World) -> None:
    project_id = create(world)
    with world.platform.db.read() as session:
        shown = projects.get_project(
            session=session, actor=world.principal("enterprise.analyst"), project_id=project_id
        )
    assert shown.owner_name == "测试department.admin"
    assert shown.sponsor_name is not None
    assert shown.technical_name is not None


def test_an_empty_match_list_says_why(world: World) -> None:
    project_id = create(world)
    lot_id = new_lot(world, project_id, requirements=[{"name": "ITSS 运维", "min_level": "二级"}])
    with world.platform.db.read() as session:
        ranking = lots.match_lot(
            session=session, actor=world.principal("department.analyst"), lot_id=lot_id
        )
    assert ranking.matches == []
    assert ranking.empty_reason is not None
    assert "lacked the mandatory qualification ITSS 运维" in ranking.empty_reason
