"""Holding the log after a restore behind a published checkpoint, and recovering from it.

The checkpoints table and the witness progress live in the store they
describe, so after a restore they are behind too. The evidence that the log
was once longer must come from outside the store: the home folder's record
of the last signed checkpoint (``log.signed``), the size each witness last
cosigned (:func:`witness_sizes`), or a checkpoint the operator supplies (from
an auditor's mirror, a witness operator, a receipt holder). When such a
checkpoint is larger than the restored log, :func:`hold_if_behind` stores it
on the ``ledger_head`` row, and from then on every append
(:func:`datacompact.ledger.log.refuse_if_held`) and every checkpoint
signature fails with :class:`~datacompact.errors.LogBehind` (503
``log_behind``).

:func:`recover` is the only way out: in one transaction it clears the hold,
appends the recovery statement (:mod:`.statement`) at index ``restored_size``
and signs a checkpoint covering it, replacing the home's ``log.signed`` with
it. Auditors then see a declared fork, never a silent one.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.errors import (
    ConfigurationError,
    Conflict,
    DataCompactError,
    InvalidInput,
    InvalidTransition,
    MalformedInput,
    VerificationFailed,
)
from datacompact.ledger.formats import statement
from datacompact.ledger.formats.checkpoint import Checkpoint as CheckpointBody
from datacompact.ledger.formats.checkpoint import open_checkpoint
from datacompact.ledger.formats.note import Ed25519Signer, Ed25519Verifier, Note
from datacompact.ledger.formats.policy import Policy
from datacompact.ledger.log import checkpoints, entries, tree
from datacompact.ledger.witness import AddCheckpointRequest, submit_checkpoint
from datacompact.store.models import Event

_log = logging.getLogger("datacompact.ledger")

#: Who the recovery statement names as its actor.
OPERATOR = "operator"
_MAX_CHECKPOINT_BYTES = 64 * 1024


def read_checkpoint_file(path: Path, verifier: Ed25519Verifier) -> tuple[CheckpointBody, str]:
    """A signed checkpoint note from a file, verified under the log key."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_CHECKPOINT_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(
            "无法读取检查点文件 / cannot read the checkpoint file", details={"path": str(path)}
        ) from exc
    if len(data) > _MAX_CHECKPOINT_BYTES:
        raise MalformedInput(
            f"expected a checkpoint note of at most {_MAX_CHECKPOINT_BYTES} bytes, got more",
            details={"path": str(path)},
        )
    return parse_checkpoint(data, verifier)


def parse_checkpoint(data: bytes | str, verifier: Ed25519Verifier) -> tuple[CheckpointBody, str]:
    """Verify a checkpoint note under the log key; return its body and its text."""
    try:
        signed = open_checkpoint(data, [verifier])
    except VerificationFailed as exc:
        raise VerificationFailed(
            "检查点不是本日志私钥签发的 / expected a checkpoint signed by this log's key, got one "
            "that does not verify",
            details=exc.details,
        ) from exc
    if signed.checkpoint.origin != verifier.name:
        raise VerificationFailed(
            "检查点来源与日志不一致 / expected this log's origin in the checkpoint, got another"
        )
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return signed.checkpoint, text


def home_checkpoint(home: Path, verifier: Ed25519Verifier) -> tuple[CheckpointBody, str] | None:
    """The last checkpoint the log key signed, as remembered in the home folder, if any."""
    path = home / checkpoints.SIGNED_STATE_FILE
    if not path.exists():
        return None
    try:
        return read_checkpoint_file(path, verifier)
    except DataCompactError as exc:
        raise ConfigurationError(
            "主目录中的已签检查点记录无效 / the home folder's record of the last signed checkpoint "
            "is unreadable or not signed by the log key",
            details={"path": str(path), "cause": exc.code},
        ) from exc


def _declared(session: Session, evidence: CheckpointBody) -> bool:
    """True if a recovery statement in the log already declares the loss up to ``evidence``."""
    for row in served_statements(session):
        payload = row["payload"]
        old_size = payload.get("old_size") if isinstance(payload, dict) else None
        if not isinstance(old_size, int):
            continue
        if old_size > evidence.size or (
            old_size == evidence.size and payload.get("old_root") == evidence.root_hash.hex()
        ):
            return True
    return False


def hold_if_behind(session: Session, evidence: CheckpointBody, note: str) -> bool:
    """Hold the log if ``evidence`` is larger than it; True if the log is (now) held.

    Evidence no larger than the log must be part of its history: a root that
    differs at that size means this store is not the log that signed it.
    Evidence whose loss a recovery statement already declared holds nothing.
    """
    head = tree.lock_head(session)
    if evidence.size > head.size and _declared(session, evidence):
        return head.held_size is not None
    if evidence.size <= head.size:
        if evidence.size and tree.root_at(session, evidence.size) != evidence.root_hash:
            raise VerificationFailed(
                "检查点不属于此日志的历史 / expected a checkpoint of this log's history, got one "
                "whose root differs at its size",
                details={"size": evidence.size},
            )
        return head.held_size is not None
    if head.held_size is None or evidence.size > head.held_size:
        head.held_size = evidence.size
        head.held_note = note
    return True


