"""The recovery statement: what a log declares lost after a restore behind a checkpoint.

A store restored from a backup can be behind the last checkpoint the log
published: entries ``restored_size .. old_size - 1`` existed, were signed
over and may have been mirrored or handed out as receipts, and are gone. The
log cannot continue silently (auditors would rightly see a fork), so
``datacompact recover`` appends one ``ledger.entries_lost`` event at index
``restored_size`` whose payload is this statement::

    {"statement": "entries_lost", "origin": "<log origin>",
     "old_size": N, "old_root": "<hex>", "restored_size": B,
     "lost_first": B, "lost_last": N - 1, "lost_count": N - B,
     "old_checkpoint": "<the signed checkpoint note of size N>"}

The platform serves every statement with its payload and salt at
``GET /ledger/recoveries``, so anyone can check it against the log entry
(the salted commitment) and check the old checkpoint's log signature. The
fork stays a fork: the statement makes it explicit and bounded, it does not
make the old tree and the new one consistent. :func:`verify_statement` is the
one check both ``ledger check`` and ``datacompact audit`` run.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from datacompact.errors import DataCompactError, MalformedInput, VerificationFailed
from datacompact.ledger.formats.checkpoint import Checkpoint, open_checkpoint
from datacompact.ledger.formats.entry import payload_commitment
from datacompact.ledger.formats.note import Ed25519Verifier

EVENT_TYPE = "ledger.entries_lost"
OBJECT_TYPE = "ledger"
OBJECT_ID = "entries_lost"
STATEMENT = "entries_lost"


@dataclass(frozen=True)
class Statement:
    """A verified recovery statement at log index ``index`` (= ``restored_size``)."""

    index: int
    origin: str
    old_size: int
    old_root: bytes
    restored_size: int
    old_checkpoint: str

    @property
    def lost_count(self) -> int:
        return self.old_size - self.restored_size

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "old_size": self.old_size,
            "old_root": self.old_root.hex(),
            "restored_size": self.restored_size,
            "lost_first": self.restored_size,
            "lost_last": self.old_size - 1,
            "lost_count": self.lost_count,
        }


def build_payload(evidence: Checkpoint, note: str, restored_size: int) -> dict[str, Any]:
    """The payload of the statement declaring entries ``restored_size..evidence.size-1`` lost."""
    return {
        "statement": STATEMENT,
        "origin": evidence.origin,
        "old_size": evidence.size,
        "old_root": evidence.root_hash.hex(),
        "restored_size": restored_size,
        "lost_first": restored_size,
        "lost_last": evidence.size - 1,
        "lost_count": evidence.size - restored_size,
        "old_checkpoint": note,
    }


def _refuse(message: str, **details: Any) -> VerificationFailed:
    return VerificationFailed(
        f"恢复声明无效 / expected a valid recovery statement, got {message}", details=details
    )


def verify_statement(
    *, index: int, entry: bytes, payload: Any, salt: bytes, log: Ed25519Verifier
) -> Statement:
    """Check a statement against its log entry and the old checkpoint's signature.

    The entry must be a ``ledger.entries_lost`` entry at ``index`` committing
    to exactly this payload under this salt; the payload's old size and root
    must be those of a checkpoint signed by the log key; the restored size
    must be the entry's own index and smaller than the old size.
    """
    try:
        body = json.loads(entry)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _refuse("an entry that is not JSON", index=index) from exc
    if not isinstance(body, dict) or body.get("seq") != index:
        raise _refuse("an entry of another index", index=index)
    if body.get("type") != EVENT_TYPE or body.get("object") != {
        "type": OBJECT_TYPE,
        "id": OBJECT_ID,
    }:
        raise _refuse("an entry of another type", index=index)
    if not isinstance(payload, dict) or payload.get("statement") != STATEMENT:
        raise _refuse("a payload of another kind", index=index)
    try:
        commitment = payload_commitment(payload, salt)
    except TypeError as exc:
        raise _refuse("a payload that is not canonical JSON", index=index) from exc
    if commitment != body.get("payload_sha256"):
        raise _refuse("a payload the entry does not commit to", index=index)
    note = payload.get("old_checkpoint")
    if not isinstance(note, str):
        raise _refuse("no old checkpoint", index=index)
    try:
        old = open_checkpoint(note, [log]).checkpoint
    except DataCompactError as exc:
        raise _refuse("an old checkpoint not signed by the log key", index=index) from exc
    restored = payload.get("restored_size")
    expected = build_payload(old, note, index)
    if restored != index or payload != expected:
        raise _refuse("sizes or root that differ from the old checkpoint", index=index)
    if not 0 <= index < old.size:
        raise _refuse("a restored size not below the old size", index=index)
    return Statement(index, old.origin, old.size, old.root_hash, index, note)


def parse_served(item: Any, log: Ed25519Verifier) -> tuple[Statement, bytes]:
    """One item of ``GET /ledger/recoveries``, verified; also returns the entry bytes."""
    if not isinstance(item, dict):
        raise MalformedInput("expected a recovery statement object, got another JSON value")
    try:
        index = item["index"]
        entry = base64.b64decode(item["entry"], validate=True)
        salt = bytes.fromhex(item["salt"])
        payload = item["payload"]
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise MalformedInput(
            "expected index, entry, salt and payload in a recovery statement, got others"
        ) from exc
    if not isinstance(index, int) or isinstance(index, bool):
        raise MalformedInput("expected an integer statement index, got another value")
    return verify_statement(index=index, entry=entry, payload=payload, salt=salt, log=log), entry
