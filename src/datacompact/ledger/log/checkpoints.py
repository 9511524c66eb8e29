"""Signing checkpoints, gathering witness cosignatures, publishing the result.

The log's key is a C2SP signer key named after the log's origin, kept in the
home folder (``log.key``, mode 0600). A checkpoint is signed on demand and at
a configurable interval (:class:`CheckpointScheduler`), each time only if the
tree grew.

The log never signs two checkpoints that are inconsistent with each other:
before signing size ``n`` it recomputes the root from the stored nodes, checks
it against the head, and verifies a consistency proof from the last signed
checkpoint to it (RFC 9162 §2.1.4.2). A store whose history was rewritten
makes signing fail instead of producing a fork.

Witnesses come from a C2SP tlog-policy file (``witness <name> <vkey> <url>``
lines and a ``quorum``). Each new checkpoint is pushed to them with the C2SP
tlog-witness ``add-checkpoint`` protocol; their cosignatures are added to the
published note, and the quorum decides whether it counts as witnessed.
"""

from __future__ import annotations

import base64
import logging
import threading
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.config import Settings, write_private_file
from datacompact.errors import (
    ConfigurationError,
    Conflict,
    DataCompactError,
    NotFound,
    VerificationFailed,
)
from datacompact.ledger.formats import merkle
from datacompact.ledger.formats import receipt as receipt_format
from datacompact.ledger.formats.checkpoint import Checkpoint as CheckpointBody
from datacompact.ledger.formats.checkpoint import open_checkpoint
from datacompact.ledger.formats.note import (
    Ed25519Signer,
    Ed25519Verifier,
    Note,
    Signature,
    generate_key,
    sign_note,
)
from datacompact.ledger.formats.policy import Policy, PolicyWitness
from datacompact.ledger.log import tree
from datacompact.ledger.witness import (
    AddCheckpointRequest,
    submit_checkpoint,
    witness_reachable,
    write_atomic,
)
from datacompact.store.models import Checkpoint, Event, WitnessProgress
from datacompact.store.session import Database

LOG_KEY_FILE = "log.key"
#: The last checkpoint the log key signed, kept outside the database it protects.
SIGNED_STATE_FILE = "log.signed"
WITNESS_TIMEOUT_SECONDS = 5.0

_log = logging.getLogger("datacompact.ledger")


def ensure_log_key(settings: Settings) -> bool:
    """Create the log's signer key if missing; True if it was created."""
    path = settings.home / LOG_KEY_FILE
    if path.exists():
        return False
    skey, _vkey = generate_key(settings.log_origin)
    write_private_file(path, (skey + "\n").encode())
    return True


def load_log_signer(settings: Settings) -> Ed25519Signer:
    path = settings.home / LOG_KEY_FILE
    try:
        if path.stat().st_mode & 0o077:
            raise ConfigurationError(
                "日志私钥权限过宽，应为 0600 / the log key must have mode 0600",
                details={"path": str(path)},
            )
        signer = Ed25519Signer.from_skey(path.read_text(encoding="ascii").strip())
    except OSError as exc:
        raise ConfigurationError(
            "无法读取日志私钥，请运行 datacompact init / cannot read the log key: run `datacompact init`",
            details={"path": str(path)},
        ) from exc
    except (UnicodeDecodeError, DataCompactError) as exc:
        if isinstance(exc, ConfigurationError):
            raise
        raise ConfigurationError(
            "日志私钥文件损坏 / the log key file is not a signer key", details={"path": str(path)}
        ) from exc
    if signer.name != settings.log_origin:
        raise ConfigurationError(
            "日志私钥名称与日志来源不一致 / the log key's name differs from the log origin",
            details={"path": str(path), "origin": settings.log_origin},
        )
    return signer


def load_policy(path: Path | None) -> Policy | None:
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            "无法读取见证策略文件 / cannot read the witness policy file",
            details={"path": str(path)},
        ) from exc
    return Policy.from_text(text)


def latest(session: Session) -> Checkpoint | None:
    return session.scalar(select(Checkpoint).order_by(Checkpoint.size.desc()).limit(1))


def published(session: Session, policy: Policy | None) -> Checkpoint | None:
    """The checkpoint to publish: the newest witnessed one, else the newest."""
    if policy is not None:
        witnessed = session.scalar(
            select(Checkpoint)
            .where(Checkpoint.witnessed.is_(True))
            .order_by(Checkpoint.size.desc())
            .limit(1)
        )
        if witnessed is not None:
            return witnessed
    return latest(session)


