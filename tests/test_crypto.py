"""The one module of key derivation and AES-GCM seals."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from datacompact import crypto
from datacompact.errors import VerificationFailed

SECRET = bytes(range(32))


def test_derive_key_is_hkdf_sha256() -> None:
    expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"salt", info=b"tender:1").derive(
        SECRET
    )
    assert crypto.derive_key(SECRET, purpose=b"tender:1", salt=b"salt") == expected
    assert crypto.derive_key(SECRET, purpose=b"tender:2", salt=b"salt") != expected
    assert crypto.derive_key(SECRET, purpose=b"tender:1") != expected
    assert len(crypto.derive_key(SECRET, purpose=b"x", length=16)) == 16


def test_seal_opens_with_the_same_key_and_associated_data() -> None:
    key = crypto.SealingKey.derive(SECRET, purpose=b"contract:7", salt=b"salt")
    sealed = key.seal(b"content", associated_data=b"aad")
    assert len(sealed.nonce) == crypto.NONCE_BYTES
    assert len(sealed.ciphertext) == len(b"content") + crypto.TAG_BYTES
    assert key.open(sealed.nonce, sealed.ciphertext, associated_data=b"aad") == b"content"
    assert key.seal(b"content", associated_data=b"aad").nonce != sealed.nonce


@pytest.mark.parametrize("what", ["aad", "key", "nonce", "ciphertext"])
def test_open_refuses_anything_altered(what: str) -> None:
    key = crypto.SealingKey.derive(SECRET, purpose=b"contract:7")
    nonce, ciphertext = key.seal(b"content", associated_data=b"aad")
    aad = b"aad"
    if what == "aad":
        aad = b"other"
    elif what == "key":
        key = crypto.SealingKey.derive(SECRET, purpose=b"contract:8")
    elif what == "nonce":
        nonce = bytes(len(nonce))
    else:
        ciphertext = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    with pytest.raises(VerificationFailed) as caught:
        key.open(nonce, ciphertext, associated_data=aad)
    assert caught.value.details == {"reason": "authentication_failed"}


def test_key_id_names_the_key_one_way() -> None:
    key = crypto.SealingKey(bytes(32))
    other = crypto.SealingKey(bytes(31) + b"\x01")
    assert key.key_id(b"label") == key.key_id(b"label")
    assert len(key.key_id(b"label")) == 16
    assert key.key_id(b"label") != other.key_id(b"label")
    assert key.key_id(b"label") != key.key_id(b"other label")


def test_sealing_key_refuses_a_key_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="expected a 32-byte key, got 16 bytes"):
        crypto.SealingKey(bytes(16))
