"""The canonical encoding of log entries: golden bytes, canonical JSON, salted commitments."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from datacompact.ledger.formats.entry import (
    EntryFields,
    canonical_json,
    format_time,
    payload_commitment,
)


def test_entry_encoding_is_canonical_golden() -> None:
    fields = EntryFields(
        seq=41,
        type="participant.approved",
        time=datetime(2026, 11, 29, 1, 55, 43, 161404, tzinfo=UTC),
        actor="member:7",
        actor_participant=3,
        object_type="participant",
        object_id="12",
        payload_sha256="ab" * 32,
    )
    assert fields.encode() == (
        b'{"actor":"member:7","actor_participant":3,"object":{"id":"12","type":"participant"},'
        b'"payload_sha256":"' + b"ab" * 32 + b'","seq":41,"time":"2026-11-29T01:55:43.161404Z",'
        b'"type":"participant.approved","v":1}'
    )


def test_canonical_json_sorts_keeps_unicode_and_refuses_floats() -> None:
    assert canonical_json({"b": 1, "a": "数据"}) == '{"a":"数据","b":1}'.encode()
    with pytest.raises(TypeError):
        canonical_json({"stake": 0.51})


def test_commitment_is_salted() -> None:
    payload = {"phone": "13800138000"}
    unsalted = hashlib.sha256(canonical_json(payload)).hexdigest()
    one = payload_commitment(payload, b"\x01" * 16)
    two = payload_commitment(payload, b"\x02" * 16)
    assert one != two
    assert unsalted not in (one, two)
    assert one == hashlib.sha256(b"\x01" * 16 + canonical_json(payload)).hexdigest()


def test_canonical_json_writes_what_sorted_compact_json_dumps_writes() -> None:
    value = {"z": [1, None, "é"], "a": {"y": "数据", "b": -3}, "m": ""}
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected.encode()


def test_canonical_json_refuses_nested_floats_and_foreign_types() -> None:
    with pytest.raises(TypeError, match="no floats"):
        canonical_json({"a": [{"b": 1.5}]})
    with pytest.raises(TypeError, match="only str, int, None"):
        canonical_json({"a": b"bytes"})


def test_time_is_utc_with_six_fractional_digits() -> None:
    moment = datetime(2026, 11, 29, 9, 55, 43, 5, tzinfo=timezone(timedelta(hours=8)))
    assert format_time(moment) == "2026-11-29T01:55:43.000005Z"
    with pytest.raises(TypeError, match="timezone-aware"):
        format_time(datetime(2026, 11, 29))


def test_entry_encodes_the_given_time_text() -> None:
    fields = EntryFields(
        seq=0,
        type="platform.bootstrapped",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        actor="operator",
        actor_participant=None,
        object_type="platform",
        object_id="1",
        payload_sha256=payload_commitment({}, bytes(16)),
    )
    body = json.loads(fields.encode("2026-01-01T00:00:00.000001Z"))
    assert body["time"] == "2026-01-01T00:00:00.000001Z"
    assert body["payload_sha256"] == hashlib.sha256(bytes(16) + b"{}").hexdigest()
