"""Applications and grants: one scenario, one application; approval as the governance mode says.

An application names a purpose from the controlled vocabulary, the resources
and columns wanted, the output mode, a duration and the expected number of
queries. It is routed to every holder of a requested resource and, by the
governance mode's ``grant_approvers``, to the regulator and the operator. Any
one approved participant of a reviewing party decides for it. A rejection or
a request for changes ends the review; once every party approved, one grant
per resource is issued as an ODRL agreement (``policy.agreement``), never
looser than the resource's grade allows (``policy.modes``).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.catalog.resources import latest_version
from datacompact.clock import utcnow
from datacompact.errors import Forbidden, InvalidInput, InvalidTransition, NotFound, PolicyViolation
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.governance import rules_for
from datacompact.permissions import Actions, PartyResource, Principal, authorize
from datacompact.policy._constraints import numeric_columns, pii_types
from datacompact.policy.agreement import build_agreement
from datacompact.policy.modes import OutputSpec, effective_constraints
from datacompact.policy.purposes import Purpose, parse_purpose
from datacompact.policy.schemas import ApplicationCreate, ApplicationPublic
from datacompact.registry.participants import approved_of_kind
from datacompact.store.models import Application, Grant, Participant, Resource

_OPERATOR_KINDS = ("jv_platform",)


def _output(data: ApplicationCreate) -> OutputSpec:
    return OutputSpec(data.output.mode, data.output.min_group_size, data.output.k)  # type: ignore[arg-type]


def _requested(session: Session, data: ApplicationCreate) -> list[tuple[Resource, list[str]]]:
    seen: set[int] = set()
    out = []
    for request in data.resources:
        if request.resource_id in seen:
            raise InvalidInput(
                "资源重复 / expected each resource once",
                details={"resource_id": request.resource_id},
            )
        seen.add(request.resource_id)
        resource = session.get(Resource, request.resource_id)
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
        out.append((resource, list(dict.fromkeys(request.columns))))
    return out


def counts_as_open_data(resource: Resource) -> bool:
    """Open data loosens the output only when it really is harmless.

    A holder may mark a resource open, but without personal information and
    graded general-1 or general-2 only; otherwise its grade's rules apply.
    """
    return (
        resource.open_type == "open"
        and not resource.personal
        and resource.grade in ("general-1", "general-2")
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


def submit_application(
    *, session: Session, actor: Principal, data: ApplicationCreate
) -> Recorded[ApplicationPublic]:
    """File an application; each requested output is checked against the grade at once."""
    authorize(actor=actor, action=Actions.APPLICATION_SUBMIT, resource=PartyResource())
    purpose = parse_purpose(data.purpose)
    if purpose is Purpose.OPEN_DATA_USE:
        raise InvalidInput(
            "开放数据利用由规则自动授权，无需申请 / open_data_use is granted automatically by "
            "rule for open data (POST /api/v1/resources/{id}/open-grant), not applied for",
            details={"field": "purpose"},
        )
    output = _output(data)
    requested = _requested(session, data)
    for resource, _columns in requested:
        # Fail now, not after every review: the grade decides what may leave.
        effective_constraints(
            grade=resource.grade or "core",
            requested=output,
            open_data=counts_as_open_data(resource),
            regulator_approved=True,
        )
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
        requests=[{"resource_id": r.id, "columns": cols} for r, cols in requested],
        output=data.output.model_dump(),
        duration_days=data.duration_days,
        expected_queries=data.expected_queries,
        epsilon=str(data.epsilon) if data.epsilon is not None else None,
        reviewers=_reviewers(session, actor, [r.holder_id for r, _c in requested]),
        status="pending",
    )
    session.add(application)
    session.flush()
    events = [
        NewEvent(
            EventType.APPLICATION_SUBMITTED,
            "application",
            application.id,
            {
                "purpose": application.purpose,
                "resources": [r.id for r, _c in requested],
                "mode": data.output.mode,
                "duration_days": data.duration_days,
                "expected_queries": data.expected_queries,
            },
        )
    ]
    if not application.reviewers:
        # Nobody else has to agree (a holder using its own data): grant at once.
        application.status = "approved"
        events += _grant_events(application, _issue_grants(session, application))
    recorded = record_events(session, actor=actor, events=events)
    return Recorded(view(session, application), recorded[0].seq)


def _grant_events(application: Application, issued: list[Grant]) -> list[NewEvent]:
    return [
        NewEvent(
            EventType.GRANT_ISSUED,
            "grant",
            g.id,
            {
                "application_id": application.id,
                "resource_id": g.resource_id,
                "agreement_sha256": hashlib.sha256(
                    orjson.dumps(g.agreement, option=orjson.OPT_SORT_KEYS)
                ).hexdigest(),
            },
        )
        for g in issued
    ]


def _resource_ref(application: Application) -> PartyResource:
    reviewers = {p for slot in application.reviewers for p in slot["participants"]}
    return PartyResource(
        participant_id=application.applicant_id,
        parties=frozenset(reviewers),
        reviewers=frozenset(
            p
            for slot in application.reviewers
            if slot["decision"] is None
            for p in slot["participants"]
        ),
    )


def review_application(
    *, session: Session, actor: Principal, application_id: int, decision: str, reason: str
) -> Recorded[ApplicationPublic]:
    """A reviewing party approves, rejects or asks for changes; the last approval issues grants."""
    application = session.get(Application, application_id, with_for_update=True)
    if application is None:
        raise NotFound(
            "申请不存在 / application not found", details={"application_id": application_id}
        )
    authorize(actor=actor, action=Actions.APPLICATION_REVIEW, resource=_resource_ref(application))
    if application.status != "pending":
        raise InvalidTransition(
            f"申请已结束审核 / the application is {application.status}, not pending",
            details={"status": application.status},
        )
    slots = [dict(s) for s in application.reviewers]
    filled = []
    for slot in slots:
        if slot["decision"] is None and actor.participant_id in slot["participants"]:
            slot.update(decision=decision, by=actor.participant_id, reason=reason)
            filled.append(slot["party"])
    application.reviewers = slots
    if decision == "reject":
        application.status = "rejected"
    elif decision == "request_changes":
        application.status = "changes_requested"
    elif all(s["decision"] == "approve" for s in slots):
        # Also when no other party had to review (a holder using its own data).
        application.status = "approved"
    events = [
        NewEvent(
            EventType.APPLICATION_REVIEWED,
            "application",
            application.id,
            {
                "decision": decision,
                "parties": filled,
                "reason": reason,
                "status": application.status,
            },
        )
    ]
    if application.status == "approved":
        events += _grant_events(application, _issue_grants(session, application))
    recorded = record_events(session, actor=actor, events=events)
    return Recorded(view(session, application), recorded[0].seq)


def _issue_grants(session: Session, application: Application) -> list[Grant]:
    now = utcnow()
    expires = now + timedelta(days=application.duration_days)
    applicant = session.get(Participant, application.applicant_id)
    if applicant is None:
        raise RuntimeError(f"the applicant of application {application.id} is missing")
    regulator_approved = any(
        s["party"] == "regulator" and s["decision"] == "approve" for s in application.reviewers
    )
    output = application.output
    grants = []
    for request in application.requests:
        resource = session.get(Resource, request["resource_id"])
        if resource is None:
            raise RuntimeError(f"resource {request['resource_id']} is missing")
        # The agreement states each column's constraint as derived from the
        # data as it is at issuance; a later grade or version can only tighten it.
        version = latest_version(session, resource.id)
        agreement = build_agreement(
            target=f"urn:datacompact:resource:{resource.code}",
            assigner=f"urn:uscc:{resource.holder.uscc}",
            assignee=f"urn:uscc:{applicant.uscc}",
            purpose=application.purpose,
            expires=expires,
            max_queries=application.expected_queries,
            columns=request["columns"],
            output=OutputSpec(output["mode"], output.get("min_group_size"), output.get("k")),
            grade=resource.grade or "core",
            timestamp=now,
            epsilon=float(application.epsilon) if application.epsilon else None,
            open_data=counts_as_open_data(resource),
            regulator_approved=regulator_approved,
            pii=pii_types(version) if version is not None else None,
            numeric=numeric_columns(version) if version is not None else (),
        )
        grant = Grant(
            application_id=application.id,
            resource_id=resource.id,
            holder_id=resource.holder_id,
            grantee_id=applicant.id,
            agreement=agreement,
            status="active",
            expires_at=expires,
            max_queries=application.expected_queries,
            queries_used=0,
            epsilon_spent="0",
        )
        session.add(grant)
        grants.append(grant)
    session.flush()
    return grants


def get_application(
    *, session: Session, actor: Principal, application_id: int
) -> ApplicationPublic:
    application = session.get(Application, application_id)
    if application is None:
        raise NotFound(
            "申请不存在 / application not found", details={"application_id": application_id}
        )
    authorize(actor=actor, action=Actions.APPLICATION_READ, resource=_resource_ref(application))
    return view(session, application)


def view(session: Session, application: Application) -> ApplicationPublic:
    grant_ids = list(
        session.scalars(
            select(Grant.id).where(Grant.application_id == application.id).order_by(Grant.id)
        )
    )
    return ApplicationPublic(
        id=application.id,
        applicant_id=application.applicant_id,
        scenario=application.scenario,
        purpose=application.purpose,
        purpose_text=application.purpose_text,
        requests=application.requests,
        output=application.output,
        duration_days=application.duration_days,
        expected_queries=application.expected_queries,
        epsilon=float(application.epsilon) if application.epsilon else None,
        reviewers=application.reviewers,
        status=application.status,
        grants=grant_ids,
        created_at=application.created_at,
    )
