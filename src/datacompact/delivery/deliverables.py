"""Contract deliverables: open source and open data in the open, key code in escrow.

Each lot states whether its code must be delivered as open source and whether
key code goes into escrow (``Lot.open_source``, ``Lot.code_escrow``). The
supplier's admins deposit files against an active contract; they are stored
under the platform home, named by their SHA-256, and kept apart::

    <home>/deliverables/public/<contract_id>/<sha256>          open_source, open_data
    <home>/deliverables/escrow/<contract_id>/<sha256>.sealed   key_code, AES-256-GCM

Open kinds are always accepted; ``key_code`` only when the lot asks for
escrow. Open deliverables of unclassified projects are public: anyone may
download them without a token. Of key code only the hash is ever shown. The
project owner's admins may release it (decrypt it) only once the contract is
no longer active, or when its continuity is at risk: it ends within
:data:`RELEASE_HORIZON_DAYS` days, or has ended, and no lot succeeds it. Each
release is logged with its reason.

Files are written atomically (temp file, fsync, rename) *before* the
transaction commits, and removed again if it rolls back, so a refused or
failed deposit leaves neither a row, a log entry nor a file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import date, timedelta
from pathlib import Path, PurePosixPath

from sqlalchemy import event, exists, select
from sqlalchemy.orm import Session, SessionTransaction

from datacompact.clock import today_cst
from datacompact.delivery import _escrow
from datacompact.delivery._contract_view import project_of
from datacompact.delivery.schemas import DeliverablePublic
from datacompact.errors import (
    Conflict,
    InvalidInput,
    InvalidTransition,
    MalformedInput,
    NotFound,
    PayloadTooLarge,
    PolicyViolation,
    StoreUnavailable,
    VerificationFailed,
)
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.ledger.witness import write_atomic
from datacompact.permissions import (
    Actions,
    PartyResource,
    Principal,
    ProjectResource,
    authorize,
    published_to_anyone,
)
from datacompact.store.project_models import Contract, Deliverable, Lot

__all__ = ["deposit", "list_deliverables", "missing_kinds", "parse_content"]
__all__ += ["public_file", "release_escrow"]

#: Largest deliverable accepted: 50 MiB (the API's request limit may be lower).
MAX_DELIVERABLE_BYTES = 50 * 1024 * 1024
OPEN_KINDS = ("open_source", "open_data")
#: The continuity horizon of the supervision alerts (``alerts.DEFAULT_HORIZON_DAYS``).
RELEASE_HORIZON_DAYS = 90
PUBLIC_DIR = PurePosixPath("deliverables/public")
ESCROW_DIR = PurePosixPath("deliverables/escrow")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# No folder, no control character (a name goes into a Content-Disposition header).
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")


def parse_content(text: str) -> bytes:
    """Strict base64 (RFC 4648 §4): no stray characters, and canonical (§3.5).

    ``strict_mode`` refuses what lies outside the alphabet and padding in the
    middle; the round trip refuses surplus padding and non-zero pad bits, so
    one file has exactly one spelling.
    """
    refused = MalformedInput(
        f"交付物须为 base64 / expected the content as canonical base64, got {len(text)}"
        " characters that do not decode",
        details={"field": "content"},
    )
    try:
        content = binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise refused from exc
    if base64.b64encode(content).decode("ascii") != text:
        raise refused
    return content


def _load(session: Session, contract_id: int, *, lock: bool = False) -> Contract:
    contract = session.get(Contract, contract_id, with_for_update=lock)
    if contract is None:
        raise NotFound("合同不存在 / contract not found", details={"contract_id": contract_id})
    return contract


def _view(row: Deliverable) -> DeliverablePublic:
    return DeliverablePublic(
        id=row.id,
        contract_id=row.contract_id,
        kind=row.kind,
        name=row.name,
        sha256=row.sha256,
        size=row.size,
        sealed=row.sealed,
        created_at=row.created_at,
    )


def _check_name(name: str) -> str:
    if not name or len(name) > 200 or _BAD_NAME.search(name) or name in (".", ".."):
        raise InvalidInput(
            "文件名须为不含路径的名称 / expected a plain file name, without folders or"
            " control characters",
            details={"field": "name", "reason": "bad_name"},
        )
    return name


def _check_content(content: bytes) -> None:
    if not content:
        raise InvalidInput("交付物为空 / expected a non-empty file", details={"field": "content"})
    if len(content) > MAX_DELIVERABLE_BYTES:
        raise PayloadTooLarge(
            f"交付物过大 / expected at most {MAX_DELIVERABLE_BYTES} bytes, got {len(content)}",
            details={"limit": MAX_DELIVERABLE_BYTES, "size": len(content)},
        )


def _folder(home: Path, relative: PurePosixPath) -> Path:
    # Each level 0700: the home is private, and so is every folder under it.
    path = home
    for part in relative.parts:
        path = path / part
        path.mkdir(mode=0o700, exist_ok=True)
    return path


def _remove_on_rollback(session: Session, path: Path) -> None:
    """Delete ``path`` if the transaction that recorded it rolls back, keep it if it commits."""
    done = False

    def committed(_session: Session) -> None:
        nonlocal done
        done = True

    def rolled_back(_session: Session, previous: SessionTransaction) -> None:
        nonlocal done
        if not done and previous.parent is None:
            done = True
            path.unlink(missing_ok=True)

    event.listen(session, "after_commit", committed)
    event.listen(session, "after_soft_rollback", rolled_back)


def _write(session: Session, home: Path, relative: PurePosixPath, data: bytes) -> None:
    target = _folder(home, relative.parent) / relative.name
    _remove_on_rollback(session, target)
    try:
        write_atomic(target, data)  # 0600, temp file + fsync + os.replace
    except OSError as exc:
        raise StoreUnavailable(
            "无法写入交付物文件 / could not write the deliverable under the platform home",
            details={"reason": type(exc).__name__},
        ) from exc


def _read(home: Path, row: Deliverable) -> bytes:
    try:
        return (home / row.path).read_bytes()
    except OSError as exc:
        raise VerificationFailed(
            "交付物文件缺失或不可读 / the deliverable's file is missing or unreadable",
            details={"reason": "file_missing", "sha256": row.sha256},
        ) from exc


def deposit(
    *,
    session: Session,
    actor: Principal,
    home: Path,
    secret: bytes,
    contract_id: int,
    kind: str,
    name: str,
    content: bytes,
) -> Recorded[DeliverablePublic]:
    """The supplier deposits a deliverable; ``key_code`` is sealed and kept apart."""
    contract = _load(session, contract_id, lock=True)
    authorize(
        actor=actor,
        action=Actions.SLA_REPORT,
        resource=PartyResource(participant_id=contract.supplier_id),
    )
    if contract.status != "active":
        raise InvalidTransition(
            f"合同已{contract.status} / the contract is {contract.status}, not active",
            details={"status": contract.status},
        )
    if kind not in (*OPEN_KINDS, "key_code"):
        raise InvalidInput(
            "交付物类型须为 open_source、open_data 或 key_code / expected the kind open_source,"
            " open_data or key_code",
            details={"field": "kind"},
        )
    _check_name(name)
    _check_content(content)
    lot, _project = project_of(session, contract.lot_id)
    if kind == "key_code" and not lot.code_escrow:
        raise PolicyViolation(
            "本标段不要求代码托管 / the lot does not provide for code escrow",
            details={"rule": "deliverables.escrow_not_required", "lot_id": lot.id},
        )
    digest = hashlib.sha256(content).hexdigest()
    taken = session.scalar(
        select(Deliverable.id).where(
            Deliverable.contract_id == contract.id, Deliverable.sha256 == digest
        )
    )
    if taken is not None:
        raise Conflict(
            "该文件已交付 / this file was deposited already",
            details={"reason": "duplicate_deliverable", "deliverable_id": taken},
        )
    row = Deliverable(
        contract_id=contract.id, kind=kind, name=name, sha256=digest, size=len(content)
    )
    if kind == "key_code":
        sealed = _escrow.seal(content, secret=secret, contract_id=contract.id)
        relative = ESCROW_DIR / str(contract.id) / f"{digest}.sealed"
        row.sealed, row.nonce, row.key_id = True, sealed.nonce, sealed.key_id
        data = sealed.ciphertext
        # Reassigned, not mutated: the JSON column notices only a new value.
        contract.handover = {**contract.handover, "code_escrow": True}
    else:
        relative = PUBLIC_DIR / str(contract.id) / digest
        row.sealed, data = False, content
    row.path = str(relative)
    row.member_id = actor.member_id
    session.add(row)
    session.flush()
    payload = {
        "contract_id": contract.id,
        "kind": kind,
        "name": name,
        "sha256": digest,
        "size": len(content),
    }
    (recorded,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.DELIVERABLE_DEPOSITED, "contract", contract.id, payload)],
    )
    # Last, once every check has passed; a later rollback removes it again.
    _write(session, home, relative, data)
    return Recorded(_view(row), recorded.seq)


def list_deliverables(
    *, session: Session, actor: Principal, contract_id: int
) -> list[DeliverablePublic]:
    """A contract's deliverables, metadata only."""
    contract = _load(session, contract_id)
    authorize(actor=actor, action=Actions.PROJECT_READ, resource=PartyResource())
    rows = session.scalars(
        select(Deliverable).where(Deliverable.contract_id == contract.id).order_by(Deliverable.id)
    )
    return [_view(r) for r in rows]


