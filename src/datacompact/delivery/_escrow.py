"""Key code in escrow (代码托管): AES-256-GCM under a per-contract key.

The key is derived by HKDF-SHA256 (RFC 5869) from the platform secret, with
its own salt so that it shares nothing with the sealed-bid keys. Two bindings
keep an escrowed blob where it belongs:

* the HKDF ``info`` names the contract, so one contract's key opens no other;
* the associated data names the contract *and* the SHA-256 of the plaintext,
  so a ciphertext copied over another deposit of the same contract fails to
  authenticate.

Opening checks the plaintext against its hash again: only the hash is ever
public, and it must still describe what comes out.

>>> secret = bytes(range(32))
>>> sealed = seal(b"int main() {}", secret=secret, contract_id=7)
>>> unseal(sealed, secret=secret, contract_id=7)
b'int main() {}'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from datacompact.crypto import NONCE_BYTES, SealingKey
from datacompact.errors import MalformedInput, VerificationFailed

# Domain separation of escrow keys from every other use of the platform secret.
_HKDF_SALT = b"datacompact/projects/escrow/v1"
_KEY_ID_LABEL = b"datacompact/projects/escrow/key-id/v1\x00"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Sealed:
    """An escrowed deposit; ``sha256`` is the hex digest of the plaintext."""

    sha256: str
    nonce: bytes
    ciphertext: bytes  # the encrypted code followed by its 16-byte GCM tag
    key_id: str  # names the per-contract key without revealing it


def _contract_key(secret: bytes, contract_id: int) -> SealingKey:
    info = b"contract:" + str(int(contract_id)).encode()
    return SealingKey.from_platform_secret(secret, purpose=info, salt=_HKDF_SALT)


def _aad(contract_id: int, sha256: str) -> bytes:
    # A JSON array cannot be split two ways, unlike a "contract|hash" string.
    return b"datacompact/escrow/v1\x00" + json.dumps([int(contract_id), sha256]).encode()


def seal(content: bytes, *, secret: bytes, contract_id: int) -> Sealed:
    """Hash and encrypt ``content`` for escrow under ``contract_id``."""
    digest = hashlib.sha256(content).hexdigest()
    key = _contract_key(secret, contract_id)
    nonce, ciphertext = key.seal(content, associated_data=_aad(contract_id, digest))
    return Sealed(digest, nonce, ciphertext, key.key_id(_KEY_ID_LABEL))


def unseal(sealed: Sealed, *, secret: bytes, contract_id: int) -> bytes:
    """The escrowed content, once the seal and the hash check out.

    Raises :class:`MalformedInput` for a record of the wrong shape and
    :class:`VerificationFailed` when the ciphertext, nonce, hash or contract
    does not match.
    """
    if len(sealed.nonce) != NONCE_BYTES or not _SHA256_HEX.fullmatch(sealed.sha256):
        raise MalformedInput(
            f"托管记录格式错误 / expected a {NONCE_BYTES}-byte nonce and a hex SHA-256, "
            f"got a {len(sealed.nonce)}-byte nonce and a {len(sealed.sha256)}-character hash"
        )
    key = _contract_key(secret, contract_id)
    # The key id tells a wrong contract apart from tampering.
    if not hmac.compare_digest(sealed.key_id, key.key_id(_KEY_ID_LABEL)):
        raise VerificationFailed(
            "托管密钥不属于本合同 / the escrowed code was not sealed under this contract's key",
            details={"reason": "key_mismatch"},
        )
    try:
        content = key.open(
            sealed.nonce, sealed.ciphertext, associated_data=_aad(contract_id, sealed.sha256)
        )
    except VerificationFailed as exc:
        raise VerificationFailed(
            "托管代码校验失败 / the escrowed code does not authenticate: it was altered "
            "or sealed for another deposit",
            details={"reason": "authentication_failed"},
        ) from exc
    if not hmac.compare_digest(hashlib.sha256(content).hexdigest(), sealed.sha256):
        raise VerificationFailed(
            "托管代码哈希不符 / the escrowed code does not match the hash recorded at deposit",
            details={"reason": "hash_mismatch"},
        )
    return content