def hold_at_size(session: Session, size: int) -> bool:
    """Hold the log behind a size known without its checkpoint (a witness's); True if held."""
    head = tree.lock_head(session)
    declared = any(
        isinstance(row["payload"], dict)
        and isinstance(row["payload"].get("old_size"), int)
        and row["payload"]["old_size"] >= size
        for row in served_statements(session)
    )
    if size > head.size and not declared and (head.held_size is None or size > head.held_size):
        head.held_size = size
        head.held_note = None
    return head.held_size is not None


def witness_sizes(
    session: Session, policy: Policy | None, client: httpx.Client | None = None
) -> dict[str, int]:
    """The size each witness last cosigned for this log, asked over C2SP tlog-witness.

    The witnesses keep their own state outside this store, so after a restore
    they are evidence of how far the log had grown. The question is an
    ``add-checkpoint`` of the newest stored checkpoint from its own size with
    an empty proof: a witness at another size answers 409 with its size (a
    witness at that very size cosigns it again, which changes nothing). A
    witness that cannot be asked is left out.
    """
    newest = checkpoints.latest(session)
    if policy is None or newest is None:
        return {}
    request = AddCheckpointRequest(newest.size, (), Note.from_text(newest.note))
    sizes: dict[str, int] = {}
    for witness in policy.witnesses.values():
        if witness.url is None:
            continue
        try:
            submit_checkpoint(
                witness.url,
                request=request,
                witness=witness.verifier,
                client=client,
                timeout=checkpoints.WITNESS_TIMEOUT_SECONDS,
            )
            sizes[witness.name] = newest.size
        except Conflict as exc:
            size = exc.details.get("size")
            if isinstance(size, int):
                sizes[witness.name] = size
        except DataCompactError as exc:
            _log.warning("witness %s could not be asked for its size: %s", witness.name, exc.code)
    return sizes


def hold_status(session: Session) -> dict[str, Any]:
    """Whether appends are held, and the sizes that say why."""
    head = tree.read_head(session)
    return {
        "held": head.held_size is not None,
        "size": head.size,
        "published_size": head.held_size,
    }


def recover(
    session: Session,
    *,
    signer: Ed25519Signer,
    policy: Policy | None,
    evidence: CheckpointBody,
    note: str,
    state: Path | None,
) -> dict[str, Any]:
    """Declare entries ``size..evidence.size-1`` lost, append the statement, sign over it.

    ``evidence`` must be at least the checkpoint the log is held behind: a
    statement that understates the loss would hide part of the fork.
    """
    head = tree.lock_head(session)
    if head.held_size is None and (evidence.size <= head.size or _declared(session, evidence)):
        raise InvalidTransition(
            "日志并未落后，无需恢复 / the log is not behind that checkpoint: nothing to recover",
            details={"size": head.size, "checkpoint_size": evidence.size},
        )
    if head.held_size is not None and evidence.size < head.held_size:
        raise InvalidInput(
            "给出的检查点比已知的已发布检查点旧 / expected a checkpoint at least as large as the "
            "one the log is held behind, got a smaller one",
            details={"checkpoint_size": evidence.size, "published_size": head.held_size},
        )
    restored = head.size
    head.held_size = None
    head.held_note = None
    (recorded,) = entries.append_entries(
        session,
        actor=OPERATOR,
        actor_participant=None,
        entries=[
            entries.Entry(
                statement.EVENT_TYPE,
                statement.OBJECT_TYPE,
                statement.OBJECT_ID,
                statement.build_payload(evidence, note, restored),
            )
        ],
    )
    row = checkpoints.sign_checkpoint(
        session, signer=signer, policy=policy, state=state, superseded=evidence
    )
    return {
        "statement_index": recorded.seq,
        "old_size": evidence.size,
        "old_root": evidence.root_hash.hex(),
        "restored_size": restored,
        "lost_first": restored,
        "lost_last": evidence.size - 1,
        "lost_count": evidence.size - restored,
        "tree_size": row.size,
        "root_hash": row.root.hex(),
        "checkpoint": row.note,
    }


def served_statements(session: Session) -> list[dict[str, Any]]:
    """Every recovery statement with its entry, payload and salt, as ``/ledger/recoveries`` serves."""
    rows = session.scalars(
        select(Event)
        .where(
            Event.object_type == statement.OBJECT_TYPE,
            Event.object_id == statement.OBJECT_ID,
            Event.type == statement.EVENT_TYPE,
        )
        .order_by(Event.seq)
    )
    return [
        {
            "index": row.seq,
            "entry": base64.b64encode(row.entry).decode("ascii"),
            "salt": row.salt.hex(),
            "payload": row.payload,
        }
        for row in rows
    ]
