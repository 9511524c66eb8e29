"""Typed platform events and their canonical encoding as log entries.

Every mutating service call records one event in the same database
transaction as its domain rows ("no state change without its log
entry"). The event's position in the transparency log is its ``seq``.

Canonical encoding (version 1) of an entry, the bytes the Merkle log hashes::

    {"actor":"member:7","actor_participant":3,"object":{"id":"12","type":"participant"},
     "payload_sha256":"<64 hex>","seq":41,"time":"2026-11-29T01:55:43.161404Z",
     "type":"participant.approved","v":1}

- UTF-8 JSON with keys sorted, no insignificant whitespace, non-ASCII kept as is;
- only strings, integers and null, so no float formatting can differ;
- ``time`` is UTC with exactly six fractional digits and a ``Z``;
- ``payload_sha256`` is SHA-256(salt ‖ canonical JSON of the payload) with a
  fresh 16-byte salt per event. The salt keeps the commitment hiding: the
  public log cannot be used to test guesses of a payload (a phone number, a
  name), while whoever is shown the payload and salt can check it.

An entry is at most :data:`MAX_ENTRY_BYTES` long.
"""

from __future__ import annotations

import gc
import hashlib
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, NamedTuple, TypeVar

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.errors import PayloadTooLarge
from datacompact.ledger import log, merkle
from datacompact.permissions import Actions, LedgerResource, Principal, authorize
from datacompact.store.base import utcnow
from datacompact.store.bulk import insert_rows
from datacompact.store.models import Event

T = TypeVar("T")

ENTRY_VERSION = 1
MAX_ENTRY_BYTES = 64 * 1024
SALT_BYTES = 16


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
    TOKEN_ISSUED = "token.issued"
    TOKEN_REVOKED = "token.revoked"
    RESOURCE_REGISTERED = "resource.registered"
    RESOURCE_VERSION_INGESTED = "resource.version_ingested"
    RESOURCE_GRADE_PROPOSED = "resource.grade_proposed"
    RESOURCE_GRADE_CONFIRMED = "resource.grade_confirmed"
    RESOURCE_GRADE_OVERRIDDEN = "resource.grade_overridden"
    RESOURCE_DICTIONARY_UPDATED = "resource.dictionary_updated"
    STANDARD_REGISTERED = "standard.registered"
    APPLICATION_SUBMITTED = "application.submitted"
    APPLICATION_REVIEWED = "application.reviewed"
    GRANT_ISSUED = "grant.issued"
    GRANT_SUSPENDED = "grant.suspended"
    GRANT_REINSTATED = "grant.reinstated"
    GRANT_REVOKED = "grant.revoked"
    QUERY_EXECUTED = "query.executed"
    QUERY_REFUSED = "query.refused"
    QUERY_FAILED = "query.failed"
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


def canonical_json(value: Any) -> bytes:
    """The one JSON serialization used for hashing. Floats are refused, not rounded.

    orjson with sorted keys writes exactly what ``json.dumps(sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`` writes for strings, integers,
    null, lists and objects (a test holds the two together), at a fifteenth of
    the cost, which matters on the log's append path.
    """
    _reject_floats(value)
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise TypeError("canonical JSON carries only str, int, None, lists and dicts") from exc


def _reject_floats(value: Any) -> None:
    if type(value) in (str, int):  # the common case, checked without recursion
        return
    if isinstance(value, float):
        raise TypeError("canonical JSON carries no floats; encode the value as a string")
    if isinstance(value, dict):
        for item in value.values():
            _reject_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_floats(item)


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with six fractional digits, e.g. ``2026-11-29T01:55:43.161404Z``."""
    if moment.tzinfo is None:
        raise TypeError("event times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def payload_commitment(payload: dict[str, Any], salt: bytes) -> str:
    """Hex SHA-256(salt ‖ canonical JSON of the payload)."""
    return hashlib.sha256(salt + canonical_json(payload)).hexdigest()


@dataclass(frozen=True, slots=True)
class EntryFields:
    """The fields of one log entry, before encoding."""

    seq: int
    type: str
    time: datetime
    actor: str
    actor_participant: int | None
    object_type: str
    object_id: str
    payload_sha256: str

    def encode(self, time_text: str | None = None) -> bytes:
        # The fields are typed (str, int, None), so no float check is needed here.
        body = {
            "v": ENTRY_VERSION,
            "seq": self.seq,
            "type": self.type,
            "time": time_text or format_time(self.time),
            "actor": self.actor,
            "actor_participant": self.actor_participant,
            "object": {"type": self.object_type, "id": self.object_id},
            "payload_sha256": self.payload_sha256,
        }
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


class NewEvent(NamedTuple):
    """One event to record: what happened to which object, and its private payload."""

    type: EventType
    object_type: str
    object_id: str | int
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """Where an event landed in the log."""

    seq: int
    leaf_hash: bytes


_EVENT_COLUMNS = (
    "seq",
    "type",
    "actor",
    "actor_participant_id",
    "object_type",
    "object_id",
    "occurred_at",
    "payload",
    "salt",
    "payload_sha256",
    "entry",
)


def record_events(
    session: Session, *, actor: Principal, events: Sequence[NewEvent]
) -> list[RecordedEvent]:
    """Append events to the log inside the caller's transaction, in order.

    The log head is locked first, so concurrent writers get consecutive
    indices with no gap: a writer that rolls back also rolls back its advance
    of the head and every hash it stored.
    """
    with _cycle_collector_paused(len(events) >= _LARGE_BATCH):
        return _record(session, actor=actor, events=events)


# A batch this large allocates hundreds of thousands of short-lived tuples and
# dicts, none in a reference cycle; left on, the cycle collector would run
# dozens of times over them (measured: 30% of a 10,000-event batch).
_LARGE_BATCH = 256


@contextmanager
def _cycle_collector_paused(pause: bool) -> Iterator[None]:
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _record(
    session: Session, *, actor: Principal, events: Sequence[NewEvent]
) -> list[RecordedEvent]:
    head = log.lock_head(session)
    log.refuse_if_held(head)
    now = utcnow()
    time_text = format_time(now)
    rows: list[tuple[Any, ...]] = []
    recorded: list[RecordedEvent] = []
    for offset, new in enumerate(events):
        salt = secrets.token_bytes(SALT_BYTES)
        fields = EntryFields(
            seq=head.size + offset,
            type=new.type.value,
            time=now,
            actor=actor.label,
            actor_participant=actor.participant_id,
            object_type=new.object_type,
            object_id=str(new.object_id),
            payload_sha256=payload_commitment(new.payload, salt),
        )
        entry = fields.encode(time_text)
        if len(entry) > MAX_ENTRY_BYTES:
            raise PayloadTooLarge(
                f"expected a log entry of at most {MAX_ENTRY_BYTES} bytes, got {len(entry)} bytes",
                details={"limit": MAX_ENTRY_BYTES},
            )
        rows.append(
            (
                fields.seq,
                fields.type,
                fields.actor,
                fields.actor_participant,
                fields.object_type,
                fields.object_id,
                now,
                new.payload,
                salt,
                fields.payload_sha256,
                entry,
            )
        )
        recorded.append(RecordedEvent(fields.seq, merkle.leaf_hash(entry)))
    if rows:
        insert_rows(session, Event.__table__, _EVENT_COLUMNS, rows)
        log.append_leaves(session, head, [r.leaf_hash for r in recorded])
    return recorded


def record_event(
    session: Session,
    *,
    actor: Principal,
    type: EventType,
    object_type: str,
    object_id: str | int,
    payload: dict[str, Any],
) -> RecordedEvent:
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
