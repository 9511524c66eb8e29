"""Sealed bids: AES-256-GCM under a per-tender HKDF key, opened only at the deadline."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from datacompact.errors import (
    ConfigurationError,
    InvalidInput,
    InvalidTransition,
    MalformedInput,
    PayloadTooLarge,
    VerificationFailed,
)
from datacompact.procurement.sealing import MAX_DOCUMENT_BYTES, SealedBid, open_sealed, seal

SECRET = bytes(range(32))
CST = timezone(timedelta(hours=8))
DEADLINE = datetime(2025, 3, 24, 9, 30, tzinfo=CST)
DOCUMENT = "投标文件：一网通办平台开发标段，报价 3,180,000 元".encode()


def _seal(document: bytes = DOCUMENT, **kwargs: object) -> SealedBid:
    args: dict[str, object] = {"secret": SECRET, "tender_id": "T-2025-017", "bidder_id": "P-42"}
    return seal(document, **{**args, **kwargs})  # type: ignore[arg-type]


def _open(sealed: SealedBid, **kwargs: object) -> bytes:
    args: dict[str, object] = {
        "secret": SECRET,
        "tender_id": "T-2025-017",
        "bidder_id": "P-42",
        "deadline": DEADLINE,
        "now": DEADLINE + timedelta(minutes=1),
    }
    return open_sealed(sealed, **{**args, **kwargs})  # type: ignore[arg-type]


def test_roundtrip() -> None:
    sealed = _seal()
    assert sealed.sha256 == hashlib.sha256(DOCUMENT).hexdigest()
    assert len(sealed.nonce) == 12
    assert len(sealed.ciphertext) == len(DOCUMENT) + 16
    assert DOCUMENT not in sealed.ciphertext
    assert _open(sealed) == DOCUMENT


def test_opening_exactly_at_the_deadline_is_allowed() -> None:
    # 87号令 art. 40: bids are opened at the very time submissions close.
    assert _open(_seal(), now=DEADLINE) == DOCUMENT
    assert _open(_seal(), now=DEADLINE.astimezone(UTC)) == DOCUMENT


def test_empty_document_roundtrips() -> None:
    assert _open(_seal(b"")) == b""


def test_key_is_hkdf_sha256_bound_to_the_tender() -> None:
    sealed = _seal()
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"datacompact/projects/sealed-bid/v1",
        info=b"tender:T-2025-017",
    ).derive(SECRET)
    aad = b'datacompact/sealed-bid/v1\x00["T-2025-017", "P-42"]'
    assert AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, aad) == DOCUMENT


def test_each_seal_uses_a_fresh_nonce() -> None:
    one, two = _seal(), _seal()
    assert one.nonce != two.nonce
    assert one.ciphertext != two.ciphertext
    assert one.sha256 == two.sha256
    assert one.key_id == two.key_id


def test_key_id_names_the_tender_key() -> None:
    assert _seal().key_id != _seal(tender_id="T-2025-018").key_id
    assert _seal().key_id != _seal(secret=b"x" * 32).key_id
    assert len(_seal().key_id) == 16


def test_early_opening_is_refused() -> None:
    with pytest.raises(InvalidTransition) as info:
        _open(_seal(), now=DEADLINE - timedelta(seconds=1))
    assert info.value.message == (
        "开标时间未到 / bids stay sealed until the deadline 2025-03-24T09:30:00+08:00"
    )
    assert info.value.status == 409


@pytest.mark.parametrize("field", ["deadline", "now"])
def test_naive_datetimes_are_refused(field: str) -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        _open(_seal(), **{field: datetime(2025, 3, 24, 10, 0)})


def _flip(data: bytes, index: int = 0) -> bytes:
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: replace(s, ciphertext=_flip(s.ciphertext)),
        lambda s: replace(s, ciphertext=_flip(s.ciphertext, -1)),  # the GCM tag
        lambda s: replace(s, ciphertext=s.ciphertext[:-1]),
        lambda s: replace(s, nonce=_flip(s.nonce)),
    ],
    ids=["ciphertext", "tag", "truncated", "nonce"],
)
def test_tampering_fails_authentication(tamper) -> None:
    with pytest.raises(VerificationFailed) as info:
        _open(tamper(_seal()))
    assert info.value.details["reason"] == "authentication_failed"


def test_a_changed_hash_is_caught() -> None:
    other = hashlib.sha256(b"another document").hexdigest()
    with pytest.raises(VerificationFailed) as info:
        _open(replace(_seal(), sha256=other))
    assert info.value.details["reason"] == "hash_mismatch"


def test_a_sealed_bid_cannot_move_to_another_bidder() -> None:
    with pytest.raises(VerificationFailed) as info:
        _open(_seal(), bidder_id="P-43")
    assert info.value.details["reason"] == "authentication_failed"


def test_ids_are_bound_unambiguously() -> None:
    # With a naive "tender|bidder" AAD these two would authenticate as each other.
    sealed = _seal(tender_id="T", bidder_id="a|b")
    with pytest.raises(VerificationFailed):
        _open(sealed, tender_id="T", bidder_id="a|c")


def test_another_tenders_key_opens_nothing() -> None:
    sealed = _seal()
    with pytest.raises(VerificationFailed) as info:
        _open(sealed, tender_id="T-2025-018")
    assert info.value.details["reason"] == "key_mismatch"
    # Even with the key id forged to match, the other tender's key fails to authenticate.
    forged = replace(sealed, key_id=_seal(tender_id="T-2025-018").key_id)
    with pytest.raises(VerificationFailed) as info:
        _open(forged, tender_id="T-2025-018")
    assert info.value.details["reason"] == "authentication_failed"


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(VerificationFailed):
        _open(_seal(), secret=b"y" * 32)


@pytest.mark.parametrize("secret", [b"short", "text-secret-of-32-characters...."])
def test_unusable_secrets_are_configuration_errors(secret: object) -> None:
    with pytest.raises(ConfigurationError):
        _seal(secret=secret)


@pytest.mark.parametrize(("tender_id", "bidder_id"), [("", "P-42"), ("T-1", ""), (7, "P-42")])
def test_ids_must_be_non_empty_strings(tender_id: object, bidder_id: object) -> None:
    with pytest.raises(InvalidInput):
        _seal(tender_id=tender_id, bidder_id=bidder_id)


def test_documents_must_be_bytes() -> None:
    with pytest.raises(InvalidInput, match="bytes"):
        _seal("投标文件")  # type: ignore[arg-type]


def test_size_limit() -> None:
    assert MAX_DOCUMENT_BYTES == 50 * 1024 * 1024
    assert _open(_seal(b"x" * 64, max_bytes=64), max_bytes=64) == b"x" * 64
    with pytest.raises(PayloadTooLarge) as info:
        _seal(b"x" * 65, max_bytes=64)
    assert info.value.status == 413
    assert info.value.details == {"limit": 64, "size": 65}
    with pytest.raises(PayloadTooLarge):
        _open(_seal(b"x" * 65), max_bytes=64)


@pytest.mark.parametrize(
    "broken",
    [
        lambda s: replace(s, nonce=s.nonce[:8]),
        lambda s: replace(s, sha256=s.sha256[:10]),
        lambda s: replace(s, sha256=s.sha256.upper()),
    ],
    ids=["short-nonce", "short-hash", "uppercase-hash"],
)
def test_malformed_records_are_refused(broken) -> None:
    with pytest.raises(MalformedInput):
        _open(broken(_seal()))
