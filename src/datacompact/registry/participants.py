"""Participant services: registration, decisions, contacts, views.

Registration needs approval, as X-Road's management requests do: an applicant
registers (status ``pending``) together with its first admin, and a
registration approver of the governance mode decides. The status life cycle::

    pending ──approve──▶ approved ──suspend──▶ suspended
       │                   │  ▲                  │
     reject             revoke └───reinstate─────┤
       ▼                   ▼                     │
    rejected             revoked ◀────revoke─────┘

Members of a participant that is not ``approved`` cannot authenticate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from datacompact.config import GovernanceMode
from datacompact.errors import DuplicateRegistration, InvalidInput, InvalidTransition
from datacompact.events import EventType, Recorded, record_event
from datacompact.governance import rules_for
from datacompact.permissions import (
    Actions,
    ParticipantResource,
    Principal,
    PublicListing,
    Role,
    authorize,
    decide,
)
from datacompact.registry import keys, lookup, tokens
from datacompact.registry.identifiers import validate_region_code, validate_uscc
from datacompact.registry.members import add_member, hash_password
from datacompact.registry.schemas import (
    ContactIn,
    ContactPublic,
    Decision,
    ParticipantCreate,
    ParticipantKind,
    ParticipantPrivate,
    ParticipantPublic,
    ParticipantStatus,
    ShareholderPublic,
)
from datacompact.store.locks import BOOTSTRAP, hold_lock
from datacompact.store.models import Contact, Member, Participant, Shareholder
from datacompact.store.session import ReadCache

TRANSITIONS: dict[Decision, tuple[frozenset[ParticipantStatus], ParticipantStatus, EventType]] = {
    Decision.APPROVE: (
        frozenset({ParticipantStatus.PENDING}),
        ParticipantStatus.APPROVED,
        EventType.PARTICIPANT_APPROVED,
    ),
    Decision.REJECT: (
        frozenset({ParticipantStatus.PENDING}),
        ParticipantStatus.REJECTED,
        EventType.PARTICIPANT_REJECTED,
    ),
    Decision.SUSPEND: (
        frozenset({ParticipantStatus.APPROVED}),
        ParticipantStatus.SUSPENDED,
        EventType.PARTICIPANT_SUSPENDED,
    ),
    Decision.REINSTATE: (
        frozenset({ParticipantStatus.SUSPENDED}),
        ParticipantStatus.APPROVED,
        EventType.PARTICIPANT_REINSTATED,
    ),
    Decision.REVOKE: (
        frozenset({ParticipantStatus.APPROVED, ParticipantStatus.SUSPENDED}),
        ParticipantStatus.REVOKED,
        EventType.PARTICIPANT_REVOKED,
    ),
}


def _check_shape(data: ParticipantCreate) -> tuple[str, str, list[tuple[str, str, int]]]:
    """Validate identifiers and cross-field rules; return (uscc, region, shareholders in bp)."""
    uscc = validate_uscc(data.uscc)
    region = validate_region_code(data.region_code)
    if data.kind is ParticipantKind.ENTERPRISE and data.ownership is None:
        raise InvalidInput(
            "企业须填写所有制 / an enterprise must state its ownership",
            details={"field": "ownership"},
        )
    if data.kind is ParticipantKind.THIRD_PARTY and data.third_party_type is None:
        raise InvalidInput(
            "第三方机构须填写类型 / a third party must state its type",
            details={"field": "third_party_type"},
        )
    if data.kind is not ParticipantKind.JV_PLATFORM and data.shareholders:
        raise InvalidInput(
            "只有合资平台公司登记股东 / only a JV platform company lists shareholders",
            details={"field": "shareholders"},
        )
    holders: list[tuple[str, str, int]] = []
    for index, holder in enumerate(data.shareholders):
        holder_uscc = validate_uscc(holder.holder_uscc, field=f"shareholders[{index}].holder_uscc")
        holders.append((holder.holder_name, holder_uscc, int(holder.stake_percent * 100)))
    if data.kind is ParticipantKind.JV_PLATFORM:
        total = sum(bp for _n, _u, bp in holders)
        if len(holders) < 2 or total != 10000:
            raise InvalidInput(
                "合资平台公司须登记至少两名股东且持股合计 100% / a JV platform needs at least two "
                f"shareholders whose stakes sum to 100%, got {len(holders)} summing to "
                f"{Decimal(total) / 100}%",
                details={"field": "shareholders"},
            )
        if len({u for _n, u, _bp in holders}) != len(holders):
            raise InvalidInput(
                "股东重复 / a shareholder is listed twice", details={"field": "shareholders"}
            )
    return uscc, region, holders


def _create(
    session: Session, *, data: ParticipantCreate, secret: bytes, status: ParticipantStatus
) -> tuple[Participant, Member]:
    uscc, region, holders = _check_shape(data)
    # Before the first query, which on SQLite takes the write lock.
    password_hash = hash_password(data.admin.password)
    if session.scalar(select(Participant.id).where(Participant.uscc == uscc)) is not None:
        raise DuplicateRegistration(
            "该统一社会信用代码已注册 / a participant with this USCC is already registered",
            details={"field": "uscc"},
        )
    participant = Participant(
        kind=data.kind.value,
        name=data.name,
        name_en=data.name_en,
        uscc=uscc,
        region_code=region,
        ownership=data.ownership.value if data.ownership else None,
        third_party_type=data.third_party_type.value if data.third_party_type else None,
        status=status.value,
    )
    for name, holder_uscc, bp in holders:
        linked = session.scalar(select(Participant.id).where(Participant.uscc == holder_uscc))
        participant.shareholders.append(
            Shareholder(
                holder_name=name,
                holder_uscc=holder_uscc,
                holder_participant_id=linked,
                stake_bp=bp,
            )
        )
    participant.contacts = [_contact(c) for c in data.contacts]
    session.add(participant)
    try:
        session.flush()
    except IntegrityError as exc:
        # The race behind the check above: another registration of the same
        # USCC committed in between.
        raise DuplicateRegistration(
            "该统一社会信用代码已注册 / a participant with this USCC is already registered",
            details={"field": "uscc"},
        ) from exc
    # Shareholdings registered before their holder (a JV bootstrapped ahead of
    # its parents) now point at it, so common control is seen either way round.
    session.execute(
        update(Shareholder)
        .where(Shareholder.holder_uscc == uscc, Shareholder.holder_participant_id.is_(None))
        .values(holder_participant_id=participant.id)
        .execution_options(synchronize_session=False)
    )
    session.add(keys.new_key(participant_id=participant.id, secret=secret))
    admin = add_member(
        session,
        participant=participant,
        username=data.admin.username,
        display_name=data.admin.display_name,
        password_hash=password_hash,
        roles=[Role.ADMIN],
    )
    return participant, admin


def _contact(data: ContactIn) -> Contact:
    return Contact(name=data.name, title=data.title, phone=data.phone, email=data.email)


def _registration_payload(participant: Participant, admin: Member) -> dict[str, object]:
    # Public facts only: the contacts (personal data) stay out of the payload.
    return {
        "kind": participant.kind,
        "uscc": participant.uscc,
        "region_code": participant.region_code,
        "admin_member_id": admin.id,
        "shareholders": [
            {"uscc": s.holder_uscc, "stake_bp": s.stake_bp} for s in participant.shareholders
        ],
    }


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """The first participant, its admin, and a token for that admin (shown once)."""

    participant: Participant
    admin: Member
    token: str


def bootstrap_platform(
    *,
    session: Session,
    secret: bytes,
    governance: GovernanceMode,
    data: ParticipantCreate,
    token_ttl: timedelta = timedelta(days=30),
) -> Recorded[Bootstrap]:
    """Register and approve the first participant of an empty platform.

    There is nobody yet to approve the first registration, so this is allowed
    exactly once, for a participant of a kind that approves registrations under
    the governance mode; every later participant goes through approval.
    """
    # Two bootstraps at once must not both find the platform empty.
    hold_lock(session, BOOTSTRAP)
    if session.scalar(select(func.count()).select_from(Participant)):
        raise InvalidTransition(
            "平台已初始化 / the platform already has participants; register through approval",
            details={"reason": "already_bootstrapped"},
        )
    approvers = rules_for(governance).registration_approvers
    if data.kind.value not in approvers:
        raise InvalidInput(
            "首个参与方须为审批方 / the first participant must be one of: "
            + ", ".join(sorted(approvers)),
            details={"field": "kind"},
        )
    participant, admin = _create(
        session, data=data, secret=secret, status=ParticipantStatus.APPROVED
    )
    event = record_event(
        session,
        actor=Principal(label="bootstrap", governance=governance),
        type=EventType.PLATFORM_BOOTSTRAPPED,
        object_type="participant",
        object_id=participant.id,
        payload={**_registration_payload(participant, admin), "governance_mode": governance.value},
    )
    admin_principal = Principal.member(
        member_id=admin.id,
        participant_id=participant.id,
        participant_kind=participant.kind,
        roles=frozenset({Role.ADMIN}),
        governance=governance,
    )
    issued = tokens.issue_token(
        session=session, actor=admin_principal, label="bootstrap", scopes=None, ttl=token_ttl
    )
    return Recorded(Bootstrap(participant, admin, issued.value[1]), event.seq)


def register_participant(
    *, session: Session, actor: Principal, secret: bytes, data: ParticipantCreate
) -> Recorded[Participant]:
    """File a registration application; the participant stays ``pending`` until decided."""
    authorize(actor=actor, action=Actions.PARTICIPANT_REGISTER, resource=ParticipantResource())
    participant, admin = _create(
        session, data=data, secret=secret, status=ParticipantStatus.PENDING
    )
    event = record_event(
        session,
        actor=actor,
        type=EventType.PARTICIPANT_REGISTERED,
        object_type="participant",
        object_id=participant.id,
        payload=_registration_payload(participant, admin),
    )
    return Recorded(participant, event.seq)


def decide_participant(
    *,
    session: Session,
    actor: Principal,
    participant_id: int,
    decision: Decision,
    reason: str,
) -> Recorded[Participant]:
    """Approve, reject, suspend, reinstate or revoke a participant, with a logged reason."""
    participant = lookup.participant(session, participant_id, lock=True)
    authorize(
        actor=actor,
        action=Actions.PARTICIPANT_DECIDE,
        resource=ParticipantResource(participant_id=participant.id),
    )
    allowed_from, target, event_type = TRANSITIONS[decision]
    if participant.status not in allowed_from:
        raise InvalidTransition(
            f"状态不允许该操作 / cannot {decision.value} a participant that is {participant.status}",
            details={"status": participant.status, "decision": decision.value},
        )
    previous = participant.status
    participant.status = target.value
    participant.status_reason = reason
    event = record_event(
        session,
        actor=actor,
        type=event_type,
        object_type="participant",
        object_id=participant.id,
        payload={"from": previous, "to": target.value, "reason": reason},
    )
    return Recorded(participant, event.seq)


def update_contacts(
    *, session: Session, actor: Principal, participant_id: int, contacts: list[ContactIn]
) -> Recorded[Participant]:
    participant = lookup.participant(session, participant_id, lock=True)
    authorize(
        actor=actor,
        action=Actions.PARTICIPANT_UPDATE,
        resource=ParticipantResource(participant_id=participant.id),
    )
    participant.contacts = [_contact(c) for c in contacts]
    event = record_event(
        session,
        actor=actor,
        type=EventType.PARTICIPANT_CONTACTS_UPDATED,
        object_type="participant",
        object_id=participant.id,
        payload={"contact_count": len(contacts)},
    )
    return Recorded(participant, event.seq)


def approved_of_kind(session: Session, kinds: Iterable[str]) -> list[int]:
    """The ids of the approved participants of ``kinds`` (regulators, operators, ...), in order."""
    return list(
        session.scalars(
            select(Participant.id)
            .where(Participant.kind.in_(tuple(kinds)), Participant.status == "approved")
            .order_by(Participant.id)
        )
    )


def awaiting_decision(*, session: Session, actor: Principal) -> list[ParticipantPublic]:
    """The registrations still pending that the acting member may decide, oldest first.

    Only a member whose participant approves registrations under the
    governance mode, with a role that may decide, has any (``authorize``'s rule).
    """
    pending = session.scalars(
        select(Participant)
        .options(selectinload(Participant.keys), selectinload(Participant.shareholders))
        .where(Participant.status == "pending")
        .order_by(Participant.id)
    )
    return [
        public_view(p)
        for p in pending
        if decide(
            actor=actor,
            action=Actions.PARTICIPANT_DECIDE,
            resource=ParticipantResource(participant_id=p.id),
        ).allowed
    ]


def registration_approvers(session: Session, governance: GovernanceMode) -> list[int]:
    """The approved participants that decide on registrations under ``governance``."""
    return approved_of_kind(session, rules_for(governance).registration_approvers)


def get_participant(
    *, session: Session, actor: Principal, participant_id: int
) -> ParticipantPublic | ParticipantPrivate:
    """The participant as ``actor`` may see it: private details only for its own members."""
    participant = lookup.participant(session, participant_id)
    resource = ParticipantResource(participant_id=participant.id, status=participant.status)
    authorize(
        actor=actor,
        action=Actions.PARTICIPANT_READ,
        resource=resource,
        missing=lookup.missing_participant(participant_id),
    )
    if decide(actor=actor, action=Actions.PARTICIPANT_READ_PRIVATE, resource=resource).allowed:
        return private_view(participant)
    return public_view(participant)


def list_participants(
    *,
    session: Session,
    actor: Principal,
    kind: ParticipantKind | None = None,
    status: ParticipantStatus | None = None,
    limit: int = 100,
    offset: int = 0,
    views: ReadCache | None = None,
) -> list[ParticipantPublic]:
    """One page of participants; ``views`` may serve it from an earlier snapshot that still holds.

    A caller who may not read every profile (an anonymous one) pages through
    the published ones only: those of the statuses whose profile ``authorize``
    lets anyone read.
    """
    authorize(actor=actor, action=Actions.PARTICIPANT_READ, resource=PublicListing())
    statuses = None
    if not decide(
        actor=actor, action=Actions.PARTICIPANT_READ, resource=ParticipantResource()
    ).allowed:
        statuses = tuple(
            s.value
            for s in ParticipantStatus
            if decide(
                actor=actor,
                action=Actions.PARTICIPANT_READ,
                resource=ParticipantResource(status=s.value),
            ).allowed
        )

    def build() -> list[ParticipantPublic]:
        return _page(
            session, kind=kind, status=status, limit=limit, offset=offset, statuses=statuses
        )

    if views is None:
        return build()
    # A copy of the kept list, so that no caller can change what the next one is served.
    key = ("participants", kind, status, limit, offset, statuses)
    return list(views.get(session, key, build))


def _page(
    session: Session,
    *,
    kind: ParticipantKind | None,
    status: ParticipantStatus | None,
    limit: int,
    offset: int,
    statuses: tuple[str, ...] | None = None,
) -> list[ParticipantPublic]:
    query = (
        select(Participant)
        .options(selectinload(Participant.keys), selectinload(Participant.shareholders))
        .order_by(Participant.id)
        .limit(limit)
        .offset(offset)
    )
    if kind is not None:
        query = query.where(Participant.kind == kind.value)
    if status is not None:
        query = query.where(Participant.status == status.value)
    if statuses is not None:
        query = query.where(Participant.status.in_(statuses))
    return [public_view(p) for p in session.scalars(query)]


def public_view(participant: Participant) -> ParticipantPublic:
    active = next((k for k in participant.keys if k.active), None)
    return ParticipantPublic(
        id=participant.id,
        kind=ParticipantKind(participant.kind),
        name=participant.name,
        name_en=participant.name_en,
        uscc=participant.uscc,
        region_code=participant.region_code,
        ownership=participant.ownership,
        third_party_type=participant.third_party_type,
        status=ParticipantStatus(participant.status),
        shareholders=[
            ShareholderPublic(
                holder_name=s.holder_name,
                holder_uscc=s.holder_uscc,
                holder_participant_id=s.holder_participant_id,
                stake_percent=s.stake_bp / 100,
            )
            for s in participant.shareholders
        ],
        public_key=keys.verifier_key(participant, active) if active else None,
        created_at=participant.created_at,
    )


def private_view(participant: Participant) -> ParticipantPrivate:
    return ParticipantPrivate(
        **public_view(participant).model_dump(),
        status_reason=participant.status_reason,
        contacts=[ContactPublic.model_validate(c) for c in participant.contacts],
    )
