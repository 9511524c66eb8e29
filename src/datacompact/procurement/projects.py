"""Cooperation projects (政企合作项目): owner, sponsor, technical department, budget, data, mode.

A government department creates a project and proposes its cooperation mode.
The project inherits the highest grade of the catalog resources it links,
and the mode rules (:mod:`datacompact.procurement._modes`) are checked whenever
either changes. The governance mode's ``cooperation_mode_approvers`` approve
the choice; the owner never approves its own. Joint meetings (联席会议) and
their decisions are recorded on the log.

The regulator supervises projects and never owns one: it would have to
approve its own cooperation mode.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact import clock
from datacompact.catalog.grading import Grade
from datacompact.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, PolicyViolation
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.governance import rules_for
from datacompact.permissions import Actions, PartyResource, Principal, authorize, decide
from datacompact.procurement import _common
from datacompact.procurement._modes import DEFAULT_RULES, ModeRules, ProjectFacts, check_mode
from datacompact.procurement.schemas import (
    MeetingCreate,
    MeetingPublic,
    ProjectCreate,
    ProjectPublic,
)
from datacompact.registry import lookup
from datacompact.store.models import Resource
from datacompact.store.project_models import Lot, Meeting, Project, ProjectResource

OWNER_KINDS = ("government_department",)
SPONSOR_KINDS = ("government_department",)
TECHNICAL_KINDS = ("government_department", "regulator")


def _department(session: Session, participant_id: int, kinds: tuple[str, ...], role: str) -> None:
    found = _common.participant(session, participant_id)
    if found.kind not in kinds or found.status != "approved":
        raise InvalidInput(
            f"{role} 须为已批准的政府部门 / expected the {role} to be an approved "
            f"{' or '.join(kinds)}",
            details={"field": f"{role}_id", "participant_id": participant_id},
        )


def facts(session: Session, project: Project, grade: str | None = None) -> ProjectFacts:
    ids = [link.resource_id for link in project.resources]
    sensitive = bool(ids) and bool(
        session.scalar(
            select(Resource.id).where(Resource.id.in_(ids), Resource.sensitive_personal).limit(1)
        )
    )
    lots = (
        session.scalars(select(Lot).where(Lot.project_id == project.id, Lot.status != "cancelled"))
        if project.id is not None
        else []
    )
    bare = sorted(lot.id for lot in lots if not lot.requirements)
    return ProjectFacts(
        grade=grade if grade is not None else project.grade,
        classified=project.classified,
        sensitive_personal=sensitive,
        lots_without_levels=tuple(bare),
    )


def _link(session: Session, project: Project, resource_ids: Iterable[int]) -> list[int]:
    """Link resources, refusing repeats; returns the ids and raises the project's grade."""
    ids = list(resource_ids)
    if len(set(ids)) != len(ids):
        raise InvalidInput(
            "资源重复 / expected each resource once", details={"field": "resource_ids"}
        )
    linked = {link.resource_id for link in project.resources}
    grades = [Grade(project.grade)] if project.grade else []
    for resource_id in ids:
        resource = session.get(Resource, resource_id)
        if resource is None:
            raise InvalidInput(
                "数据资源不存在 / resource not found", details={"resource_id": resource_id}
            )
        if resource_id in linked:
            raise Conflict(
                "资源已关联到项目 / the resource is already linked to the project",
                details={"resource_id": resource_id},
            )
        if resource.grade is None or resource.grade_status == "proposed":
            raise PolicyViolation(
                f"资源 {resource.code} 的分级尚未确认 / the grade of resource {resource.code} "
                "is not confirmed yet",
                details={"rule": "resource.grade_unconfirmed", "resource_id": resource_id},
            )
        grades.append(Grade(resource.grade))
        project.resources.append(ProjectResource(resource_id=resource_id))
    project.grade = max(grades, key=lambda g: g.rank).value if grades else None
    return ids


def create_project(
    *, session: Session, actor: Principal, data: ProjectCreate, rules: ModeRules = DEFAULT_RULES
) -> Recorded[ProjectPublic]:
    owner_id = data.owner_id if data.owner_id is not None else actor.participant_id
    authorize(actor=actor, action=Actions.PROJECT_CREATE, resource=PartyResource(owner_id))
    if owner_id is None:
        raise Forbidden(
            "须以参与方成员身份操作 / expected an actor acting for a participant, got one without"
        )
    owner = _common.participant(session, owner_id)
    if owner.kind not in OWNER_KINDS:
        reason = "只有政府部门拥有合作项目 / only a government department owns a project"
        raise Forbidden(
            f"无权执行 project.create / not allowed to project.create: {reason}",
            details={"action": Actions.PROJECT_CREATE.name, "reason": reason},
        )
    _department(session, data.sponsor_id, SPONSOR_KINDS, "sponsor")
    _department(session, data.technical_id, TECHNICAL_KINDS, "technical")
    budget = _common.money(data.budget, "budget")
    project = Project(
        name=data.name,
        description=data.description,
        domain=data.domain,
        owner_id=owner_id,
        sponsor_id=data.sponsor_id,
        technical_id=data.technical_id,
        budget=str(budget),
        classified=data.classified,
        grade=None,
        mode=data.mode.value,
        mode_status="proposed",
    )
    session.add(project)
    linked = _link(session, project, data.resource_ids)
    allowed = rules_for(actor.governance).allowed_cooperation_modes
    check_mode(project.mode, facts=facts(session, project), allowed=allowed, rules=rules)
    session.flush()
    events = [
        NewEvent(
            EventType.PROJECT_CREATED,
            "project",
            project.id,
            {
                "name": project.name,
                "domain": project.domain,
                "owner_id": owner_id,
                "sponsor_id": project.sponsor_id,
                "technical_id": project.technical_id,
                "budget": project.budget,
                "classified": project.classified,
                "mode": project.mode,
            },
        )
    ]
    if linked:
        events.append(_linked_event(project, linked))
    recorded = record_events(session, actor=actor, events=events)
    return Recorded(view(session, project, actor), recorded[0].seq)


