"""Typed platform events, recorded as entries of the transparency log.

Every mutating service call records one event in the same database
transaction as its domain rows ("no state change without its log
entry"). The event's position in the transparency log is its ``seq``.
The entry encoding is :mod:`datacompact.ledger.formats.entry`; the append
is :mod:`datacompact.ledger.log.entries`. This module depends on the ledger,
never the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.ledger.log.entries import AppendedEntry, append_entries
from datacompact.permissions import Actions, LedgerResource, Principal, authorize
from datacompact.store.models import Event

T = TypeVar("T")


class EventType(StrEnum):
    """Every kind of event the platform records. Each is documented in docs/events.md."""

    PLATFORM_BOOTSTRAPPED = "platform.bootstrapped"
    PARTICIPANT_REGISTERED = "participant.registered"
    PARTICIPANT_APPROVED = "participant.approved"
    PARTICIPANT_REJECTED = "participant.rejected"
    PARTICIPANT_SUSPENDED = "participant.suspended"
    PARTICIPANT_REINSTATED = "participant.reinstated"
    PARTICIPANT_REVOKED = "participant.revoked"
    PARTICIPANT_CONTACTS_UPDATED = "participant.contacts_updated"
    PARTICIPANT_KEY_ROTATED = "participant.key_rotated"
    QUALIFICATION_ADDED = "qualification.added"
    MEMBER_CREATED = "member.created"
    MEMBER_ROLES_CHANGED = "member.roles_changed"
    MEMBER_DEACTIVATED = "member.deactivated"
    MEMBER_PASSWORD_SET = "member.password_set"  # noqa: S105 - an event type
    TOKEN_ISSUED = "token.issued"  # noqa: S105 - an event type
    TOKEN_REVOKED = "token.revoked"  # noqa: S105 - an event type
    RESOURCE_REGISTERED = "resource.registered"
    RESOURCE_VERSION_INGESTED = "resource.version_ingested"
    RESOURCE_GRADE_PROPOSED = "resource.grade_proposed"
    RESOURCE_GRADE_CONFIRMED = "resource.grade_confirmed"
    RESOURCE_GRADE_OVERRIDDEN = "resource.grade_overridden"
    RESOURCE_DICTIONARY_UPDATED = "resource.dictionary_updated"
    STANDARD_REGISTERED = "standard.registered"
    APPLICATION_SUBMITTED = "application.submitted"
    APPLICATION_REVIEWED = "application.reviewed"
    APPLICATION_AMENDED = "application.amended"
    APPLICATION_WITHDRAWN = "application.withdrawn"
    GRANT_ISSUED = "grant.issued"
    GRANT_SUSPENDED = "grant.suspended"
    GRANT_REINSTATED = "grant.reinstated"
    GRANT_REVOKED = "grant.revoked"
    GRANT_NEEDS_REVIEW = "grant.needs_review"
    QUERY_EXECUTED = "query.executed"
    QUERY_REFUSED = "query.refused"
    QUERY_FAILED = "query.failed"
    PSI_OPENED = "psi.opened"
    PSI_EXECUTED = "psi.executed"
    PSI_FAILED = "psi.failed"
    RELEASE_COMPUTED = "release.computed"
    PROJECT_CREATED = "project.created"
    PROJECT_RESOURCES_LINKED = "project.resources_linked"
    PROJECT_MODE_DECIDED = "project.mode_decided"
    MEETING_RECORDED = "project.meeting_recorded"
    LOT_CREATED = "lot.created"
    LOT_CANCELLED = "lot.cancelled"
    TENDER_PUBLISHED = "tender.published"
    BID_SUBMITTED = "bid.submitted"
    BIDS_OPENED = "tender.bids_opened"
    BID_SCORED = "bid.scored"
    RULE_EXCEPTION_GRANTED = "rule_exception.granted"
    LOT_AWARDED = "lot.awarded"
    CONTRACT_SIGNED = "contract.signed"
    CONTRACT_HANDOVER_UPDATED = "contract.handover_updated"
    SLA_REPORTED = "contract.sla_reported"
    MILESTONE_ACCEPTED = "contract.milestone_accepted"
    CONTRACT_ACCEPTED = "contract.accepted"
    DELIVERABLE_DEPOSITED = "contract.deliverable_deposited"
    ESCROW_RELEASED = "contract.escrow_released"
    LEDGER_ENTRIES_LOST = "ledger.entries_lost"
    SHARE_RULE_SET = "share_rule.set"
    SHARES_DISTRIBUTED = "shares.distributed"
    RATING_SUBMITTED = "rating.submitted"
    RATING_REVISED = "rating.revised"
    RATING_ANSWERED = "rating.answered"
    PRICE_ITEM_LISTED = "price.item_listed"
    PRICE_CEILING_SET = "price.ceiling_set"
    PRICE_SET = "price.set"
    PURPOSE_CLASS_ASSIGNED = "billing.purpose_assigned"
    USAGE_RECORDED = "billing.usage_recorded"
    MISUSE_REPORTED = "billing.misuse_reported"
    STATEMENT_ISSUED = "billing.statement_issued"
    REVENUE_CAP_SET = "billing.revenue_cap_set"
    ANNUAL_REPORT_FILED = "billing.annual_report_filed"


class NewEvent(NamedTuple):
    """One event to record: what happened to which object, and its private payload."""

    type: EventType
    object_type: str
    object_id: str | int
    payload: dict[str, Any]


def record_events(
    session: Session, *, actor: Principal, events: Sequence[NewEvent]
) -> list[AppendedEntry]:
    """Append events to the log inside the caller's transaction, in order.

    See :func:`datacompact.ledger.log.entries.append_entries`, which this calls
    with the actor's label and participant.
    """
    return append_entries(
        session, actor=actor.label, actor_participant=actor.participant_id, entries=events
    )


def record_event(
    session: Session,
    *,
    actor: Principal,
    type: EventType,
    object_type: str,
    object_id: str | int,
    payload: dict[str, Any],
) -> AppendedEntry:
    """Append one event to the log inside the caller's transaction."""
    (recorded,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(type, object_type, object_id, payload)],
    )
    return recorded


@dataclass(frozen=True, slots=True)
class Recorded(Generic[T]):
    """What a mutating service call returns: its result and the index of its log entry."""

    value: T
    log_index: int


def list_events(
    *, session: Session, actor: Principal, after: int = -1, limit: int = 100
) -> list[Event]:
    """Events in log order, starting after index ``after``."""
    authorize(actor=actor, action=Actions.LEDGER_READ, resource=LedgerResource())
    query = select(Event).where(Event.seq > after).order_by(Event.seq).limit(limit)
    return list(session.scalars(query))