def receipt(
    session: Session, *, index: int, size: int | None, policy: Policy | None
) -> dict[str, Any]:
    """Entry ``index`` with its inclusion proof against a signed checkpoint.

    The checkpoint is the one of ``size`` if given (an auditor proving against
    the tree it audited), else the published one, else the newest that
    contains the entry. ``witnessed`` is true only when the cosignatures on
    that checkpoint verify and meet the policy's quorum; ``cosigners`` and
    ``missing`` name the policy's witnesses that did and did not cosign.
    """
    entry, row, path = _proved(session, index=index, size=size, policy=policy)
    note = Note.from_text(row.note)
    return {
        "index": index,
        "entry": base64.b64encode(entry).decode(),
        "leaf_hash": merkle.leaf_hash(entry).hex(),
        "tree_size": row.size,
        "root_hash": row.root.hex(),
        "inclusion_proof": [h.hex() for h in path],
        "checkpoint": row.note,
        "origin": CheckpointBody.from_text(note.text).origin,
        **receipt_format.witness_status(policy, note),
    }


def receipt_bundle(
    session: Session,
    *,
    index: int,
    size: int | None,
    policy: Policy | None,
    log_key: Ed25519Verifier,
) -> dict[str, Any]:
    """The self-contained bundle of entry ``index`` (:mod:`~datacompact.ledger.formats.receipt`)."""
    entry, row, path = _proved(session, index=index, size=size, policy=policy)
    return receipt_format.make_bundle(
        log_key=log_key,
        index=index,
        entry=entry,
        proof=path,
        note=Note.from_text(row.note),
        policy=policy,
    )


def _proved(
    session: Session, *, index: int, size: int | None, policy: Policy | None
) -> tuple[bytes, Checkpoint, list[bytes]]:
    entry = session.scalar(select(Event.entry).where(Event.seq == index))
    if entry is None:
        raise NotFound("日志条目不存在 / no log entry at that index", details={"index": index})
    if size is not None:
        row = session.scalar(select(Checkpoint).where(Checkpoint.size == size))
        if row is None:
            raise NotFound(
                "没有该大小的检查点 / no checkpoint of that size", details={"size": size}
            )
    else:
        row = published(session, policy)
        if row is None or row.size <= index:
            row = latest(session)
    if row is None or row.size <= index:
        raise NotFound(
            "该条目尚未纳入已签检查点 / the entry is not in a signed checkpoint yet",
            details={"index": index},
        )
    return entry, row, tree.inclusion_proof(session, index=index, size=row.size)


def witness_health(
    db: Database, *, policy: Policy | None, client: httpx.Client | None = None
) -> dict[str, Any] | None:
    """What ``/readyz`` says of the witnesses: reachable now, and cosigners of the newest checkpoint.

    ``status`` is ``degraded`` when a witness of the quorum does not answer or
    the newest checkpoint is not witnessed; None without a witness policy.
    """
    if policy is None:
        return None
    with db.read() as session:
        row = latest(session)
        note = Note.from_text(row.note) if row is not None else None
    status = receipt_format.witness_status(policy, note) if note is not None else None
    unreachable = [
        w.name
        for w in policy.witnesses.values()
        if w.url is not None and not witness_reachable(w.url, client=client, timeout=1.0)
    ]
    degraded = bool(unreachable) or (status is not None and not status["witnessed"])
    return {
        "status": "degraded" if degraded else "ok",
        "quorum": policy.quorum_text(),
        "unreachable": unreachable,
        "checkpoint_size": row.size if row is not None else None,
        "witnessed": status["witnessed"] if status is not None else None,
        "cosigners": status["cosigners"] if status is not None else [],
        "missing": status["missing"] if status is not None else [],
    }


def covering_receipt(
    session: Session, *, index: int, policy: Policy | None
) -> dict[str, Any] | None:
    """The :func:`receipt` of entry ``index``, or None while no signed checkpoint covers it."""
    row = latest(session)
    if row is None or row.size <= index:
        return None
    return receipt(session, index=index, size=None, policy=policy)