def _linked_event(project: Project, ids: list[int]) -> NewEvent:
    return NewEvent(
        EventType.PROJECT_RESOURCES_LINKED,
        "project",
        project.id,
        {"resource_ids": ids, "grade": project.grade, "mode_status": project.mode_status},
    )


def link_resources(
    *,
    session: Session,
    actor: Principal,
    project_id: int,
    resource_ids: list[int],
    rules: ModeRules = DEFAULT_RULES,
) -> Recorded[ProjectPublic]:
    """Link resources; a higher grade sends an approved mode back for approval."""
    project = _common.project(session, project_id, lock=True)
    authorize(actor=actor, action=Actions.PROJECT_MANAGE, resource=_common.project_ref(project))
    before = Grade(project.grade).rank if project.grade else 0
    ids = _link(session, project, resource_ids)
    allowed = rules_for(actor.governance).allowed_cooperation_modes
    check_mode(project.mode, facts=facts(session, project), allowed=allowed, rules=rules)
    if project.mode_status == "approved" and project.grade and Grade(project.grade).rank > before:
        # The approver approved the mode for less sensitive data than the project now touches.
        project.mode_status = "proposed"
        project.mode_decided_by = None
    (event,) = record_events(session, actor=actor, events=[_linked_event(project, ids)])
    return Recorded(view(session, project, actor), event.seq)


def propose_mode(
    *,
    session: Session,
    actor: Principal,
    project_id: int,
    mode: str,
    reason: str,
    rules: ModeRules = DEFAULT_RULES,
) -> Recorded[ProjectPublic]:
    """The owner proposes another mode, for approval again; not once tendering has begun."""
    project = _common.project(session, project_id, lock=True)
    authorize(actor=actor, action=Actions.PROJECT_MANAGE, resource=_common.project_ref(project))
    busy = session.scalar(
        select(Lot.id).where(Lot.project_id == project.id, Lot.status.in_(("tendering", "awarded")))
    )
    if busy is not None:
        raise InvalidTransition(
            "已开始招标，不能更改合作模式 / tendering has begun: the mode can no longer change",
            details={"lot_id": busy},
        )
    allowed = rules_for(actor.governance).allowed_cooperation_modes
    check_mode(mode, facts=facts(session, project), allowed=allowed, rules=rules)
    project.mode, project.mode_status, project.mode_reason = mode, "proposed", reason
    project.mode_decided_by = None
    (event,) = record_events(
        session,
        actor=actor,
        events=[
            NewEvent(
                EventType.PROJECT_MODE_DECIDED,
                "project",
                project.id,
                {"decision": "propose", "mode": mode, "reason": reason, "status": "proposed"},
            )
        ],
    )
    return Recorded(view(session, project, actor), event.seq)


def decide_mode(
    *,
    session: Session,
    actor: Principal,
    project_id: int,
    decision: str,
    reason: str,
    rules: ModeRules = DEFAULT_RULES,
) -> Recorded[ProjectPublic]:
    """An approver the governance mode names approves or rejects the proposed mode."""
    project = _common.project(session, project_id, lock=True)
    approvers = _common.mode_approvers(session, project, actor.governance)
    authorize(
        actor=actor,
        action=Actions.PROJECT_DECIDE,
        resource=_common.project_ref(project, approvers),
    )
    if project.mode_status != "proposed":
        raise InvalidTransition(
            f"合作模式已{project.mode_status} / the mode is {project.mode_status}, not proposed",
            details={"status": project.mode_status},
        )
    if decision == "approve":
        # The data may have changed since the proposal: the rules hold at approval too.
        allowed = rules_for(actor.governance).allowed_cooperation_modes
        check_mode(project.mode, facts=facts(session, project), allowed=allowed, rules=rules)
    project.mode_status = "approved" if decision == "approve" else "rejected"
    project.mode_reason = reason
    project.mode_decided_by = actor.participant_id
    (event,) = record_events(
        session,
        actor=actor,
        events=[
            NewEvent(
                EventType.PROJECT_MODE_DECIDED,
                "project",
                project.id,
                {
                    "decision": decision,
                    "mode": project.mode,
                    "reason": reason,
                    "status": project.mode_status,
                    "grade": project.grade,
                },
            )
        ],
    )
    return Recorded(view(session, project, actor), event.seq)


