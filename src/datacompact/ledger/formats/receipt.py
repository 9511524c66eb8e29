"""Receipt bundles: one self-contained JSON file that proves one log entry.

A bundle holds everything a verifier needs offline, in one object::

    {
      "format": "datacompact-receipt-bundle/v1",
      "origin": "<log origin>", "log_key": "<log vkey>", "log_key_id": "<8 hex>",
      "index": I, "entry": "<base64 entry>", "leaf_hash": "<hex>",
      "tree_size": N, "root_hash": "<hex>", "inclusion_proof": ["<hex>", ...],
      "checkpoint": "<signed note: checkpoint body and the log's signature>",
      "cosignatures": ["— <witness> <base64>", ...],
      "witnessed": ..., "cosigners": [...], "missing": [...], "witness_policy": {...}
    }

The last four fields are what the log claimed when it made the bundle; a
verifier recomputes them from the cosignatures and its own witness policy and
never trusts them. A plain receipt (``/ledger/proof/<index>``, whose
``checkpoint`` note already carries the cosignature lines) and a query's
``{"receipt": {"proof": ...}}`` are read the same way.

:func:`verify_receipt` checks, in order: that the receipt is for the expected
log (origin and key), the log's signature on the checkpoint, that the
receipt's size and root are the checkpoint's, that the entry hashes to the
leaf and names the same index, the RFC 9162 inclusion proof, each
cosignature by a witness of the policy, and the policy's quorum. The first
check that fails raises :class:`~datacompact.errors.VerificationFailed` whose
``details["check"]`` names it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from datacompact.errors import MalformedInput, PayloadTooLarge, VerificationFailed
from datacompact.ledger.formats.checkpoint import Checkpoint, parse_size
from datacompact.ledger.formats.merkle import HASH_SIZE, MAX_PROOF_HASHES, leaf_hash
from datacompact.ledger.formats.merkle import verify_inclusion as _verify_inclusion
from datacompact.ledger.formats.note import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Ed25519Verifier,
    Note,
    Signature,
    verify_note,
)
from datacompact.ledger.formats.policy import Policy

BUNDLE_FORMAT = "datacompact-receipt-bundle/v1"
#: A bundle is small: one entry, one note, at most 64 proof hashes.
MAX_BUNDLE_BYTES = 2 * MAX_NOTE_BYTES

#: The checks of :func:`verify_receipt`, in the order they run.
CHECKS = ("log", "checkpoint", "entry", "inclusion_proof", "cosignature", "quorum")


@dataclass(frozen=True)
class Receipt:
    """A parsed receipt or bundle: the entry, its proof and the cosigned checkpoint note."""

    index: int
    leaf_hash: bytes
    tree_size: int
    root_hash: bytes | None
    proof: tuple[bytes, ...]
    note: Note
    entry: bytes | None = None
    origin: str | None = None
    log_key: str | None = None

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> Receipt:
        """Parse a bundle, a ``/ledger/proof`` receipt or a query's receipt, strictly."""
        value: Any = data
        if isinstance(data, str | bytes):
            raw = data.encode("utf-8") if isinstance(data, str) else data
            if len(raw) > MAX_BUNDLE_BYTES:
                raise PayloadTooLarge(
                    f"回执过大 / expected a receipt of at most {MAX_BUNDLE_BYTES} bytes, got more"
                )
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise _malformed("expected a JSON object, got text that is not JSON") from exc
        if isinstance(value, Mapping) and isinstance(value.get("receipt"), Mapping):
            # ``queries show --json``: the proof sits under receipt.proof.
            value = value["receipt"].get("proof")
            if value is None:
                raise _malformed("expected a receipt with its proof, got one not yet proved")
        if not isinstance(value, Mapping):
            raise _malformed("expected a JSON object, got another JSON value")
        return _parse(value)


def _malformed(english: str) -> MalformedInput:
    return MalformedInput(f"回执格式错误 / malformed receipt: {english}")