def _last_signed(state: Path | None, signer: Ed25519Signer) -> CheckpointBody | None:
    """The last checkpoint this log key signed, as remembered outside the database."""
    if state is None or not state.exists():
        return None
    try:
        text = state.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            "无法读取已签检查点记录 / cannot read the record of the last signed checkpoint",
            details={"path": str(state)},
        ) from exc
    return open_checkpoint(text, [signer.verifier()]).checkpoint


def _check_against_memory(
    session: Session,
    memory: CheckpointBody | None,
    size: int,
    root: bytes,
    superseded: CheckpointBody | None = None,
) -> None:
    """Refuse a tree that does not extend the last checkpoint the key ever signed.

    The checkpoints table lives in the database it protects: restore an old
    backup, append other events, and it would happily sign a second tree of
    the same size. The home folder's record survives such a restore.
    """
    if memory is None:
        return
    if superseded is not None and (
        memory.size < superseded.size
        or (memory.size == superseded.size and memory.root_hash == superseded.root_hash)
    ):
        # ``datacompact recover`` has just declared everything after the
        # restored size lost, up to a checkpoint at least as new as this one.
        return
    forked = VerificationFailed(
        "存储的日志与最后签发的检查点不一致（数据库被回滚或改写？），拒绝签名 / the stored log "
        "does not extend the last checkpoint this key signed (restored or rewritten store?): "
        "refusing to sign",
        details={"signed_size": memory.size, "size": size},
    )
    if memory.size > size or (memory.size == size and memory.root_hash != root):
        raise forked
    if 0 < memory.size < size:
        proof = tree.consistency_proof(session, old_size=memory.size, new_size=size)
        try:
            merkle.verify_consistency(
                old_size=memory.size,
                new_size=size,
                old_root=memory.root_hash,
                new_root=root,
                proof=proof,
            )
        except VerificationFailed as exc:
            raise forked from exc


def sign_checkpoint(
    session: Session,
    *,
    signer: Ed25519Signer,
    policy: Policy | None,
    state: Path | None = None,
    superseded: CheckpointBody | None = None,
) -> Checkpoint:
    """Sign the current tree if it grew since the last checkpoint; return the newest checkpoint.

    ``state`` is the file (in the home folder) that remembers the last
    checkpoint the key signed; it is written, fsynced, before the new
    checkpoint is committed or published. ``superseded`` is given only by
    ``ledger.log.recovery.recover``: the checkpoint its statement declared the
    loss against, which the remembered one may then be no larger than.
    A held log (restored behind a published checkpoint) is never signed.
    """
    head = tree.lock_head(session)
    tree.refuse_if_held(head)
    memory = _last_signed(state, signer)
    previous = latest(session)
    if previous is not None and previous.size == head.size:
        return previous
    if previous is not None and previous.size > head.size:
        raise VerificationFailed(
            "日志比已签名检查点更短，拒绝签名 / the log is shorter than a signed checkpoint: "
            "refusing to sign",
            details={"signed_size": previous.size, "size": head.size},
        )
    root = tree.root_at(session, head.size)
    if root != head.root:
        raise VerificationFailed(
            "存储的树哈希与日志头不一致，拒绝签名 / stored tree hashes disagree with the log head: "
            "refusing to sign",
            details={"size": head.size},
        )
    _check_against_memory(session, memory, head.size, root, superseded)
    if previous is not None:
        proof = tree.consistency_proof(session, old_size=previous.size, new_size=head.size)
        merkle.verify_consistency(
            old_size=previous.size,
            new_size=head.size,
            old_root=previous.root,
            new_root=root,
            proof=proof,
        )
    body = CheckpointBody(origin=signer.name, size=head.size, root_hash=root).to_text()
    note = sign_note(body, [signer])
    if state is not None:
        write_atomic(state, note.to_text().encode("utf-8"))
    quorum_free = policy is None or policy.satisfied_by(())
    row = Checkpoint(
        size=head.size, root=root, note=note.to_text(), cosigners=[], witnessed=quorum_free
    )
    session.add(row)
    session.flush()
    return row