def record_meeting(
    *,
    session: Session,
    actor: Principal,
    project_id: int,
    data: MeetingCreate,
    today: date | None = None,
) -> Recorded[MeetingPublic]:
    """A joint meeting of the project's departments and its decisions, on the log."""
    project = _common.project(session, project_id)
    authorize(actor=actor, action=Actions.PROJECT_MANAGE, resource=_common.project_ref(project))
    attendees = list(dict.fromkeys(data.attendees))
    if len(attendees) != len(data.attendees) or project.owner_id not in attendees:
        raise InvalidInput(
            "与会方须各列一次且包括项目业主 / expected distinct attendees including the owner",
            details={"field": "attendees"},
        )
    for attendee in attendees:
        _common.participant(session, attendee)
    if data.held_on > (today or clock.today_cst()):
        raise InvalidInput(
            "会议日期不能晚于今天 / expected a meeting held on or before today",
            details={"field": "held_on"},
        )
    decisions = [d.strip() for d in data.decisions]
    if any(not d or len(d) > 1000 for d in decisions):
        raise InvalidInput(
            "决议须为 1–1000 字 / expected each decision of 1 to 1000 characters",
            details={"field": "decisions"},
        )
    meeting = Meeting(
        project_id=project.id,
        held_on=data.held_on,
        attendees=attendees,
        decisions=decisions,
        minutes_sha256=data.minutes_sha256,
    )
    session.add(meeting)
    session.flush()
    payload = {
        "project_id": project.id,
        "held_on": data.held_on.isoformat(),
        "attendees": attendees,
        "decisions": decisions,
        "minutes_sha256": data.minutes_sha256,
    }
    (event,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.MEETING_RECORDED, "meeting", meeting.id, payload)],
    )
    return Recorded(_meeting_view(meeting), event.seq)


def get_project(*, session: Session, actor: Principal, project_id: int) -> ProjectPublic:
    project = _common.project(session, project_id)
    authorize(actor=actor, action=Actions.PROJECT_READ, resource=_common.project_ref(project))
    return view(session, project, actor)


def list_projects(
    *, session: Session, actor: Principal, owner_id: int | None = None
) -> list[ProjectPublic]:
    authorize(actor=actor, action=Actions.PROJECT_READ, resource=PartyResource())
    query = select(Project).order_by(Project.id)
    if owner_id is not None:
        query = query.where(Project.owner_id == owner_id)
    return [view(session, p, actor) for p in session.scalars(query)]


def awaiting_mode_decision(*, session: Session, actor: Principal) -> list[ProjectPublic]:
    """The projects whose proposed cooperation mode the acting member may decide, oldest first."""
    proposed = session.scalars(
        select(Project).where(Project.mode_status == "proposed").order_by(Project.id)
    )
    found = []
    for project in proposed:
        approvers = _common.mode_approvers(session, project, actor.governance)
        ref = _common.project_ref(project, approvers)
        if decide(actor=actor, action=Actions.PROJECT_DECIDE, resource=ref).allowed:
            found.append(view(session, project, actor))
    return found


def _meeting_view(meeting: Meeting) -> MeetingPublic:
    return MeetingPublic(
        id=meeting.id,
        project_id=meeting.project_id,
        held_on=meeting.held_on,
        attendees=list(meeting.attendees),
        decisions=list(meeting.decisions),
        minutes_sha256=meeting.minutes_sha256,
        created_at=meeting.created_at,
    )


def view(session: Session, project: Project, actor: Principal) -> ProjectPublic:
    lots = session.scalars(select(Lot.id).where(Lot.project_id == project.id).order_by(Lot.id))
    meetings = session.scalars(
        select(Meeting).where(Meeting.project_id == project.id).order_by(Meeting.id)
    )
    return ProjectPublic(
        id=project.id,
        name=project.name,
        description=project.description,
        domain=project.domain,
        owner_id=project.owner_id,
        sponsor_id=project.sponsor_id,
        technical_id=project.technical_id,
        owner_name=lookup.participant_name(session, project.owner_id),
        sponsor_name=lookup.participant_name(session, project.sponsor_id),
        technical_name=lookup.participant_name(session, project.technical_id),
        budget=project.budget,
        classified=project.classified,
        grade=project.grade,
        mode=project.mode,
        mode_status=project.mode_status,
        mode_reason=project.mode_reason,
        mode_decided_by=project.mode_decided_by,
        mode_approvers=_common.mode_approvers(session, project, actor.governance),
        resource_ids=[link.resource_id for link in project.resources],
        lot_ids=list(lots),
        meetings=[_meeting_view(m) for m in meetings],
        created_at=project.created_at,
    )
