"""Issuing the grants of an approved application.

One grant per requested resource, each its own ODRL agreement; or, for a
joint application (a multi-holder scenario), one grant over every requested
resource whose agreement holds one permission per resource
(:func:`~datacompact.policy.agreement.joint_agreement`) and whose
:class:`~datacompact.store.models.GrantPart` rows name each resource and the
holder that approved it.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from datacompact.catalog.resources import latest_version
from datacompact.clock import utcnow
from datacompact.events import EventType, NewEvent
from datacompact.policy._constraints import numeric_columns, pii_types
from datacompact.policy.agreement import build_agreement, joint_agreement
from datacompact.policy.modes import OutputSpec
from datacompact.store.models import Application, Grant, GrantPart, Participant, Resource


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


def grant_events(application: Application, issued: list[Grant]) -> list[NewEvent]:
    events = []
    for g in issued:
        payload: dict[str, Any] = {
            "application_id": application.id,
            "resource_id": g.resource_id,
            "agreement_sha256": hashlib.sha256(
                orjson.dumps(g.agreement, option=orjson.OPT_SORT_KEYS)
            ).hexdigest(),
        }
        if g.parts:
            payload["resources"] = [p.resource_id for p in g.parts]
            payload["holders"] = sorted({p.holder_id for p in g.parts})
        events.append(NewEvent(EventType.GRANT_ISSUED, "grant", g.id, payload))
    return events


def request_output(application: Application, request: dict[str, Any]) -> OutputSpec:
    """The output a request asks for: its own, else the application's."""
    output = request.get("output") or application.output
    return OutputSpec(output["mode"], output.get("min_group_size"), output.get("k"))


def issue_grants(session: Session, application: Application) -> list[Grant]:
    now = utcnow()
    expires = now + timedelta(days=application.duration_days)
    applicant = session.get(Participant, application.applicant_id)
    if applicant is None:
        raise RuntimeError(f"the applicant of application {application.id} is missing")
    regulator_approved = any(
        s["party"] == "regulator" and s["decision"] == "approve" for s in application.reviewers
    )
    # One id for every part of a joint agreement.
    agreement_id = f"urn:uuid:{uuid.uuid4()}"
    documents: list[tuple[Resource, dict[str, Any]]] = []
    for request in application.requests:
        resource = session.get(Resource, request["resource_id"])
        if resource is None:
            raise RuntimeError(f"resource {request['resource_id']} is missing")
        document = _agreement(
            session,
            application,
            request,
            resource,
            applicant,
            now=now,
            expires=expires,
            regulator_approved=regulator_approved,
            agreement_id=agreement_id if application.joint else None,
        )
        documents.append((resource, document))
    if application.joint:
        first = documents[0][0]
        grant = _grant(
            application,
            first,
            applicant,
            joint_agreement(
                [d for _r, d in documents],
                target=f"urn:datacompact:scenario:application-{application.id}",
            ),
            expires,
        )
        grant.parts = [
            GrantPart(position=i, resource_id=r.id, holder_id=r.holder_id)
            for i, (r, _d) in enumerate(documents)
        ]
        grants = [grant]
    else:
        grants = [_grant(application, r, applicant, d, expires) for r, d in documents]
    session.add_all(grants)
    session.flush()
    return grants


def _agreement(
    session: Session,
    application: Application,
    request: dict[str, Any],
    resource: Resource,
    applicant: Participant,
    *,
    now: datetime,
    expires: datetime,
    regulator_approved: bool,
    agreement_id: str | None,
) -> dict[str, Any]:
    # The agreement states each column's constraint as derived from the
    # data as it is at issuance; a later grade or version can only tighten it.
    version = latest_version(session, resource.id)
    return build_agreement(
        target=f"urn:datacompact:resource:{resource.code}",
        assigner=f"urn:uscc:{resource.holder.uscc}",
        assignee=f"urn:uscc:{applicant.uscc}",
        purpose=application.purpose,
        expires=expires,
        max_queries=application.expected_queries,
        columns=request["columns"],
        output=request_output(application, request),
        grade=resource.grade or "core",
        timestamp=now,
        epsilon=float(application.epsilon) if application.epsilon else None,
        open_data=counts_as_open_data(resource),
        regulator_approved=regulator_approved,
        pii=pii_types(version) if version is not None else None,
        numeric=numeric_columns(version) if version is not None else (),
        agreement_id=agreement_id,
        psi_keys=request.get("psi_keys", ()),
    )


def _grant(
    application: Application,
    resource: Resource,
    applicant: Participant,
    agreement: dict[str, Any],
    expires: datetime,
) -> Grant:
    return Grant(
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