def _cosign(
    db: Database, witness: PolicyWitness, checkpoint: Checkpoint, client: httpx.Client
) -> list[Signature]:
    assert witness.url is not None  # noqa: S101 - the caller skips witnesses without a URL
    with db.read() as session:
        progress = session.get(WitnessProgress, witness.name)
        old = progress.size if progress is not None else 0
    for _attempt in range(2):
        if old > checkpoint.size:
            return []
        with db.read() as session:
            proof = tree.consistency_proof(session, old_size=old, new_size=checkpoint.size)
        request = AddCheckpointRequest(old, tuple(proof), Note.from_text(checkpoint.note))
        try:
            return submit_checkpoint(
                witness.url,
                request=request,
                witness=witness.verifier,
                client=client,
                timeout=WITNESS_TIMEOUT_SECONDS,
            )
        except Conflict as exc:
            # The witness is at another size (tlog-witness 409): prove from there.
            size = exc.details.get("size")
            if not isinstance(size, int):
                raise
            old = size
    return []


def gather_cosignatures(
    db: Database, *, checkpoint_size: int, policy: Policy, client: httpx.Client | None = None
) -> Checkpoint:
    """Push a checkpoint to every witness with a URL, store what they cosign, apply the quorum."""
    with db.read() as session:
        row = session.scalar(select(Checkpoint).where(Checkpoint.size == checkpoint_size))
    if row is None:
        raise VerificationFailed(
            "检查点不存在 / no such checkpoint", details={"size": checkpoint_size}
        )
    gathered: dict[str, list[Signature]] = {}
    http = client or httpx.Client()
    try:
        for witness in policy.witnesses.values():
            if witness.url is None:
                continue
            try:
                gathered[witness.name] = _cosign(db, witness, row, http)
            except DataCompactError as exc:
                # A witness that refuses or is down costs us its cosignature,
                # never the checkpoint; the quorum below decides what that means.
                _log.warning(
                    "witness %s did not cosign size %d: %s", witness.name, row.size, exc.code
                )
    finally:
        if client is None:
            http.close()
    with db.write() as session:
        # Serialize with concurrent gatherers (scheduler and on demand), so that
        # neither overwrites the other's cosignatures or progress rows.
        tree.lock_head(session)
        current = session.scalar(select(Checkpoint).where(Checkpoint.size == checkpoint_size))
        if current is None:
            raise RuntimeError(f"checkpoint {checkpoint_size} is missing")
        note = Note.from_text(current.note)
        fresh = [sig for sigs in gathered.values() for sig in sigs]
        known = {(s.name, s.key_id) for s in note.signatures}
        signatures = note.signatures + tuple(s for s in fresh if (s.name, s.key_id) not in known)
        current.note = Note(note.text, signatures).to_text()
        names = sorted(set(current.cosigners) | {n for n, sigs in gathered.items() if sigs})
        current.cosigners = names
        current.witnessed = policy.satisfied_by(names)
        for name, sigs in gathered.items():
            if sigs:
                progress = session.get(WitnessProgress, name)
                if progress is None:
                    session.add(WitnessProgress(name=name, size=checkpoint_size))
                elif progress.size < checkpoint_size:
                    progress.size = checkpoint_size
        return current


def checkpoint_now(
    db: Database, *, signer: Ed25519Signer, policy: Policy | None, state: Path | None = None
) -> Checkpoint:
    """Sign if the tree grew, then gather cosignatures for it if witnesses are configured."""
    with db.write() as session:
        row = sign_checkpoint(session, signer=signer, policy=policy, state=state)
        size, already = row.size, set(row.cosigners)
    if policy is None or not policy.witnesses or already >= set(policy.witnesses):
        with db.read() as session:
            found = session.scalar(select(Checkpoint).where(Checkpoint.size == size))
            if found is None:
                raise RuntimeError(f"checkpoint {size} is missing")
            return found
    return gather_cosignatures(db, checkpoint_size=size, policy=policy)


class CheckpointScheduler(threading.Thread):
    """Signs (and gets witnessed) a checkpoint every ``interval`` seconds while the log grows."""

    def __init__(
        self,
        db: Database,
        *,
        signer: Ed25519Signer,
        policy: Policy | None,
        interval: float,
        state: Path | None,
    ) -> None:
        super().__init__(name="datacompact-checkpoints", daemon=True)
        self.db, self.signer, self.policy, self.interval = db, signer, policy, interval
        self.state = state
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                checkpoint_now(self.db, signer=self.signer, policy=self.policy, state=self.state)
            except DataCompactError as exc:
                _log.error("checkpoint signing failed: %s %s", exc.code, exc.message)
            except Exception:
                # The schedule must outlive any one failure; the next tick retries.
                _log.exception("checkpoint signing failed unexpectedly")

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=self.interval + WITNESS_TIMEOUT_SECONDS * 2)
