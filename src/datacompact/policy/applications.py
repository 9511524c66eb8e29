"""Applications and grants: one scenario, one application; approval as the governance mode says.

An application names a purpose from the controlled vocabulary, the resources
and columns wanted, the output mode, a duration and the expected number of
queries. It is routed to every holder of a requested resource and, by the
governance mode's ``grant_approvers``, to the regulator and the operator. Any
one approved participant of a reviewing party decides for it, in the order
the mode lists the parties (holder first): a decision out of turn is refused
with :class:`~datacompact.errors.OutOfTurn`, a second one by the same party
with :class:`~datacompact.errors.AlreadyDecided`. A rejection ends the
review; a request for changes sends it back to the applicant, who may amend
it (a new revision, the earlier one kept) or withdraw it. Once every party
approved, one grant per resource is issued as an ODRL agreement
(``policy.agreement``), never looser than the resource's grade allows
(``policy.modes``). ``docs/applications.md`` draws the life cycle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from datacompact.catalog.resources import readable
from datacompact.clock import utcnow
from datacompact.errors import (
    AlreadyDecided,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PolicyViolation,
)
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.governance import rules_for
from datacompact.permissions import Actions, PartyResource, Principal, authorize, decide
from datacompact.policy._application_view import (
    content,
    current_turn,
    grant_ids,
    out_of_turn,
    resource_ref,
    revision_view,
    stage_order,
    view,
)
from datacompact.policy._issuance import counts_as_open_data, grant_events, issue_grants
from datacompact.policy.modes import OutputMode, OutputSpec, effective_constraints
from datacompact.policy.purposes import Purpose, parse_purpose
from datacompact.policy.schemas import (
    ApplicationAmend,
    ApplicationCreate,
    ApplicationPublic,
    ApplicationRevisionPublic,
    ResourceRequest,
)
from datacompact.registry.participants import approved_of_kind
from datacompact.store.models import (
    Application,
    ApplicationRevision,
    Resource,
)

#: Where an application may go from each state, and who moves it.
#: ``pending`` → approved | rejected | changes_requested (reviewers, in turn) | withdrawn
#: ``changes_requested`` → pending (the applicant amends) | withdrawn
#: ``approved``, ``rejected`` and ``withdrawn`` are final.
STATES = ("pending", "changes_requested", "approved", "rejected", "withdrawn")

_OPERATOR_KINDS = ("jv_platform",)


def _output(data: ApplicationCreate) -> OutputSpec:
    return OutputSpec(data.output.mode, data.output.min_group_size, data.output.k)  # type: ignore[arg-type]


def _check_requestable(resource: Resource) -> None:
    """Refuse a resource nobody may apply for: not shared, or its grade not confirmed."""
    if resource.share_type == "not_shared":
        raise PolicyViolation(
            f"资源 {resource.code} 不予共享 / resource {resource.code} is not shared",
            details={"rule": "resource.not_shared", "resource_id": resource.id},
        )
    if resource.grade is None or resource.grade_status == "proposed":
        # GB/T 43697-2024: data is graded before anyone may be granted its use.
        raise PolicyViolation(
            f"资源 {resource.code} 的分级尚未经数据专员确认 / the grade of resource "
            f"{resource.code} is not confirmed by a data steward yet",
            details={"rule": "resource.grade_unconfirmed", "resource_id": resource.id},
        )


Requested = list[tuple[Resource, list[str], OutputSpec | None]]


def _request_output(request: ResourceRequest) -> OutputSpec | None:
    o = request.output
    return None if o is None else OutputSpec(o.mode, o.min_group_size, o.k)  # type: ignore[arg-type]


def _requested(session: Session, actor: Principal, data: ApplicationCreate) -> Requested:
    seen: set[int] = set()
    out: Requested = []
    for request in data.resources:
        if request.resource_id in seen:
            raise InvalidInput(
                "资源重复 / expected each resource once",
                details={"resource_id": request.resource_id},
            )
        seen.add(request.resource_id)
        resource = session.get(Resource, request.resource_id)
        if resource is not None and resource.private and resource.holder_id != actor.participant_id:
            # Another participant's private data does not exist for anyone else:
            # the same answer as an unknown id, so its existence does not leak.
            resource = None
        if resource is None or not resource.versions:
            raise NotFound(
                "数据资源不存在 / resource not found", details={"resource_id": request.resource_id}
            )
        known = {c["name"] for c in resource.versions[-1].columns}
        unknown = sorted(set(request.columns) - known)
        if unknown:
            raise InvalidInput(
                f"列不存在 / no such column in resource {resource.code}: {', '.join(unknown)}",
                details={"resource_id": resource.id, "columns": unknown},
            )
        if set(request.psi_keys) - set(request.columns):
            raise InvalidInput(
                "PSI 键须为申请的列 / expected psi_keys among the requested columns",
                details={"resource_id": resource.id, "field": "psi_keys"},
            )
        _check_requestable(resource)
        out.append((resource, list(dict.fromkeys(request.columns)), _request_output(request)))
    if data.joint:
        _check_joint(actor, out, _output(data))
    elif any(r.private for r, _c, _o in out):
        raise InvalidInput(
            "自有私有数据只能在联合申请中与他方数据一起使用 / a resource private to you is used "
            "only in a joint application, joined with another holder's data",
            details={"field": "joint"},
        )
    return out


def _check_joint(actor: Principal, requested: Requested, output: OutputSpec) -> None:
    """A joint scenario joins at least two resources and at least one not the applicant's own.

    A k-anonymous release is read through its own extract, never joined in
    SQL, so no part of a joint scenario may ask for one.
    """
    if any((own or output).mode.value == "k_anonymous" for _r, _c, own in requested):
        raise InvalidInput(
            "联合申请不能使用 k-匿名输出 / a joint application cannot ask for k_anonymous "
            "output: a k-anonymous release is not joined in SQL",
            details={"field": "output"},
        )
    if len(requested) < 2:
        raise InvalidInput(
            "联合申请至少需要两个资源 / a joint application names at least two resources",
            details={"field": "resources"},
        )
    if all(r.holder_id == actor.participant_id for r, _c, _o in requested):
        raise InvalidInput(
            "联合申请须包含其他持有方的资源 / a joint application names at least one resource "
            "held by another participant",
            details={"field": "resources"},
        )
    if any(r.holder_id == actor.participant_id for r, _c, _o in requested):
        # Refused until a join bounds each entity's rows on every side: the applicant
        # decides how many rows each person has in its own table (so SUM and AVG over
        # the join can single out one person past the entity threshold), and its own
        # copy of the identity column would map the grant's pseudonyms back to people.
        raise PolicyViolation(
            "暂不支持将本方数据与他方数据联合 / joining your own data with another "
            "holder's is not available yet: your own rows would decide how much one "
            "person weighs in the result",
            details={"rule": "joint.own_data", "field": "resources"},
        )


def _reviewers(session: Session, actor: Principal, holders: list[int]) -> list[dict[str, Any]]:
    """The reviewing parties, none of which may be the applicant itself.

    A holder applying for its own data needs no approval from itself, and a
    party whose only members are the applicant drops out: nobody decides on
    their own application.
    """
    candidates: list[tuple[str, list[int]]] = [("holder", [h]) for h in sorted(set(holders))]
    for party in rules_for(actor.governance).grant_approvers:
        if party == "regulator":
            candidates.append(("regulator", approved_of_kind(session, ("regulator",))))
        elif party == "operator":
            kinds = tuple(
                k for k in _OPERATOR_KINDS if k in rules_for(actor.governance).operator_kinds
            )
            candidates.append(("operator", approved_of_kind(session, kinds)))
    slots = []
    for party, members in candidates:
        others = [p for p in members if p != actor.participant_id]
        if others:
            slots.append({"party": party, "participants": others, "decision": None})
    return slots


def _checked(
    session: Session, actor: Principal, data: ApplicationCreate
) -> tuple[Purpose, Requested]:
    """The purpose and the requested resources, each output checked against its grade at once."""
    purpose = parse_purpose(data.purpose)
    if purpose is Purpose.OPEN_DATA_USE:
        raise InvalidInput(
            "开放数据利用由规则自动授权，无需申请 / open_data_use is granted automatically by "
            "rule for open data (POST /api/v1/resources/{id}/open-grant), not applied for",
            details={"field": "purpose"},
        )
    output = _output(data)
    requested = _requested(session, actor, data)
    for resource, _columns, own in requested:
        # Fail now, not after every review: the grade decides what may leave.
        effective_constraints(
            grade=resource.grade or "core",
            requested=own or output,
            open_data=counts_as_open_data(resource),
            regulator_approved=True,
        )
    return purpose, requested


def _summary(data: ApplicationCreate, requested: Requested) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "purpose": data.purpose,
        "resources": [r.id for r, _c, _o in requested],
        "mode": data.output.mode,
        "duration_days": data.duration_days,
        "expected_queries": data.expected_queries,
    }
    if data.joint:
        summary["joint"] = True
    return summary


def _requests(data: ApplicationCreate, requested: Requested) -> list[dict[str, Any]]:
    """The requests as stored: each resource, its columns, its own output if it has one,
    and ``psi_keys`` only where private set intersection is asked for."""
    psi = {r.resource_id: list(dict.fromkeys(r.psi_keys)) for r in data.resources}
    stored = []
    for resource, columns, own in requested:
        request: dict[str, Any] = {"resource_id": resource.id, "columns": columns}
        if psi.get(resource.id):
            request["psi_keys"] = psi[resource.id]
        if own is not None:
            request["output"] = {
                "mode": own.mode.value,
                "min_group_size": own.min_group_size,
                "k": own.k,
            }
        stored.append(request)
    return stored


def submit_application(
    *, session: Session, actor: Principal, data: ApplicationCreate
) -> Recorded[ApplicationPublic]:
    """File an application; each requested output is checked against the grade at once."""
    authorize(actor=actor, action=Actions.APPLICATION_SUBMIT, resource=PartyResource())
    purpose, requested = _checked(session, actor, data)
    if actor.participant_id is None or actor.member_id is None:
        raise Forbidden(
            "须以参与方成员身份操作 / expected an actor acting for a participant, got one without"
        )
    application = Application(
        applicant_id=actor.participant_id,
        member_id=actor.member_id,
        scenario=data.scenario,
        purpose=purpose.value,
        purpose_text=data.purpose_text,
        requests=_requests(data, requested),
        output=data.output.model_dump(),
        duration_days=data.duration_days,
        expected_queries=data.expected_queries,
        epsilon=str(data.epsilon) if data.epsilon is not None else None,
        joint=data.joint,
        reviewers=_reviewers(session, actor, [r.holder_id for r, _c, _o in requested]),
        status="pending",
        revision=1,
    )
    session.add(application)
    session.flush()
    events = [
        NewEvent(
            EventType.APPLICATION_SUBMITTED,
            "application",
            application.id,
            _summary(data, requested) | {"purpose": application.purpose},
        )
    ]
    events += _approved_at_once(session, application)
    recorded = record_events(session, actor=actor, events=events)
    return Recorded(view(session, application, actor.governance), recorded[0].seq)


def _approved_at_once(session: Session, application: Application) -> list[NewEvent]:
    """Nobody else has to agree (a holder using its own data): grant at once."""
    if application.reviewers:
        return []
    application.status = "approved"
    return grant_events(application, issue_grants(session, application))


def _load(session: Session, application_id: int, *, lock: bool = False) -> Application:
    application = session.get(Application, application_id, with_for_update=lock)
    if application is None:
        raise NotFound(
            "申请不存在 / application not found", details={"application_id": application_id}
        )
    return application


def review_application(
    *, session: Session, actor: Principal, application_id: int, decision: str, reason: str
) -> Recorded[ApplicationPublic]:
    """A reviewing party approves, rejects or asks for changes, in its turn; the last approval grants."""
    application = _load(session, application_id, lock=True)
    authorize(actor=actor, action=Actions.APPLICATION_REVIEW, resource=resource_ref(application))
    slots = [dict(s) for s in application.reviewers]
    mine = [s for s in slots if actor.participant_id in s["participants"]]
    if all(s["decision"] is not None for s in mine):
        taken = next(s for s in mine if s["decision"] is not None)
        raise AlreadyDecided(
            f"本方已审核过该申请（{taken['decision']}）/ your participant has already decided on "
            f"this application ({taken['decision']})",
            details={
                "decision": taken["decision"],
                "status": application.status,
                "revision": application.revision,
            },
        )
    if application.status != "pending":
        raise InvalidTransition(
            f"申请已结束审核 / the application is {application.status}, not pending",
            details={"status": application.status},
        )
    turn = current_turn(slots, actor.governance)
    now = [s for s in turn if actor.participant_id in s["participants"]]
    if not now:
        raise out_of_turn(session, turn, stage_order(actor.governance))
    filled = []
    while now:
        for slot in now:
            slot.update(decision=decision, by=actor.participant_id, reason=reason)
        filled += now
        # A participant that is also the next party (a JV holding the data it
        # operates on) approves for that party too once its turn has come;
        # never ahead of another party's turn.
        if decision != "approve":
            break
        now = [
            s
            for s in current_turn(slots, actor.governance)
            if actor.participant_id in s["participants"]
        ]
    application.reviewers = slots
    if decision == "reject":
        application.status = "rejected"
    elif decision == "request_changes":
        application.status = "changes_requested"
    elif all(s["decision"] == "approve" for s in slots):
        application.status = "approved"
    events = [
        NewEvent(
            EventType.APPLICATION_REVIEWED,
            "application",
            application.id,
            {
                "decision": decision,
                "parties": [s["party"] for s in filled],
                "reason": reason,
                "status": application.status,
                "revision": application.revision,
            },
        )
    ]
    if application.status == "approved":
        events += grant_events(application, issue_grants(session, application))
    recorded = record_events(session, actor=actor, events=events)
    return Recorded(view(session, application, actor.governance), recorded[0].seq)


def amend_application(
    *, session: Session, actor: Principal, application_id: int, data: ApplicationAmend
) -> Recorded[ApplicationPublic]:
    """The applicant answers a request for changes with a new revision; the earlier one is kept.

    The new revision is checked as a new application would be and routed
    afresh (its resources, and so its holders, may differ); every party
    decides again, in turn.
    """
    application = _load(session, application_id, lock=True)
    authorize(
        actor=actor,
        action=Actions.APPLICATION_AMEND,
        resource=PartyResource(participant_id=application.applicant_id),
    )
    if application.status != "changes_requested":
        raise InvalidTransition(
            f"只有被要求修改的申请才能修改，该申请为 {application.status} / only an application "
            f"sent back for changes can be amended; this one is {application.status}",
            details={"status": application.status},
        )
    before = content(application)
    changes = data.model_dump(exclude_unset=True, exclude={"note"})
    try:
        merged = ApplicationCreate.model_validate(before | changes)
    except ValidationError as exc:  # each field was checked alone; this is a safety net
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise InvalidInput(
            f"修改后的申请无效 / the amended application is not valid: check {', '.join(fields)}",
            details={"fields": fields},
        ) from None
    purpose, requested = _checked(session, actor, merged)
    if actor.member_id is None:
        raise Forbidden(
            "须以参与方成员身份操作 / expected an actor acting for a participant, got one without"
        )
    now = utcnow()
    kept = ApplicationRevision(
        application_id=application.id,
        revision=application.revision,
        member_id=application.member_id,
        content=before,
        reviewers=list(application.reviewers),
        status=application.status,
        submitted_at=application.revised_at or application.created_at,
        superseded_at=now,
    )
    application.earlier.append(kept)
    application.member_id = actor.member_id
    application.scenario = merged.scenario
    application.purpose = purpose.value
    application.purpose_text = merged.purpose_text
    application.requests = _requests(merged, requested)
    application.joint = merged.joint
    application.output = merged.output.model_dump()
    application.duration_days = merged.duration_days
    application.expected_queries = merged.expected_queries
    application.epsilon = str(merged.epsilon) if merged.epsilon is not None else None
    application.reviewers = _reviewers(session, actor, [r.holder_id for r, _c, _o in requested])
    application.status = "pending"
    application.revision += 1
    application.revised_at = now
    session.flush()
    events = [
        NewEvent(
            EventType.APPLICATION_AMENDED,
            "application",
            application.id,
            _summary(merged, requested)
            | {
                "purpose": application.purpose,
                "revision": application.revision,
                "note": data.note,
                "changed": sorted(changes),
                "previous_sha256": hashlib.sha256(
                    orjson.dumps(before, option=orjson.OPT_SORT_KEYS)
                ).hexdigest(),
            },
        )
    ]
    events += _approved_at_once(session, application)
    recorded = record_events(session, actor=actor, events=events)
    return Recorded(view(session, application, actor.governance), recorded[0].seq)


def withdraw_application(
    *, session: Session, actor: Principal, application_id: int, reason: str
) -> Recorded[ApplicationPublic]:
    """The applicant withdraws an application under review or sent back; no decision follows."""
    application = _load(session, application_id, lock=True)
    authorize(
        actor=actor,
        action=Actions.APPLICATION_WITHDRAW,
        resource=PartyResource(participant_id=application.applicant_id),
    )
    if application.status not in ("pending", "changes_requested"):
        raise InvalidTransition(
            f"申请已{application.status}，不能撤回 / the application is {application.status}: "
            "only a pending application or one sent back for changes can be withdrawn",
            details={"status": application.status},
        )
    previous = application.status
    application.status = "withdrawn"
    recorded = record_events(
        session,
        actor=actor,
        events=[
            NewEvent(
                EventType.APPLICATION_WITHDRAWN,
                "application",
                application.id,
                {"from": previous, "reason": reason, "revision": application.revision},
            )
        ],
    )
    return Recorded(view(session, application, actor.governance), recorded[0].seq)


def get_application(
    *, session: Session, actor: Principal, application_id: int
) -> ApplicationPublic:
    application = _load(session, application_id)
    authorize(actor=actor, action=Actions.APPLICATION_READ, resource=resource_ref(application))
    return view(session, application, actor.governance)


def list_revisions(
    *, session: Session, actor: Principal, application_id: int
) -> list[ApplicationRevisionPublic]:
    """The earlier revisions of an application, oldest first, as each stood when amended."""
    application = _load(session, application_id)
    authorize(actor=actor, action=Actions.APPLICATION_READ, resource=resource_ref(application))
    return [revision_view(kept) for kept in application.earlier]


def awaits(actor: Principal, application: Application) -> bool:
    """Whether it is the acting member's turn: their participant's, with a role that may act."""
    if actor.participant_id is None:
        return False
    if application.status == "changes_requested":
        action, ref = (
            Actions.APPLICATION_AMEND,
            PartyResource(participant_id=application.applicant_id),
        )
    elif application.status == "pending":
        turn = current_turn(list(application.reviewers), actor.governance)
        if not any(actor.participant_id in s["participants"] for s in turn):
            return False
        action, ref = Actions.APPLICATION_REVIEW, resource_ref(application)
    else:
        return False
    return decide(actor=actor, action=action, resource=ref).allowed


def list_applications(
    *,
    session: Session,
    actor: Principal,
    awaiting_me: bool = False,
    state: str | None = None,
    applicant: int | None = None,
    resource: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ApplicationPublic]:
    """One page of the applications the actor may see, oldest first.

    Visibility is ``authorize``'s: the applicant's participant and every
    reviewing party see an application, the regulator sees every one.
    ``awaiting_me`` keeps those on which the acting member can act now (a
    reviewer's decision in turn, or the applicant's amendment), ``state``,
    ``applicant`` and ``resource`` narrow further.
    """
    authorize(
        actor=actor,
        action=Actions.APPLICATION_READ,
        resource=PartyResource(participant_id=actor.participant_id),
    )
    if state is not None and state not in STATES:
        raise InvalidInput(
            f"未知的申请状态 / expected a state among {', '.join(STATES)}",
            details={"field": "state"},
        )
    query = select(Application).options(selectinload(Application.earlier)).order_by(Application.id)
    if state is not None:
        query = query.where(Application.status == state)
    if applicant is not None:
        query = query.where(Application.applicant_id == applicant)
    found = []
    for application in session.scalars(query):
        ref = resource_ref(application)
        if not decide(actor=actor, action=Actions.APPLICATION_READ, resource=ref).allowed:
            continue
        if resource is not None and all(r["resource_id"] != resource for r in application.requests):
            continue
        if awaiting_me and not awaits(actor, application):
            continue
        found.append(application)
    page = found[offset : offset + limit]
    grants = grant_ids(session, (a.id for a in page))
    return [view(session, a, actor.governance, grants[a.id]) for a in page]


@dataclass(frozen=True)
class ModeChoice:
    """An output mode an application may ask for, or why not (zh-CN / English)."""

    mode: str
    refusal: str | None


@dataclass(frozen=True)
class ApplicationChoices:
    """What an application for one resource may ask: the vocabulary's purposes, the
    resource's columns and the output modes its grade allows, each refused one with
    the reason :func:`submit_application` would give.

    ``refusal`` is set when no application for the resource can be made at all
    (not shared, grade not confirmed): the same refusal the submission gives.
    """

    resource_id: int
    columns: list[str]
    purposes: list[Purpose]
    modes: list[ModeChoice]
    refusal: str | None


def application_choices(
    *, session: Session, actor: Principal, resource_id: int
) -> ApplicationChoices:
    """The choices of an application form for ``resource_id``, as the actor may read it."""
    resource = readable(session, actor, resource_id)
    columns = [str(c["name"]) for c in resource.versions[-1].columns] if resource.versions else []
    purposes: list[Purpose] = [p for p in Purpose if p is not Purpose.OPEN_DATA_USE]
    refusal = None
    modes: list[ModeChoice] = []
    if not resource.versions:
        refusal = "数据资源不存在 / resource not found"
    else:
        try:
            _check_requestable(resource)
        except PolicyViolation as exc:
            refusal = exc.message
    if resource.grade is not None:
        for mode in OutputMode:
            try:
                # The regulator's approval of core data is part of the review to come.
                effective_constraints(
                    grade=resource.grade,
                    requested=OutputSpec(mode),
                    open_data=counts_as_open_data(resource),
                    regulator_approved=True,
                )
                modes.append(ModeChoice(mode.value, None))
            except PolicyViolation as exc:
                modes.append(ModeChoice(mode.value, exc.message))
    return ApplicationChoices(resource.id, columns, purposes, modes, refusal)
