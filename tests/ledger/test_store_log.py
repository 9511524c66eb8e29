"""The log in the store, on SQLite and PostgreSQL: appends, proofs, checkpoints, tampering."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

from datacompact.api import create_app
from datacompact.errors import VerificationFailed
from datacompact.events import EventType, NewEvent, record_events
from datacompact.ledger import log
from datacompact.ledger.formats import merkle, tiles
from datacompact.ledger.formats.checkpoint import open_checkpoint
from datacompact.ledger.formats.note import Ed25519Verifier
from datacompact.ledger.log import checkpoints
from datacompact.ledger.log.check import check_ledger
from datacompact.permissions import Principal
from datacompact.store.models import Event, LedgerNode

from ..api.conftest import ApiClient
from ..conftest import World


def _entries(world: World) -> list[bytes]:
    with world.platform.db.read() as session:
        return list(session.scalars(select(Event.entry).order_by(Event.seq)))


def _grow(world: World, count: int) -> None:
    actor = world.principal("regulator.admin")
    with world.platform.db.write() as session:
        record_events(
            session,
            actor=actor,
            events=[
                NewEvent(EventType.MEMBER_CREATED, "member", i, {"n": i}) for i in range(count)
            ],
        )


def _verifier(world: World) -> Ed25519Verifier:
    return world.platform.log_signer.verifier()


def test_stored_root_and_proofs_match_the_reference(world: World) -> None:
    _grow(world, 300)  # past one full tile of 256
    entries = _entries(world)
    size = len(entries)
    root = merkle.root_from_leaves(entries)
    with world.platform.db.read() as session:
        assert log.read_head(session).root == root
        assert log.root_at(session, size) == root
        for index in (0, 1, 255, 256, size // 2, size - 1):
            proof = log.inclusion_proof(session, index=index, size=size)
            merkle.verify_inclusion(
                leaf_hash=merkle.leaf_hash(entries[index]),
                index=index,
                size=size,
                proof=proof,
                root=root,
            )
        for old in (1, 7, 64, 256, size - 1):
            proof = log.consistency_proof(session, old_size=old, new_size=size)
            merkle.verify_consistency(
                old_size=old,
                new_size=size,
                old_root=merkle.root_from_leaves(entries[:old]),
                new_root=root,
                proof=proof,
            )


def test_checkpoints_are_signed_once_per_size_and_stay_consistent(world: World) -> None:
    platform = world.platform
    first = checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)
    again = checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)
    assert again.id == first.id
    _grow(world, 5)
    second = checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)
    assert second.size == first.size + 5
    body = open_checkpoint(second.note, [_verifier(world)]).checkpoint
    assert body.origin == platform.settings.log_origin
    assert body.root_hash == merkle.root_from_leaves(_entries(world))


def test_the_log_refuses_to_sign_a_rewritten_history(world: World) -> None:
    platform = world.platform
    checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)
    _grow(world, 3)
    # Rewrite an entry under the signed checkpoint, and every hash up to the
    # head, so that the stored tree itself looks consistent.
    with platform.db.write() as session:
        _rewrite_history_consistently(session)
    with pytest.raises(VerificationFailed):
        checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)


def _set_node(session: Session, level: int, idx: int, value: bytes) -> None:
    session.execute(
        text("UPDATE ledger_nodes SET hash = :h WHERE level = :l AND idx = :i"),
        {"h": value, "l": level, "i": idx},
    )


def _rehash_from_leaves(session: Session) -> None:
    """Recompute every inner node and the head from the (possibly altered) entries."""
    entries = list(session.scalars(select(Event.entry).order_by(Event.seq)))
    session.execute(text("DELETE FROM ledger_nodes"))
    compact = merkle.CompactRange()
    result = compact.append(merkle.leaf_hash(e) for e in entries)
    session.execute(
        cast(Table, LedgerNode.__table__).insert(),
        [{"level": n.level, "idx": n.index, "hash": n.hash} for n in result.nodes if n.level],
    )
    session.execute(
        text("UPDATE ledger_head SET size = :s, edge = :e, root = :r"),
        {"s": result.size, "e": b"".join(compact.edge_hashes), "r": result.root},
    )


def _entry(session: Session, seq: int) -> bytes:
    value = session.scalar(select(Event.entry).where(Event.seq == seq))
    assert isinstance(value, bytes)
    return value


def _modify_entry(session: Session) -> None:
    entry = _entry(session, 3)
    session.execute(
        text("UPDATE events SET entry = :e WHERE seq = 3"),
        {"e": entry.replace(b'"v":1', b'"v":2')},
    )


def _delete_entry(session: Session) -> None:
    session.execute(text("DELETE FROM events WHERE seq = 4"))


def _reorder_entries(session: Session) -> None:
    a, b = _entry(session, 5), _entry(session, 6)
    session.execute(text("UPDATE events SET entry = :e WHERE seq = 5"), {"e": b})
    session.execute(text("UPDATE events SET entry = :e WHERE seq = 6"), {"e": a})


def _insert_entry(session: Session) -> None:
    # Shift the tail up by one and slot a forged entry in at 2.
    session.execute(text("UPDATE events SET seq = seq + 1000000 WHERE seq >= 2"))
    session.execute(text("UPDATE events SET seq = seq - 999999 WHERE seq >= 1000000"))
    row = session.scalar(select(Event).where(Event.seq == 3))
    assert row is not None
    session.execute(
        text(
            "INSERT INTO events (seq, type, actor, actor_participant_id, object_type, object_id,"
            " occurred_at, payload, salt, payload_sha256, entry)"
            " SELECT 2, type, actor, actor_participant_id, object_type, object_id, occurred_at,"
            " payload, salt, payload_sha256, entry FROM events WHERE seq = 3"
        )
    )


def _modify_node(session: Session) -> None:
    _set_node(session, 1, 0, b"\x22" * 32)


def _delete_node(session: Session) -> None:
    session.execute(text("DELETE FROM ledger_nodes WHERE level = 1 AND idx = 1"))


def _insert_node(session: Session) -> None:
    session.execute(
        text("INSERT INTO ledger_nodes (level, idx, hash) VALUES (40, 0, :h)"), {"h": b"\x33" * 32}
    )


def _modify_head(session: Session) -> None:
    session.execute(text("UPDATE ledger_head SET root = :r"), {"r": b"\x44" * 32})


def _modify_payload(session: Session) -> None:
    session.execute(text("UPDATE events SET payload_sha256 = :p WHERE seq = 2"), {"p": "0" * 64})


def _rewrite_history_consistently(session: Session) -> None:
    """The operator's best forgery: change an entry and recompute every hash and the head."""
    entry = _entry(session, 1)
    forged = entry.replace(b'"v":1', b'"v":1 ')
    session.execute(text("UPDATE events SET entry = :e WHERE seq = 1"), {"e": forged})
    _rehash_from_leaves(session)


