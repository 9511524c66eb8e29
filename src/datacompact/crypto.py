"""Keys derived from the platform secret, and AES-GCM seals under them.

Every secret the platform keeps sealed (bid documents, escrowed code,
participants' signing seeds) and every keyed mask (pseudonyms) starts from one
platform secret. This module is the one place that turns it into keys:

- :func:`derive_key` is HKDF-SHA256 (RFC 5869). The ``purpose`` is the HKDF
  ``info`` and names what the key is for (a tender, a contract, a grant); the
  ``salt`` separates one family of keys from every other use of the secret.
- :class:`SealingKey` is an AES-256-GCM key (NIST SP 800-38D) that seals with
  a fresh random 96-bit nonce and associated data, and opens only what was
  sealed under it with the same associated data. Its :meth:`SealingKey.key_id`
  is a one-way label of the key, stored beside a seal so that a seal under
  another key can be told apart from a tampered one.

It is a bottom layer: it imports only ``cryptography`` and
:mod:`datacompact.errors`.

>>> key = SealingKey.derive(bytes(range(32)), purpose=b"tender:T-1", salt=b"example/v1")
>>> sealed = key.seal(b"document", associated_data=b"bidder:P-9")
>>> key.open(sealed.nonce, sealed.ciphertext, associated_data=b"bidder:P-9")
b'document'
"""

from __future__ import annotations

import hashlib
import secrets
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from datacompact.errors import ConfigurationError, VerificationFailed

__all__ = [
    "KEY_BYTES",
    "MIN_SECRET_BYTES",
    "NONCE_BYTES",
    "TAG_BYTES",
    "Sealed",
    "SealingKey",
    "derive_key",
]

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the 96-bit nonce of NIST SP 800-38D
TAG_BYTES = 16
#: The shortest platform secret keys are derived from.
MIN_SECRET_BYTES = 16
_KEY_ID_HEX = 16


def derive_key(
    secret: bytes, *, purpose: bytes, salt: bytes | None = None, length: int = KEY_BYTES
) -> bytes:
    """HKDF-SHA256 of ``secret`` with ``purpose`` as info (RFC 5869 §2).

    A key of one purpose says nothing about the key of another:

    >>> derive_key(b"s" * 32, purpose=b"grant:1") != derive_key(b"s" * 32, purpose=b"grant:2")
    True
    >>> len(derive_key(b"s" * 32, purpose=b"grant:1", length=16))
    16
    """
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=purpose).derive(secret)


class Sealed(NamedTuple):
    """One seal: the nonce, and the ciphertext followed by its 16-byte GCM tag."""

    nonce: bytes
    ciphertext: bytes


class SealingKey:
    """An AES-256-GCM key that seals with associated data.

    >>> key = SealingKey(bytes(32))
    >>> key.key_id(b"example/key-id/v1\\x00")
    'a5886bc44c42a653'
    """

    __slots__ = ("_aead", "_key")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"expected a {KEY_BYTES}-byte key, got {len(key)} bytes")
        self._key = key
        self._aead = AESGCM(key)

    @classmethod
    def derive(cls, secret: bytes, *, purpose: bytes, salt: bytes | None = None) -> SealingKey:
        """The sealing key of ``purpose``, derived from ``secret`` (:func:`derive_key`)."""
        return cls(derive_key(secret, purpose=purpose, salt=salt))

    @classmethod
    def from_platform_secret(cls, secret: bytes, *, purpose: bytes, salt: bytes) -> SealingKey:
        """:meth:`derive`, refusing a platform secret that is not bytes or is too short.

        >>> SealingKey.from_platform_secret(b"short", purpose=b"p", salt=b"s")
        Traceback (most recent call last):
        ...
        datacompact.errors.ConfigurationError: 平台密钥无效 / expected a platform secret of at least 16 bytes
        """
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                "平台密钥无效 / expected a platform secret of at least 16 bytes",
                details={"setting": "secret"},
            )
        return cls.derive(secret, purpose=purpose, salt=salt)

    def key_id(self, label: bytes) -> str:
        """A one-way label of the key: the first 16 hex digits of SHA-256(label ‖ key)."""
        return hashlib.sha256(label + self._key).hexdigest()[:_KEY_ID_HEX]

    def seal(self, plaintext: bytes, *, associated_data: bytes) -> Sealed:
        """Encrypt ``plaintext`` under a fresh random nonce, binding ``associated_data``.

        Random 96-bit nonces stay safe under one key for up to 2**32 seals (NIST
        SP 800-38D §8.3); every key here seals far fewer (one tender's bids, one
        contract's deposits, one participant's seed).
        """
        nonce = secrets.token_bytes(NONCE_BYTES)
        return Sealed(nonce, self._aead.encrypt(nonce, plaintext, associated_data))

    def open(self, nonce: bytes, ciphertext: bytes, *, associated_data: bytes) -> bytes:
        """The plaintext, or :class:`VerificationFailed` if the seal does not authenticate.

        It fails when the ciphertext, nonce or associated data was altered, or
        when the seal was made under another key.
        """
        try:
            return self._aead.decrypt(nonce, ciphertext, associated_data)
        except InvalidTag as exc:
            raise VerificationFailed(
                "密封数据校验失败 / the sealed data does not authenticate",
                details={"reason": "authentication_failed"},
            ) from exc
