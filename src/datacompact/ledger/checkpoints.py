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

import logging
import threading
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.config import Settings, write_private_file
from datacompact.errors import ConfigurationError, Conflict, DataCompactError, VerificationFailed
from datacompact.ledger import log, merkle
from datacompact.ledger.checkpoint import Checkpoint as CheckpointBody
from datacompact.ledger.note import Ed25519Signer, Note, Signature, generate_key, sign_note
from datacompact.ledger.policy import Policy, PolicyWitness
from datacompact.ledger.witness import AddCheckpointRequest, submit_checkpoint
from datacompact.store.models import Checkpoint, WitnessProgress
from datacompact.store.session import Database

LOG_KEY_FILE = "log.key"
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


def covering(session: Session, index: int) -> Checkpoint | None:
    """The newest checkpoint whose tree contains entry ``index``."""
    row = latest(session)
    return row if row is not None and row.size > index else None


def sign_checkpoint(
    session: Session, *, signer: Ed25519Signer, policy: Policy | None
) -> Checkpoint:
    """Sign the current tree if it grew since the last checkpoint; return the newest checkpoint."""
    head = log.lock_head(session)
    previous = latest(session)
    if previous is not None and previous.size == head.size:
        return previous
    if previous is not None and previous.size > head.size:
        raise VerificationFailed(
            "日志比已签名检查点更短，拒绝签名 / the log is shorter than a signed checkpoint: "
            "refusing to sign",
            details={"signed_size": previous.size, "size": head.size},
        )
    root = log.root_at(session, head.size)
    if root != head.root:
        raise VerificationFailed(
            "存储的树哈希与日志头不一致，拒绝签名 / stored tree hashes disagree with the log head: "
            "refusing to sign",
            details={"size": head.size},
        )
    if previous is not None:
        proof = log.consistency_proof(session, old_size=previous.size, new_size=head.size)
        merkle.verify_consistency(
            old_size=previous.size,
            new_size=head.size,
            old_root=previous.root,
            new_root=root,
            proof=proof,
        )
    body = CheckpointBody(origin=signer.name, size=head.size, root_hash=root).to_text()
    note = sign_note(body, [signer])
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
    assert witness.url is not None
    with db.read() as session:
        progress = session.get(WitnessProgress, witness.name)
        old = progress.size if progress is not None else 0
    for _attempt in range(2):
        if old > checkpoint.size:
            return []
        with db.read() as session:
            proof = log.consistency_proof(session, old_size=old, new_size=checkpoint.size)
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
        current = session.scalar(select(Checkpoint).where(Checkpoint.size == checkpoint_size))
        assert current is not None
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


def checkpoint_now(db: Database, *, signer: Ed25519Signer, policy: Policy | None) -> Checkpoint:
    """Sign if the tree grew, then gather cosignatures for it if witnesses are configured."""
    with db.write() as session:
        row = sign_checkpoint(session, signer=signer, policy=policy)
        size, already = row.size, set(row.cosigners)
    if policy is None or not policy.witnesses or already >= set(policy.witnesses):
        with db.read() as session:
            found = session.scalar(select(Checkpoint).where(Checkpoint.size == size))
            assert found is not None
            return found
    return gather_cosignatures(db, checkpoint_size=size, policy=policy)


class CheckpointScheduler(threading.Thread):
    """Signs (and gets witnessed) a checkpoint every ``interval`` seconds while the log grows."""

    def __init__(
        self, db: Database, *, signer: Ed25519Signer, policy: Policy | None, interval: float
    ) -> None:
        super().__init__(name="datacompact-checkpoints", daemon=True)
        self.db, self.signer, self.policy, self.interval = db, signer, policy, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                checkpoint_now(self.db, signer=self.signer, policy=self.policy)
            except DataCompactError as exc:
                _log.error("checkpoint signing failed: %s %s", exc.code, exc.message)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=self.interval + WITNESS_TIMEOUT_SECONDS * 2)