def _reorder_nodes(session: Session) -> None:
    a = session.scalar(select(LedgerNode.hash).where(LedgerNode.level == 1, LedgerNode.idx == 3))
    b = session.scalar(select(LedgerNode.hash).where(LedgerNode.level == 1, LedgerNode.idx == 4))
    assert a is not None
    assert b is not None
    _set_node(session, 1, 3, b)
    _set_node(session, 1, 4, a)


TAMPERING: dict[str, Callable[[Session], None]] = {
    "modify_entry": _modify_entry,
    "delete_entry": _delete_entry,
    "reorder_entries": _reorder_entries,
    "insert_entry": _insert_entry,
    "modify_node": _modify_node,
    "delete_node": _delete_node,
    "insert_node": _insert_node,
    "reorder_nodes": _reorder_nodes,
    "modify_head": _modify_head,
    "modify_payload_commitment": _modify_payload,
    "rewrite_history_consistently": _rewrite_history_consistently,
}


def test_an_untouched_log_checks_clean(world: World) -> None:
    platform = world.platform
    checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)
    with platform.db.read() as session:
        report = check_ledger(session, log_verifier=_verifier(world))
    assert report.ok, report.problems
    assert report.size == len(_entries(world))
    assert report.checkpoints == 1


@pytest.mark.parametrize("tamper", TAMPERING, ids=list(TAMPERING))
def test_ledger_check_detects_tampering(world: World, tamper: str) -> None:
    platform = world.platform
    checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)
    with platform.db.write() as session:
        TAMPERING[tamper](session)
    with platform.db.read() as session:
        report = check_ledger(session, log_verifier=_verifier(world))
    assert not report.ok


def test_a_forged_checkpoint_signature_is_detected(world: World) -> None:
    platform = world.platform
    row = checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)
    forged = row.note.replace(row.note.splitlines()[-1][-10:], "A" * 10)
    with platform.db.write() as session:
        session.execute(text("UPDATE ledger_checkpoints SET note = :n"), {"n": forged})
    with platform.db.read() as session:
        report = check_ledger(session, log_verifier=_verifier(world))
    assert any("signature" in p for p in report.problems)


