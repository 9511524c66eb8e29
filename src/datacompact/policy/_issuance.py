"""Issuing the grants of an approved application: one ODRL agreement per resource."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import orjson
from sqlalchemy.orm import Session

from datacompact.catalog.resources import latest_version
from datacompact.clock import utcnow
from datacompact.events import EventType, NewEvent
from datacompact.policy._constraints import numeric_columns, pii_types
from datacompact.policy.agreement import build_agreement
from datacompact.policy.modes import OutputSpec
from datacompact.store.models import Application, Grant, Participant, Resource


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


def issue_grants(session: Session, application: Application) -> list[Grant]:
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
            psi_keys=request.get("psi_keys", ()),
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