def missing_kinds(session: Session, contract: Contract) -> list[str]:
    """The deliverable kinds the contract's lot requires and nobody has deposited yet."""
    lot = session.get(Lot, contract.lot_id)
    if lot is None:
        raise RuntimeError(f"the lot of contract {contract.id} is missing")
    required = [
        k
        for k, needed in (("open_source", lot.open_source), ("key_code", lot.code_escrow))
        if needed
    ]
    deposited = set(
        session.scalars(select(Deliverable.kind).where(Deliverable.contract_id == contract.id))
    )
    return [k for k in required if k not in deposited]


def public_file(
    *, session: Session, home: Path, contract_id: int, sha256: str
) -> tuple[str, bytes]:
    """An open deliverable of an unclassified project: its name and content, for anyone.

    Key code and anything of a classified project is :class:`NotFound`, as if
    it did not exist.
    """
    unknown = NotFound("交付物不存在 / deliverable not found", details={"contract_id": contract_id})
    if not _SHA256_HEX.fullmatch(sha256):
        raise unknown
    row = session.scalar(
        select(Deliverable).where(
            Deliverable.contract_id == contract_id, Deliverable.sha256 == sha256
        )
    )
    if row is None or row.sealed or row.kind not in OPEN_KINDS:
        raise unknown
    contract = _load(session, contract_id)
    _lot, project = project_of(session, contract.lot_id)
    resource = ProjectResource(participant_id=project.owner_id, classified=project.classified)
    if not published_to_anyone(action=Actions.PROJECT_PUBLIC_READ, resource=resource):
        raise unknown
    content = _read(home, row)
    if hashlib.sha256(content).hexdigest() != row.sha256:
        raise VerificationFailed(
            "交付物文件哈希不符 / the stored file does not match the hash recorded at deposit",
            details={"reason": "hash_mismatch", "sha256": row.sha256},
        )
    return row.name, content