def test_tiles_checkpoint_and_receipts_over_http(world: World) -> None:
    _grow(world, 300)
    entries = _entries(world)
    http = ApiClient(create_app(world.platform))
    assert http.get("/ledger/checkpoint").status_code == 404  # reads never sign
    checkpoints.checkpoint_now(world.platform.db, signer=world.platform.log_signer, policy=None)
    vkey = http.get("/ledger/key").text.strip()
    assert vkey == world.platform.log_signer.verifier().vkey
    note = http.get("/ledger/checkpoint").text
    checkpoint = open_checkpoint(note, [Ed25519Verifier.from_vkey(vkey)]).checkpoint
    assert checkpoint.size == len(entries)
    # A generic tlog client's view: rebuild from the bundles.
    mirrored: list[bytes] = []
    for bundle in tiles.entry_bundles_for_size(checkpoint.size):
        response = http.get(f"/ledger/{bundle.path}")
        assert response.status_code == 200
        mirrored += tiles.parse_entry_bundle(response.content, bundle.width)
    assert mirrored == entries
    level0 = http.get("/ledger/tile/0/000")
    assert level0.content == b"".join(merkle.leaf_hash(e) for e in entries[:256])
    assert http.get(f"/ledger/tile/0/001.p/{len(entries) - 256}").status_code == 200
    missing = http.get("/ledger/tile/0/002")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    bad = http.get("/ledger/tile/0/x1")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "malformed_input"
    receipt = http.get("/ledger/proof/17").json()
    assert base64.b64decode(receipt["entry"]) == entries[17]
    merkle.verify_inclusion(
        leaf_hash=bytes.fromhex(receipt["leaf_hash"]),
        index=17,
        size=receipt["tree_size"],
        proof=[bytes.fromhex(h) for h in receipt["inclusion_proof"]],
        root=checkpoint.root_hash,
    )
    assert http.get("/ledger/proof/999999").status_code == 404
    assert http.get(f"/ledger/proof/17?size={checkpoint.size + 1}").status_code == 404
    assert http.get("/ledger/proof/99999999999999999999").status_code == 400
    assert http.get("/ledger/tile/entries/x036/x028/x797/x018/x963/967").status_code == 400


def test_every_state_change_returns_a_provable_log_index(world: World) -> None:
    http = ApiClient(create_app(world.platform))
    headers = {"Authorization": f"Bearer {world.tokens['enterprise.admin']}"}
    response = http.post("/api/v1/tokens", json={"label": "receipt"}, headers=headers)
    assert response.status_code == 201
    index = response.json()["receipt"]["log_index"]
    not_yet = http.get(f"/ledger/proof/{index}")
    assert not_yet.status_code == 404  # not in a signed checkpoint yet
    signed = http.post("/api/v1/ledger/checkpoints", headers=headers)
    assert signed.status_code == 201
    assert signed.json()["data"]["tree_size"] > index
    receipt = http.get(f"/ledger/proof/{index}").json()
    entry = json.loads(base64.b64decode(receipt["entry"]))
    assert entry["seq"] == index
    assert entry["type"] == "token.issued"
    assert receipt["tree_size"] > index


def test_appends_by_anonymous_actor_are_recorded(world: World) -> None:
    mode = world.platform.settings.governance_mode
    with world.platform.db.write() as session:
        (event,) = record_events(
            session,
            actor=Principal.anonymous(mode),
            events=[NewEvent(EventType.PARTICIPANT_REGISTERED, "participant", 99, {})],
        )
    assert json.loads(_entries(world)[event.seq])["actor"] == "anonymous"


def test_a_restored_store_cannot_make_the_log_sign_a_fork(world: World, tmp_path: Path) -> None:
    """Sign, copy the store away, grow and sign; restore the copy, grow differently: refused."""
    platform = world.platform
    if not platform.db.is_sqlite:
        pytest.skip("a file copy of the store is the SQLite form of a restored backup")
    before = platform.checkpoint()
    database = platform.settings.default_database_path
    backup = tmp_path / "backup.db"
    platform.db.dispose()
    backup.write_bytes(database.read_bytes())
    _grow(world, 4)
    first = platform.checkpoint()
    platform.db.dispose()
    database.write_bytes(backup.read_bytes())
    for suffix in ("-wal", "-shm"):
        Path(str(database) + suffix).unlink(missing_ok=True)
    actor = world.principal("regulator.admin")
    with platform.db.write() as session:
        record_events(
            session,
            actor=actor,
            events=[NewEvent(EventType.MEMBER_DEACTIVATED, "member", i, {}) for i in range(4)],
        )
    with pytest.raises(VerificationFailed, match="last checkpoint this key signed"):
        platform.checkpoint()
    with platform.db.read() as session:
        newest = checkpoints.latest(session)
    assert newest is not None
    assert newest.size == before.size < first.size