def _field(value: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    found = value.get(name)
    if not isinstance(found, kind) or (isinstance(found, bool) and kind is not bool):
        raise _malformed(f"expected the field {name!r} of the right type, got another")
    return found


def _hex(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != 2 * HASH_SIZE:
        raise _malformed(f"expected {2 * HASH_SIZE} hex digits of {what}, got another form")
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise _malformed(f"expected hex digits of {what}, got other characters") from exc


def _parse(value: Mapping[str, Any]) -> Receipt:
    fmt = value.get("format")
    if fmt is not None and fmt != BUNDLE_FORMAT:
        raise _malformed(f"expected the format {BUNDLE_FORMAT}, got another")
    index = parse_size(str(_field(value, "index", int)), "index")
    size = parse_size(str(_field(value, "tree_size", int)), "tree size")
    proof_items = _field(value, "inclusion_proof", list)
    if len(proof_items) > MAX_PROOF_HASHES:
        raise _malformed(f"expected at most {MAX_PROOF_HASHES} proof hashes, got more")
    proof = tuple(_hex(item, "a proof hash") for item in proof_items)
    note = Note.from_text(_field(value, "checkpoint", str))
    extra = value.get("cosignatures", [])
    if not isinstance(extra, list) or len(extra) > MAX_SIGNATURES:
        raise _malformed("expected 'cosignatures' as a list of signature lines, got another")
    lines = [Signature.from_line(_line(item)) for item in extra]
    known = {(s.name, s.key_id, s.signature) for s in note.signatures}
    added = tuple(s for s in lines if (s.name, s.key_id, s.signature) not in known)
    if added:
        note = Note(note.text, note.signatures + added)
    entry = None
    if value.get("entry") is not None:
        try:
            entry = base64.b64decode(_field(value, "entry", str), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _malformed("expected the entry in base64, got other characters") from exc
    if value.get("leaf_hash") is not None or entry is None:
        leaf = _hex(value.get("leaf_hash"), "leaf hash")
    else:
        leaf = leaf_hash(entry)
    root = _hex(value["root_hash"], "root hash") if value.get("root_hash") is not None else None
    origin = value.get("origin")
    log_key = value.get("log_key")
    if origin is not None and not isinstance(origin, str):
        raise _malformed("expected the field 'origin' as text, got another type")
    if log_key is not None and not isinstance(log_key, str):
        raise _malformed("expected the field 'log_key' as text, got another type")
    return Receipt(index, leaf, size, root, proof, note, entry, origin, log_key)


def _line(item: Any) -> str:
    if not isinstance(item, str):
        raise _malformed("expected each cosignature as a signature line, got another type")
    return item.removesuffix("\n")


@dataclass(frozen=True)
class ReceiptVerdict:
    """What :func:`verify_receipt` established."""

    origin: str
    index: int
    tree_size: int
    root_hash: bytes
    #: policy names whose cosignatures verified, in policy order
    cosigners: tuple[str, ...]
    #: the policy's quorum witnesses that did not cosign
    missing: tuple[str, ...]
    #: the quorum rule in words, or None without a policy
    quorum: str | None
    #: True when the quorum holds; None when no policy was given
    witnessed: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "verified": True,
            "origin": self.origin,
            "index": self.index,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "witnessed": self.witnessed,
            "cosigners": list(self.cosigners),
            "missing": list(self.missing),
            "quorum": self.quorum,
        }

    def summary(self) -> str:
        """The one line ``verify receipt`` prints."""
        head = f"已验证 / verified: entry {self.index} is in {self.origin} at size {self.tree_size}"
        if self.witnessed is None:
            return head + "; witnesses not checked (no witness policy given)"
        cosigned = ", ".join(self.cosigners) or "none"
        return f"{head}; witnessed by {cosigned} (quorum {self.quorum})"


_LABELS = {
    "log": "另一个日志 / another log",
    "checkpoint": "检查点 / checkpoint",
    "entry": "条目 / entry",
    "inclusion_proof": "包含证明 / inclusion proof",
    "cosignature": "副署 / cosignature",
    "quorum": "见证法定数 / quorum",
}


def _fail(check: str, message: str, **details: Any) -> VerificationFailed:
    details = {"check": check, "finding_label": _LABELS[check], **details}
    return VerificationFailed(message, details=details)


def verify_receipt(
    receipt: Receipt, *, log_key: Ed25519Verifier, policy: Policy | None
) -> ReceiptVerdict:
    """Verify every part of ``receipt``; raise on the first check that fails."""
    # 1. The right log: a bundle names its origin and key; both must be ours.
    if receipt.origin is not None and receipt.origin != log_key.name:
        raise _fail(
            "log",
            "回执属于另一个日志（来源不同）/ the receipt is for another log: its origin is not "
            "the origin of the given log key",
        )
    if receipt.log_key is not None and receipt.log_key != log_key.vkey:
        raise _fail(
            "log",
            "回执属于另一个日志（公钥不同）/ the receipt is for another log: it names another "
            "log key than the one given",
        )
    # 2. The checkpoint, signed by that log.
    try:
        verified = verify_note(receipt.note, [log_key])
    except VerificationFailed as exc:
        raise _fail(
            "checkpoint",
            "检查点签名无效 / the checkpoint's signature by the log key does not verify",
        ) from exc
    checkpoint = Checkpoint.from_text(verified.text)
    if checkpoint.origin != log_key.name:
        raise _fail(
            "log",
            "检查点属于另一个日志 / the checkpoint is for another log: its origin is not the "
            "log key's name",
        )
    if checkpoint.size != receipt.tree_size or (
        receipt.root_hash is not None and receipt.root_hash != checkpoint.root_hash
    ):
        raise _fail(
            "checkpoint",
            "回执的树大小或根哈希与检查点不符 / the receipt's tree size or root differs from "
            "its signed checkpoint",
        )
    # 3. The entry: it hashes to the leaf, and names this index.
    if receipt.entry is not None:
        if leaf_hash(receipt.entry) != receipt.leaf_hash:
            raise _fail("entry", "条目与叶哈希不符 / the entry does not hash to the leaf hash")
        try:
            seq = orjson.loads(receipt.entry).get("seq")
        except (orjson.JSONDecodeError, AttributeError):
            seq = None
        if seq is not None and seq != receipt.index:
            raise _fail("entry", "条目序号与回执序号不符 / the entry names another log index")
    # 4. The inclusion proof against the signed root (RFC 9162 §2.1.3.2).
    try:
        _verify_inclusion(
            leaf_hash=receipt.leaf_hash,
            index=receipt.index,
            size=checkpoint.size,
            proof=list(receipt.proof),
            root=checkpoint.root_hash,
        )
    except VerificationFailed as exc:
        raise _fail(
            "inclusion_proof",
            "包含证明无效 / the inclusion proof does not lead to the checkpoint's root",
        ) from exc
    except MalformedInput as exc:
        raise _fail(
            "inclusion_proof",
            "包含证明与序号或树大小不匹配 / the inclusion proof does not fit the index and size",
        ) from exc
    if policy is None:
        return ReceiptVerdict(
            checkpoint.origin, receipt.index, checkpoint.size, checkpoint.root_hash,
            (), (), None, None,
        )  # fmt: skip
    # 5. Cosignatures: a bad one by a known witness is tampering, not absence.
    good, bad = policy.cosigners(receipt.note)
    if bad:
        raise _fail(
            "cosignature",
            f"见证副署无效 / the cosignature of witness {bad[0]} does not verify",
            witnesses=list(bad),
        )
    expected = policy.quorum_witnesses()
    missing = tuple(name for name in expected if name not in good)
    quorum = policy.quorum_text()
    # 6. The quorum (C2SP tlog-policy).
    if not policy.has_witnesses or not policy.satisfied_by(good):
        cosigned = ", ".join(good) or "none"
        raise _fail(
            "quorum",
            f"见证未达法定数 / not witnessed: quorum {quorum} not met, cosigned by {cosigned}, "
            f"missing {', '.join(missing) or 'none'}",
            cosigners=list(good),
            missing=list(missing),
        )
    return ReceiptVerdict(
        checkpoint.origin, receipt.index, checkpoint.size, checkpoint.root_hash,
        good, missing, quorum, True,
    )  # fmt: skip


def witness_status(policy: Policy | None, note: Note) -> dict[str, Any]:
    """The witness fields of a receipt: ``witnessed`` only when a policy's quorum holds.

    Without a policy, or with the quorum ``none``, nothing was witnessed.
    """
    if policy is None:
        return {"witnessed": False, "cosigners": [], "missing": [], "witness_policy": None}
    good, _bad = policy.cosigners(note)
    missing = [name for name in policy.quorum_witnesses() if name not in good]
    return {
        "witnessed": policy.has_witnesses and policy.satisfied_by(good),
        "cosigners": list(good),
        "missing": missing,
        "witness_policy": policy.describe(),
    }


def make_bundle(
    *,
    log_key: Ed25519Verifier,
    index: int,
    entry: bytes,
    proof: list[bytes],
    note: Note,
    policy: Policy | None,
) -> dict[str, Any]:
    """A bundle's JSON object: the log-signed checkpoint and the cosignature lines apart."""
    checkpoint = Checkpoint.from_text(note.text)
    log_sigs = tuple(s for s in note.signatures if (s.name, s.key_id) == _ident(log_key))
    cosigs = [s.to_line().removesuffix("\n") for s in note.signatures if s not in log_sigs]
    return {
        "format": BUNDLE_FORMAT,
        "origin": log_key.name,
        "log_key": log_key.vkey,
        "log_key_id": f"{log_key.key_id:08x}",
        "index": index,
        "entry": base64.b64encode(entry).decode("ascii"),
        "leaf_hash": leaf_hash(entry).hex(),
        "tree_size": checkpoint.size,
        "root_hash": checkpoint.root_hash.hex(),
        "inclusion_proof": [h.hex() for h in proof],
        "checkpoint": Note(note.text, log_sigs).to_text(),
        "cosignatures": cosigs,
        **witness_status(policy, note),
    }


def _ident(key: Ed25519Verifier) -> tuple[str, int]:
    return key.name, key.key_id
