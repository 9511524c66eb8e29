"""Qualifications (资质): what admits a participant to tenders and operation.

A qualification records its name, level, issuer, validity period and the
SHA-256 of its evidence document; the document itself stays with its owner.
Qualifications are public within the platform, since admission decisions
rest on them and every bidder may check every other.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.errors import InvalidInput
from datacompact.events import EventType, Recorded, record_event
from datacompact.permissions import Actions, ParticipantResource, Principal, authorize
from datacompact.registry import lookup
from datacompact.registry.schemas import QualificationCreate, QualificationPublic
from datacompact.store.models import Qualification


def add_qualification(
    *, session: Session, actor: Principal, participant_id: int, data: QualificationCreate
) -> Recorded[Qualification]:
    participant = lookup.participant(session, participant_id)
    authorize(
        actor=actor,
        action=Actions.QUALIFICATION_ADD,
        resource=ParticipantResource(participant_id=participant.id),
    )
    if data.valid_until < data.valid_from:
        raise InvalidInput(
            "有效期结束早于开始 / expected valid_until on or after valid_from, got an earlier date",
            details={"field": "valid_until"},
        )
    qualification = Qualification(
        participant_id=participant.id,
        name=data.name,
        level=data.level,
        issuer=data.issuer,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        evidence_sha256=data.evidence_sha256,
    )
    session.add(qualification)
    session.flush()
    event = record_event(
        session,
        actor=actor,
        type=EventType.QUALIFICATION_ADDED,
        object_type="qualification",
        object_id=qualification.id,
        payload={
            "participant_id": participant.id,
            "name": data.name,
            "level": data.level,
            "issuer": data.issuer,
            "valid_from": data.valid_from.isoformat(),
            "valid_until": data.valid_until.isoformat(),
            "evidence_sha256": data.evidence_sha256,
        },
    )
    return Recorded(qualification, event.seq)


def list_qualifications(
    *, session: Session, actor: Principal, participant_id: int, today: date | None = None
) -> list[QualificationPublic]:
    participant = lookup.participant(session, participant_id)
    authorize(
        actor=actor,
        action=Actions.PARTICIPANT_READ,
        resource=ParticipantResource(participant_id=participant_id, status=participant.status),
        missing=lookup.missing_participant(participant_id),
    )
    rows = session.scalars(
        select(Qualification)
        .where(Qualification.participant_id == participant_id)
        .order_by(Qualification.id)
    )
    return [view(q, today=today) for q in rows]


def view(qualification: Qualification, *, today: date | None = None) -> QualificationPublic:
    day = today or date.today()
    return QualificationPublic(
        id=qualification.id,
        participant_id=qualification.participant_id,
        name=qualification.name,
        level=qualification.level,
        issuer=qualification.issuer,
        valid_from=qualification.valid_from,
        valid_until=qualification.valid_until,
        evidence_sha256=qualification.evidence_sha256,
        valid_today=qualification.valid_from <= day <= qualification.valid_until,
    )