def _release_grounds(session: Session, contract: Contract, today: date) -> str | None:
    if contract.status != "active":
        return f"contract_{contract.status}"
    succeeded = session.scalar(
        select(exists().where(Lot.successor_of == contract.lot_id, Lot.status != "cancelled"))
    )
    if contract.ends_on <= today + timedelta(days=RELEASE_HORIZON_DAYS) and not succeeded:
        return "continuity"
    return None


def release_escrow(
    *,
    session: Session,
    actor: Principal,
    home: Path,
    secret: bytes,
    contract_id: int,
    sha256: str,
    reason: str,
    today: date | None = None,
) -> Recorded[bytes]:
    """The owner decrypts escrowed key code once the contract ended or its continuity is at risk."""
    contract = _load(session, contract_id, lock=True)
    _lot, project = project_of(session, contract.lot_id)
    authorize(
        actor=actor,
        action=Actions.PROJECT_MANAGE,
        resource=PartyResource(
            participant_id=project.owner_id,
            parties=frozenset({project.owner_id, contract.supplier_id}),
        ),
    )
    row = None
    if _SHA256_HEX.fullmatch(sha256):
        row = session.scalar(
            select(Deliverable).where(
                Deliverable.contract_id == contract.id,
                Deliverable.sha256 == sha256,
                Deliverable.sealed.is_(True),
            )
        )
    if row is None:
        raise NotFound(
            "托管代码不存在 / no key code in escrow with this hash",
            details={"contract_id": contract.id},
        )
    reason = reason.strip()
    if not 2 <= len(reason) <= 500:
        raise InvalidInput(
            "须说明调取理由 / expected a reason of 2–500 characters",
            details={"field": "reason"},
        )
    grounds = _release_grounds(session, contract, today or today_cst())
    if grounds is None:
        raise PolicyViolation(
            "合同履行中且运维可接续，托管代码不予调取 / key code stays in escrow while the"
            " contract is active and not at risk: it ends in more than"
            f" {RELEASE_HORIZON_DAYS} days, or a successor lot exists",
            details={"rule": "escrow.not_released", "ends_on": contract.ends_on.isoformat()},
        )
    if row.nonce is None:
        raise RuntimeError(f"escrowed key code {row.id} has no nonce")
    if row.key_id is None:
        raise RuntimeError(f"escrowed key code {row.id} has no key id")
    sealed = _escrow.Sealed(row.sha256, row.nonce, _read(home, row), row.key_id)
    content = _escrow.unseal(sealed, secret=secret, contract_id=contract.id)
    payload = {
        "contract_id": contract.id,
        "sha256": row.sha256,
        "reason": reason,
        "grounds": grounds,
    }
    (recorded,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.ESCROW_RELEASED, "contract", contract.id, payload)],
    )
    return Recorded(content, recorded.seq)
