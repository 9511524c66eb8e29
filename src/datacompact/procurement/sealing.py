"""Sealed bids: hashed and encrypted on submission, opened only at the deadline.

A bid document is sealed with AES-256-GCM under a key derived by HKDF-SHA256
(RFC 5869) from the platform secret. Two bindings keep a sealed blob where it
belongs:

* the HKDF ``info`` names the tender, so the key of one tender opens no other;
* the associated data names the tender *and* the bidder, so a ciphertext copied
  to another bidder's submission fails to authenticate.

The SHA-256 of the plaintext is taken at submission. It is the value logged on
the transparency log, so a bidder can prove what it submitted before anyone
could read it; at opening, the decrypted document must hash to it again.

Opening is refused before the deadline. 87号令 art. 40 opens the bids at the
very time submissions close, so opening *at* the deadline is allowed. The
refusal is an :class:`~datacompact.errors.InvalidTransition`: the bid cannot
yet move from sealed to opened, whoever asks. The caller logs the opening.

>>> from datetime import UTC, datetime
>>> secret = bytes(range(32))
>>> sealed = seal(b"bid", secret=secret, tender_id="T-1", bidder_id="P-9")
>>> deadline = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
>>> open_sealed(sealed, secret=secret, tender_id="T-1", bidder_id="P-9",
...             deadline=deadline, now=deadline)
b'bid'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime

from datacompact.crypto import NONCE_BYTES, TAG_BYTES, SealingKey
from datacompact.errors import (
    InvalidInput,
    InvalidTransition,
    MalformedInput,
    PayloadTooLarge,
    VerificationFailed,
)

#: Largest bid document accepted: 50 MiB.
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
# Domain separation of bid-sealing keys from every other use of the platform secret.
_HKDF_SALT = b"datacompact/projects/sealed-bid/v1"
_KEY_ID_LABEL = b"datacompact/projects/sealed-bid/key-id/v1\x00"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class SealedBid:
    """What is stored at submission; ``sha256`` is the hex digest of the plaintext."""

    sha256: str
    nonce: bytes
    ciphertext: bytes  # AES-GCM output: the encrypted document followed by its 16-byte tag
    key_id: str  # names the per-tender key without revealing it


def _check_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"{what} 不能为空 / expected a non-empty string {what}",
            details={"field": what},
        )
    return value


def _tender_key(secret: bytes, tender_id: str) -> SealingKey:
    # One variable part after a fixed prefix, so the info string is unambiguous.
    info = b"tender:" + _check_id(tender_id, "tender_id").encode()
    return SealingKey.from_platform_secret(secret, purpose=info, salt=_HKDF_SALT)


def _aad(tender_id: str, bidder_id: str) -> bytes:
    # A JSON array cannot be split two ways, unlike "tender|bidder" with a "|" in an id.
    ids = [_check_id(tender_id, "tender_id"), _check_id(bidder_id, "bidder_id")]
    return b"datacompact/sealed-bid/v1\x00" + json.dumps(ids).encode()


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise PayloadTooLarge(
            f"投标文件过大 / expected a bid document of at most {max_bytes} bytes, got {size}",
            details={"limit": max_bytes, "size": size},
        )


def seal(
    document: bytes,
    *,
    secret: bytes,
    tender_id: str,
    bidder_id: str,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> SealedBid:
    """Hash and encrypt ``document`` for ``bidder_id``'s bid in ``tender_id``."""
    if not isinstance(document, bytes):
        raise InvalidInput(
            f"投标文件须为字节 / expected the bid document as bytes, got {type(document).__name__}"
        )
    _check_size(len(document), max_bytes)
    key = _tender_key(secret, tender_id)
    nonce, ciphertext = key.seal(document, associated_data=_aad(tender_id, bidder_id))
    return SealedBid(
        hashlib.sha256(document).hexdigest(), nonce, ciphertext, key.key_id(_KEY_ID_LABEL)
    )


def _check_aware(value: datetime, what: str) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(
            f"{what} 须带时区 / expected a timezone-aware datetime for {what}",
            details={"field": what},
        )


def open_sealed(
    sealed: SealedBid,
    *,
    secret: bytes,
    tender_id: str,
    bidder_id: str,
    deadline: datetime,
    now: datetime,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> bytes:
    """The bid document, once ``now`` has reached ``deadline`` and the seal checks out.

    Raises :class:`InvalidTransition` before the deadline, :class:`MalformedInput`
    for a sealed record of the wrong shape and :class:`VerificationFailed` when
    the ciphertext, nonce, hash, tender or bidder does not match.
    """
    _check_aware(deadline, "deadline")
    _check_aware(now, "now")
    if now < deadline:
        raise InvalidTransition(
            f"开标时间未到 / bids stay sealed until the deadline {deadline.isoformat()}",
            details={"deadline": deadline.isoformat()},
        )
    if len(sealed.nonce) != NONCE_BYTES or not _SHA256_HEX.fullmatch(sealed.sha256):
        raise MalformedInput(
            f"密封记录格式错误 / expected a {NONCE_BYTES}-byte nonce and a hex SHA-256, "
            f"got a {len(sealed.nonce)}-byte nonce and a {len(sealed.sha256)}-character hash"
        )
    _check_size(len(sealed.ciphertext) - TAG_BYTES, max_bytes)
    key = _tender_key(secret, tender_id)
    # The key id tells a wrong tender apart from tampering.
    if not hmac.compare_digest(sealed.key_id, key.key_id(_KEY_ID_LABEL)):
        raise VerificationFailed(
            "密封密钥不属于本次招标 / the sealed bid was not sealed under this tender's key",
            details={"reason": "key_mismatch"},
        )
    try:
        document = key.open(
            sealed.nonce, sealed.ciphertext, associated_data=_aad(tender_id, bidder_id)
        )
    except VerificationFailed as exc:
        raise VerificationFailed(
            "投标文件密封校验失败 / the sealed bid does not authenticate: it was altered "
            "or sealed for another bidder or tender",
            details={"reason": "authentication_failed"},
        ) from exc
    if not hmac.compare_digest(hashlib.sha256(document).hexdigest(), sealed.sha256):
        raise VerificationFailed(
            "投标文件哈希不符 / the opened document does not match the hash recorded at submission",
            details={"reason": "hash_mismatch"},
        )
    return document
