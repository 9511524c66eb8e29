"""The event stream: commitments, contiguity, atomicity (both backends)."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, select

from datacompact.errors import PayloadTooLarge
from datacompact.events import EventType, record_event
from datacompact.ledger.formats import merkle
from datacompact.ledger.formats.entry import MAX_ENTRY_BYTES, payload_commitment
from datacompact.permissions import Principal
from datacompact.store.models import Event, LedgerHead

from ..conftest import World


def test_events_are_contiguous_and_verifiable(world: World) -> None:
    with world.platform.db.read() as session:
        events = list(session.scalars(select(Event).order_by(Event.seq)))
        head = session.get(LedgerHead, 1)
    assert head is not None
    assert head.size == len(events)
    assert head.root == merkle.root_from_leaves([e.entry for e in events])
    assert [e.seq for e in events] == list(range(len(events)))
    for event in events:
        body = json.loads(event.entry)
        assert body["seq"] == event.seq
        assert body["type"] == event.type
        assert body["payload_sha256"] == payload_commitment(event.payload, event.salt)
        # Entries carry no payload, only its commitment.
        assert set(body) == {
            "v",
            "seq",
            "type",
            "time",
            "actor",
            "actor_participant",
            "object",
            "payload_sha256",
        }


def test_rollback_leaves_no_event_and_no_gap(world: World) -> None:
    actor = world.principal("regulator.admin")
    with world.platform.db.read() as session:
        before = session.scalar(select(func.count()).select_from(Event))
    # The raise inside the transaction is the point: it must roll back.
    with pytest.raises(RuntimeError), world.platform.db.write() as session:  # noqa: PT012
        record_event(
            session,
            actor=actor,
            type=EventType.MEMBER_CREATED,
            object_type="member",
            object_id=1,
            payload={},
        )
        raise RuntimeError("abort after the append")
    with world.platform.db.write() as session:
        event = record_event(
            session,
            actor=actor,
            type=EventType.MEMBER_CREATED,
            object_type="member",
            object_id=1,
            payload={},
        )
    assert event.seq == before


def test_oversized_entry_is_refused(world: World) -> None:
    actor = Principal(label="x" * 100, governance=world.platform.settings.governance_mode)
    with pytest.raises(PayloadTooLarge), world.platform.db.write() as session:
        record_event(
            session,
            actor=actor,
            type=EventType.MEMBER_CREATED,
            object_type="member",
            object_id="9" * (MAX_ENTRY_BYTES + 1),
            payload={},
        )


def test_concurrent_writers_get_distinct_contiguous_indices(world: World) -> None:
    actor = world.principal("regulator.admin")
    with world.platform.db.read() as session:
        start = session.scalar(select(func.count()).select_from(Event)) or 0
    seen: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(10):
                with world.platform.db.write() as session:
                    event = record_event(
                        session,
                        actor=actor,
                        type=EventType.MEMBER_CREATED,
                        object_type="member",
                        object_id=1,
                        payload={},
                    )
                    seq = event.seq
                with lock:
                    seen.append(seq)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(seen) == list(range(start, start + 60))
