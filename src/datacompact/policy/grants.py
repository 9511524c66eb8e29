"""Grants: reading them, suspending, reinstating or revoking them, and reviewing them.

A grant's status is checked by every query in the same transaction that
counts the query, so a suspension or revocation committed before the query's
own commit stops it, for queries in flight too.

A new version of a resource may remove or retype columns its grants cover
(:func:`shape_review`). Those grants go from ``active`` to ``needs_review``:
queries under them stop with an error that says so, and both parties see the
state and its reason in their listings. The holder then reinstates a grant
(once every granted column exists again) or revokes it. Removing a granted
column at all needs the steward's explicit confirmation.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from datacompact.catalog.shape import SchemaChange, ShapeReview
from datacompact.errors import Conflict, InvalidTransition, NotFound
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.permissions import Actions, PartyResource, Principal, authorize
from datacompact.policy._grant_view import column_constraints, table_names
from datacompact.policy._parts import Part, holders, parts, resource_ids
from datacompact.policy.agreement import agreement_parts
from datacompact.policy.schemas import GrantPartPublic, GrantPublic
from datacompact.registry import lookup
from datacompact.registry.participants import approved_of_kind
from datacompact.store.models import Grant, GrantPart, Resource

_TRANSITIONS = {
    "suspend": ({"active"}, "suspended", EventType.GRANT_SUSPENDED),
    "reinstate": ({"suspended", "needs_review"}, "active", EventType.GRANT_REINSTATED),
    "revoke": ({"active", "suspended", "needs_review"}, "revoked", EventType.GRANT_REVOKED),
}
#: Grants a new version's shape concerns: those that are not over for good.
_LIVE = ("active", "suspended", "needs_review")
_MAX_REASON = 500


def _ref(session: Session, grant: Grant, decision: str | None = None) -> PartyResource:
    regulators = approved_of_kind(session, ("regulator",))
    # The holder who granted it, or the regulator, may stop it; only the party
    # that suspended it may lift the suspension. The grantee never manages it
    # (the reviewer scope excludes the owner).
    # Every holder of a joint grant may stop the whole grant.
    managers: set[int] = {*holders(grant), *regulators}
    if decision == "reinstate":
        managers = {grant.status_by} if grant.status_by is not None else set()
    return PartyResource(
        participant_id=grant.grantee_id,
        parties=frozenset({grant.grantee_id, *holders(grant)}),
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
    part_of = select(GrantPart.grant_id).where(GrantPart.holder_id == actor.participant_id)
    rows = session.scalars(
        select(Grant)
        .where(
            (Grant.grantee_id == actor.participant_id)
            | (Grant.holder_id == actor.participant_id)
            | Grant.id.in_(part_of)
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
    if decision == "reinstate" and grant.status == "needs_review":
        _check_columns_exist(grant)
    previous = grant.status
    grant.status = target
    grant.status_reason = reason
    grant.status_by = actor.participant_id
    payload: dict[str, object] = {"from": previous, "to": target, "reason": reason}
    if grant.parts:
        # A holder stops its part, and with it the whole joint grant.
        payload["resources"] = list(resource_ids(grant))
    (event,) = record_events(
        session, actor=actor, events=[NewEvent(event_type, "grant", grant.id, payload)]
    )
    return Recorded(view(grant), event.seq)


def _name(grant: Grant, participant_id: int) -> str | None:
    session = object_session(grant)
    return None if session is None else lookup.participant_name(session, participant_id)


def _check_columns_exist(grant: Grant) -> None:
    """A reviewed grant comes back only onto versions that have every column it grants."""
    missing: list[str] = []
    for part in parts(grant):
        versions = part.resource.versions
        present = {c["name"] for c in versions[-1].columns} if versions else set()
        missing += sorted(set(part.terms.columns) - present)
    if missing:
        raise InvalidTransition(
            f"授权的列 {', '.join(missing)} 已不在资源的当前版本中，只能撤销 / the granted "
            f"columns {', '.join(missing)} are not in the resource's current version: revoke "
            "the grant (the grantee may apply again), or ingest a version that has them",
            details={"status": grant.status, "decision": "reinstate", "columns": missing},
        )


def _reason(version: int, removed: list[str], retyped: list[str]) -> str:
    parts_zh, parts_en = [], []
    if removed:
        parts_zh.append(f"删除了 {', '.join(removed)}")
        parts_en.append(f"removed {', '.join(removed)}")
    if retyped:
        parts_zh.append(f"改变了 {', '.join(retyped)} 的类型")
        parts_en.append(f"retyped {', '.join(retyped)}")
    text = (
        f"版本 {version} {'，'.join(parts_zh)}，需持有方复核 / version {version} "
        f"{' and '.join(parts_en)} of the granted columns; the holder must review the grant"
    )
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def shape_review(*, confirm_removed_columns: bool) -> ShapeReview:
    """The grant review of a new version that removes or retypes columns.

    Every live grant on the resource whose columns the change touches is
    found. If the change removes any granted column and the steward did not
    confirm it, the version is refused (409) with those columns and grants.
    Otherwise each such grant that is ``active`` becomes ``needs_review``
    (one ``grant.needs_review`` event each); a suspended grant stays
    suspended (its suspender decides on it), and one already under review
    gets the new reason.
    """

    def review(
        session: Session,
        *,
        actor: Principal,
        resource: Resource,
        version: int,
        change: SchemaChange,
    ) -> tuple[list[NewEvent], list[int]]:
        removed_all, retyped_all = set(change.removed), {r.column for r in change.retyped}
        touched: list[tuple[Grant, list[str], list[str]]] = []
        joint = select(GrantPart.grant_id).where(GrantPart.resource_id == resource.id)
        rows = session.scalars(
            select(Grant)
            .where(
                (Grant.resource_id == resource.id) | Grant.id.in_(joint),
                Grant.status.in_(_LIVE),
            )
            .order_by(Grant.id)
            .with_for_update()
        )
        for grant in rows:
            columns = next(p.terms.columns for p in parts(grant) if p.resource.id == resource.id)
            removed = [c for c in columns if c in removed_all]
            retyped = [c for c in columns if c in retyped_all]
            if removed or retyped:
                touched.append((grant, removed, retyped))
        granted_removed = sorted({c for _, removed, _ in touched for c in removed})
        if granted_removed and not confirm_removed_columns:
            ids = [g.id for g, removed, _ in touched if removed]
            raise Conflict(
                f"新版本删除了已授权的列 {', '.join(granted_removed)}；如确认，请加 "
                "confirm_removed_columns=true（命令行 --confirm-removed-columns），相关授权将转为"
                f"待复核 / the new version removes the granted columns "
                f"{', '.join(granted_removed)} (grants {', '.join(map(str, ids))}); confirm "
                "with confirm_removed_columns=true (CLI --confirm-removed-columns) to ingest "
                "it, and those grants will need review",
                details={
                    "rule": "version.removes_granted_columns",
                    "columns": granted_removed,
                    "grants": ids,
                },
            )
        events: list[NewEvent] = []
        flagged: list[int] = []
        for grant, removed, retyped in touched:
            if grant.status == "suspended":
                continue
            previous = grant.status
            grant.status = "needs_review"
            grant.status_reason = _reason(version, removed, retyped)
            # The holder reviews it: only the party that stopped a grant reinstates it.
            grant.status_by = resource.holder_id
            flagged.append(grant.id)
            events.append(
                NewEvent(
                    EventType.GRANT_NEEDS_REVIEW,
                    "grant",
                    grant.id,
                    {
                        "from": previous,
                        "to": "needs_review",
                        "resource_id": resource.id,
                        "version": version,
                        "removed": removed,
                        "retyped": retyped,
                    },
                )
            )
        return events, flagged

    return review


def _constraints(part: Part) -> dict[str, str]:
    versions = part.resource.versions
    if versions:
        return dict(
            column_constraints(terms=part.terms, resource=part.resource, version=versions[-1])
        )
    return dict(part.terms.column_constraints or {})


def view(grant: Grant) -> GrantPublic:
    """The grant as its parties see it, with the column constraints its queries meet today."""
    all_parts = parts(grant)
    terms = all_parts[0].terms
    constraints = _constraints(all_parts[0])
    tables = table_names([p.resource for p in all_parts])
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
        table=tables[grant.resource.id],
        column_constraints=dict(constraints),
        epsilon_per_query=epsilon,
        agreement=grant.agreement,
        created_at=grant.created_at,
        parts=[
            GrantPartPublic(
                resource_id=p.resource.id,
                resource_name=p.resource.name,
                holder_id=p.holder_id,
                holder_name=_name(grant, p.holder_id),
                table=tables[p.resource.id],
                output_mode=p.terms.output.mode.value,
                column_constraints=_constraints(p),
            )
            for p in (all_parts if grant.parts else ())
        ],
    )


def remaining(grant: GrantPublic) -> tuple[int, float | None]:
    """What is left of a grant: its queries, and its privacy budget ε (None without one).

    Counted as :func:`~datacompact.policy.queries.run_query` counts them.
    """
    queries_left = max(grant.max_queries - grant.queries_used, 0)
    # A joint grant's parts each carry their own budget; the tightest one binds.
    budgets = [t.epsilon for t in agreement_parts(grant.agreement) if t.epsilon is not None]
    if not budgets:
        return queries_left, None
    return queries_left, max(float(min(budgets)) - grant.epsilon_spent, 0.0)
