"""Grants: reading them, and suspending, reinstating or revoking them at once.

A grant's status is checked by every query in the same transaction that
counts the query, so a suspension or revocation committed before the query's
own commit stops it, for queries in flight too.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from datacompact.errors import InvalidTransition, NotFound
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.permissions import Actions, PartyResource, Principal, authorize
from datacompact.policy._grant_view import column_constraints, table_name
from datacompact.policy.agreement import parse_agreement
from datacompact.policy.schemas import GrantPublic
from datacompact.registry import lookup
from datacompact.registry.participants import approved_of_kind
from datacompact.store.models import Grant

_TRANSITIONS = {
    "suspend": ({"active"}, "suspended", EventType.GRANT_SUSPENDED),
    "reinstate": ({"suspended"}, "active", EventType.GRANT_REINSTATED),
    "revoke": ({"active", "suspended"}, "revoked", EventType.GRANT_REVOKED),
}


def _ref(session: Session, grant: Grant, decision: str | None = None) -> PartyResource:
    regulators = approved_of_kind(session, ("regulator",))
    # The holder who granted it, or the regulator, may stop it; only the party
    # that suspended it may lift the suspension. The grantee never manages it
    # (the reviewer scope excludes the owner).
    managers: set[int] = {grant.holder_id, *regulators}
    if decision == "reinstate":
        managers = {grant.status_by} if grant.status_by is not None else set()
    return PartyResource(
        participant_id=grant.grantee_id,
        parties=frozenset({grant.grantee_id, grant.holder_id}),
        reviewers=frozenset(managers),
    )


def _load(session: Session, grant_id: int, *, lock: bool = False) -> Grant:
    grant = session.get(Grant, grant_id, with_for_update=lock)
    if grant is None:
        raise NotFound("授权不存在 / grant not found", details={"grant_id": grant_id})
    return grant


def get_grant(*, session: Session, actor: Principal, grant_id: int) -> GrantPublic:
    grant = _load(session, grant_id)
    authorize(actor=actor, action=Actions.GRANT_READ, resource=_ref(session, grant))
    return view(grant)


def list_grants(*, session: Session, actor: Principal) -> list[GrantPublic]:
    """The grants the actor's participant holds or granted."""
    authorize(
        actor=actor,
        action=Actions.GRANT_READ,
        resource=PartyResource(participant_id=actor.participant_id),
    )
    rows = session.scalars(
        select(Grant)
        .where(
            (Grant.grantee_id == actor.participant_id) | (Grant.holder_id == actor.participant_id)
        )
        .order_by(Grant.id)
    )
    return [view(g) for g in rows]


def set_grant_status(
    *, session: Session, actor: Principal, grant_id: int, decision: str, reason: str
) -> Recorded[GrantPublic]:
    grant = _load(session, grant_id, lock=True)
    authorize(actor=actor, action=Actions.GRANT_MANAGE, resource=_ref(session, grant, decision))
    allowed, target, event_type = _TRANSITIONS[decision]
    if grant.status not in allowed:
        raise InvalidTransition(
            f"授权状态不允许该操作 / cannot {decision} a grant that is {grant.status}",
            details={"status": grant.status, "decision": decision},
        )
    previous = grant.status
    grant.status = target
    grant.status_reason = reason
    grant.status_by = actor.participant_id
    (event,) = record_events(
        session,
        actor=actor,
        events=[
            NewEvent(
                event_type, "grant", grant.id, {"from": previous, "to": target, "reason": reason}
            )
        ],
    )
    return Recorded(view(grant), event.seq)


def _name(grant: Grant, participant_id: int) -> str | None:
    session = object_session(grant)
    return None if session is None else lookup.participant_name(session, participant_id)


def view(grant: Grant) -> GrantPublic:
    """The grant as its parties see it, with the column constraints its queries meet today."""
    terms = parse_agreement(grant.agreement)
    versions = grant.resource.versions
    constraints = (
        column_constraints(terms=terms, resource=grant.resource, version=versions[-1])
        if versions
        else dict(terms.column_constraints or {})
    )
    epsilon = (
        {"min": terms.epsilon_min, "max": terms.epsilon_max} if terms.epsilon is not None else None
    )
    return GrantPublic(
        id=grant.id,
        application_id=grant.application_id,
        resource_id=grant.resource_id,
        holder_id=grant.holder_id,
        grantee_id=grant.grantee_id,
        status=grant.status,
        status_reason=grant.status_reason,
        expires_at=grant.expires_at,
        resource_name=grant.resource.name,
        holder_name=grant.resource.holder.name
        if grant.resource.holder_id == grant.holder_id
        else _name(grant, grant.holder_id),
        grantee_name=_name(grant, grant.grantee_id),
        max_queries=grant.max_queries,
        queries_used=grant.queries_used,
        epsilon_spent=float(grant.epsilon_spent),
        table=table_name(grant.resource),
        column_constraints=dict(constraints),
        epsilon_per_query=epsilon,
        agreement=grant.agreement,
        created_at=grant.created_at,
    )
