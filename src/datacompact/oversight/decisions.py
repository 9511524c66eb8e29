"""A member's own decisions as a reviewer: what they decided, when, and the log entry of each.

Read from the event log, where every decision is recorded with the member
who made it (``actor``), so the history is exactly what the log says and
needs no table of its own. Only the member's own decisions: a colleague's
are theirs to list (and everyone's are in the public log, as commitments).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.events import EventType
from datacompact.permissions import Actions, PartyResource, Principal, authorize
from datacompact.store.models import Event

#: The events that are a reviewer's decision, and the kind of object each decides on.
DECISIONS: dict[str, str] = {
    EventType.APPLICATION_REVIEWED.value: "application",
    EventType.PARTICIPANT_APPROVED.value: "participant",
    EventType.PARTICIPANT_REJECTED.value: "participant",
    EventType.PARTICIPANT_SUSPENDED.value: "participant",
    EventType.PARTICIPANT_REINSTATED.value: "participant",
    EventType.PARTICIPANT_REVOKED.value: "participant",
    EventType.PROJECT_MODE_DECIDED.value: "project",
    EventType.RULE_EXCEPTION_GRANTED.value: "rule_exception",
}
_PARTICIPANT_DECISION = {
    EventType.PARTICIPANT_APPROVED.value: "approve",
    EventType.PARTICIPANT_REJECTED.value: "reject",
    EventType.PARTICIPANT_SUSPENDED.value: "suspend",
    EventType.PARTICIPANT_REINSTATED.value: "reinstate",
    EventType.PARTICIPANT_REVOKED.value: "revoke",
}


class DecisionPublic(BaseModel):
    """One decision the member made, as its log entry records it."""

    log_index: int
    type: str
    object_type: str
    object_id: int
    decision: str
    reason: str
    at: datetime


def my_decisions(*, session: Session, actor: Principal, limit: int = 100) -> list[DecisionPublic]:
    """The calling member's decisions, newest first (at most ``limit``)."""
    authorize(
        actor=actor,
        action=Actions.INBOX_READ,
        resource=PartyResource(participant_id=actor.participant_id),
    )
    rows = session.scalars(
        select(Event)
        .where(Event.actor == actor.label, Event.type.in_(list(DECISIONS)))
        .order_by(Event.seq.desc())
        .limit(limit)
    )
    found = []
    for row in rows:
        payload = row.payload if isinstance(row.payload, dict) else {}
        decision = payload.get("decision") or _PARTICIPANT_DECISION.get(row.type, "grant")
        found.append(
            DecisionPublic(
                log_index=row.seq,
                type=row.type,
                object_type=DECISIONS[row.type],
                object_id=int(row.object_id) if row.object_id.isdigit() else 0,
                decision=str(decision),
                reason=str(payload.get("reason") or ""),
                at=row.occurred_at,
            )
        )
    return found


__all__ = ["DECISIONS", "DecisionPublic", "my_decisions"]
