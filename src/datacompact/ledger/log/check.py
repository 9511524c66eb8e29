"""``datacompact ledger check``: recompute the log from its entries and compare everything.

The stored node hashes make appends and proofs cheap, so they must never be
trusted blindly. This check rebuilds the whole tree from the entry bytes and
compares, for every position, what is stored:

- the entries are numbered 0..n-1 without gap, and each entry names its own
  index (a reordered or inserted row fails here);
- each event row agrees with its entry (type, actor, object, time) and its
  payload still matches the salted commitment in the entry;
- every stored inner node hash (level 1 and up; leaf hashes are never
  stored, see ``ledger.log``) equals the recomputed one, and no extra node
  exists;
- the head's size, right edge and root equal the recomputed ones;
- every signed checkpoint carries a valid log signature, and its root equals
  the recomputed root at its size (history rewritten under a signed
  checkpoint, even with every hash recomputed, fails here);
- every recovery statement (``ledger.entries_lost``, see ``ledger.formats.statement``)
  verifies: its entry commits to its payload, the old checkpoint it names is
  signed by the log key, and it sits at the restored size it declares. The
  statements are listed in the report, so the declared loss is never silent.

A log held behind a published checkpoint (restored, not yet recovered) is
reported in ``held``; that is not damage, but appends are refused.

Rows are streamed; memory is one hash per node (about 64 bytes per entry).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.errors import DataCompactError
from datacompact.ledger.formats import merkle, statement
from datacompact.ledger.formats.checkpoint import open_checkpoint
from datacompact.ledger.formats.entry import format_time, payload_commitment
from datacompact.ledger.formats.note import Ed25519Verifier
from datacompact.store.models import Checkpoint, Event, LedgerHead, LedgerNode

_BATCH = 5000


@dataclass
class CheckReport:
    size: int = 0
    nodes: int = 0
    checkpoints: int = 0
    root: bytes = merkle.EMPTY_ROOT
    problems: list[str] = field(default_factory=list)
    #: the verified recovery statements, in log order
    recoveries: list[dict[str, Any]] = field(default_factory=list)
    #: the size of the published checkpoint the log is held behind, if any
    held_size: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str) -> None:
        # Past a hundred findings the rest add nothing but noise.
        if len(self.problems) < 100:
            self.problems.append(problem)


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every complete subtree hash, level by level (level 0 = the leaves)."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append(
            [merkle.node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        )
    return levels


def _root_at(levels: list[list[bytes]], size: int) -> bytes:
    if size == 0:
        return merkle.EMPTY_ROOT
    nodes = merkle.range_nodes(0, size)
    root = levels[nodes[-1][0]][nodes[-1][1]]
    for level, index in reversed(nodes[:-1]):
        root = merkle.node_hash(levels[level][index], root)
    return root


def _entry_bytes(event: Event, report: CheckReport) -> bytes:
    # A row edited by hand can come back as text instead of a blob.
    if isinstance(event.entry, bytes):
        return event.entry
    report.add(f"entry {event.seq}: stored as text, not as the original bytes")
    return str(event.entry).encode("utf-8", "surrogatepass")


def _check_event(event: Event, entry: bytes, report: CheckReport) -> None:
    try:
        body = json.loads(entry)
    except (UnicodeDecodeError, json.JSONDecodeError):
        report.add(f"entry {event.seq}: not canonical JSON")
        return
    if not isinstance(body, dict) or body.get("seq") != event.seq:
        report.add(f"entry {event.seq}: names another index (reordered or inserted)")
        return
    expected = {
        "type": event.type,
        "actor": event.actor,
        "actor_participant": event.actor_participant_id,
        "object": {"type": event.object_type, "id": event.object_id},
        "time": format_time(event.occurred_at),
        "payload_sha256": event.payload_sha256,
    }
    for key, value in expected.items():
        if body.get(key) != value:
            report.add(f"entry {event.seq}: event row disagrees with the entry on '{key}'")
    if payload_commitment(event.payload, event.salt) != body.get("payload_sha256"):
        report.add(f"entry {event.seq}: payload no longer matches its commitment")


def check_ledger(session: Session, *, log_verifier: Ed25519Verifier) -> CheckReport:
    report = CheckReport()
    leaves: list[bytes] = []
    expected_seq = 0
    last = -1
    while True:
        batch = list(
            session.scalars(select(Event).where(Event.seq > last).order_by(Event.seq).limit(_BATCH))
        )
        if not batch:
            break
        for event in batch:
            if event.seq != expected_seq:
                report.add(
                    f"entries {expected_seq}..{event.seq - 1}: missing (gap before {event.seq})"
                )
                expected_seq = event.seq
            entry = _entry_bytes(event, report)
            _check_event(event, entry, report)
            leaves.append(merkle.leaf_hash(entry))
            expected_seq += 1
        last = batch[-1].seq
        session.expunge_all()
    report.size = len(leaves)
    levels = _levels(leaves)
    report.root = _root_at(levels, len(leaves))

    stored = 0
    for level, idx, value in session.execute(
        select(LedgerNode.level, LedgerNode.idx, LedgerNode.hash).order_by(
            LedgerNode.level, LedgerNode.idx
        )
    ).yield_per(_BATCH):
        stored += 1
        if level == 0 or level >= len(levels) or idx >= len(levels[level]):
            report.add(f"node ({level}, {idx}): stored but not part of the tree")
        elif levels[level][idx] != value:
            report.add(f"node ({level}, {idx}): stored hash differs from the recomputed one")
    report.nodes = stored
    expected_nodes = sum(len(level) for level in levels[1:])
    if stored != expected_nodes:
        report.add(f"nodes: {stored} stored, {expected_nodes} expected")

    head = session.get(LedgerHead, 1)
    if head is None:
        report.add("head: missing")
    else:
        if head.size != report.size:
            report.add(f"head: size {head.size}, but {report.size} entries")
        if head.root != report.root:
            report.add("head: root differs from the recomputed root")
        if report.size and head.edge != b"".join(
            levels[level][index] for level, index in merkle.range_nodes(0, report.size)
        ):
            report.add("head: right edge differs from the recomputed tree")

    for row in session.scalars(select(Checkpoint).order_by(Checkpoint.size)):
        report.checkpoints += 1
        try:
            signed = open_checkpoint(row.note, [log_verifier]).checkpoint
        except DataCompactError as exc:
            report.add(f"checkpoint {row.size}: log signature does not verify ({exc.code})")
            continue
        if signed.size != row.size or signed.root_hash != row.root:
            report.add(f"checkpoint {row.size}: row disagrees with its signed note")
        if signed.size > report.size:
            report.add(f"checkpoint {signed.size}: signed for more entries than the log holds")
        elif _root_at(levels, signed.size) != signed.root_hash:
            report.add(f"checkpoint {signed.size}: signed root differs from the recomputed history")
    _check_statements(session, log_verifier, report)
    if head is not None:
        report.held_size = head.held_size
    return report


def _check_statements(session: Session, log_verifier: Ed25519Verifier, report: CheckReport) -> None:
    rows = session.scalars(
        select(Event)
        .where(Event.object_type == statement.OBJECT_TYPE, Event.type == statement.EVENT_TYPE)
        .order_by(Event.seq)
    )
    for row in rows:
        try:
            found = statement.verify_statement(
                index=row.seq, entry=row.entry, payload=row.payload, salt=row.salt, log=log_verifier
            )
        except DataCompactError as exc:
            report.add(f"entry {row.seq}: recovery statement does not verify ({exc.code})")
            continue
        report.recoveries.append(found.to_dict())
