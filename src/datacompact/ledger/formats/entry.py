"""The canonical encoding of a log entry, the bytes the Merkle log hashes.

Canonical encoding (version 1) of an entry::

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

>>> from datetime import UTC, datetime
>>> EntryFields(
...     seq=0, type="platform.bootstrapped", time=datetime(2026, 1, 1, tzinfo=UTC),
...     actor="operator", actor_participant=None, object_type="platform", object_id="1",
...     payload_sha256="00" * 32,
... ).encode()[:60]
b'{"actor":"operator","actor_participant":null,"object":{"id":'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "ENTRY_VERSION",
    "MAX_ENTRY_BYTES",
    "SALT_BYTES",
    "EntryFields",
    "canonical_json",
    "format_time",
    "payload_commitment",
]

ENTRY_VERSION = 1
MAX_ENTRY_BYTES = 64 * 1024
SALT_BYTES = 16


def canonical_json(value: Any) -> bytes:
    """The one JSON serialization used for hashing. Floats are refused, not rounded.

    orjson with sorted keys writes exactly what ``json.dumps(sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`` writes for strings, integers,
    null, lists and objects (a test holds the two together), at a fifteenth of
    the cost, which matters on the log's append path.

    >>> canonical_json({"b": 1, "a": "数据"}).decode()
    '{"a":"数据","b":1}'
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
