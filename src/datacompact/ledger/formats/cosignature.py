"""C2SP tlog-cosignature: timestamped Ed25519 witness cosignatures (type 0x04).

A cosignature is a note signature on a checkpoint (tlog-cosignature,
"Format"). For the Ed25519 kind:

- the key ID is ``SHA-256(name || 0x0A || 0x04 || public key)[:4]``;
- the signature bytes are a ``timestamped_signature``: an 8-byte big-endian
  POSIX timestamp (at most 2**63-1) followed by the 64-byte Ed25519 signature;
- the signed message is ``cosignature/v1\\ntime <t>\\n`` followed by the whole
  checkpoint body ("Ed25519 signed message").

:class:`CosignatureVerifier` satisfies the note :class:`~datacompact.ledger.formats.note.Verifier`
protocol, so cosignatures are checked by the same
:func:`~datacompact.ledger.formats.note.verify_note` as log signatures.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature

from datacompact.errors import MalformedInput, VerificationFailed
from datacompact.ledger.formats.checkpoint import Checkpoint
from datacompact.ledger.formats.note import (
    Signature,
    SignerKey,
    VerifierKey,
    load_ed25519_public,
)

#: Signature type byte of timestamped Ed25519 cosignatures (signed-note, "Signature types").
COSIGNATURE_TYPE = 0x04
MAX_TIMESTAMP = 2**63 - 1
_SIGNATURE_SIZE = 8 + 64


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The Ed25519 signed message: header, time line, then the checkpoint body.

    The body must parse as a checkpoint: a witness only ever vouches for one.
    """
    Checkpoint.from_text(checkpoint_text)
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedInput("expected a timestamp between 0 and 2**63-1, got another")
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_text}".encode()


def split_timestamped(signature: bytes) -> tuple[int, bytes]:
    """Split a ``timestamped_signature`` into its timestamp and Ed25519 signature."""
    if len(signature) != _SIGNATURE_SIZE:
        raise MalformedInput(
            f"expected {_SIGNATURE_SIZE}-byte timestamped signature, got {len(signature)} bytes"
        )
    (timestamp,) = struct.unpack(">Q", signature[:8])
    if timestamp > MAX_TIMESTAMP:
        raise MalformedInput("expected a timestamp between 0 and 2**63-1, got a larger one")
    return timestamp, signature[8:]


@dataclass(frozen=True)
class CosignatureVerifier(VerifierKey):
    """A witness's public key; verifies cosignatures over checkpoint bodies."""

    SIG_TYPE = COSIGNATURE_TYPE
    KIND = "a cosignature (type 0x04)"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Note-verifier protocol: ``message`` is the checkpoint body as bytes."""
        try:
            self.timestamp_of(message.decode("utf-8"), signature)
        except (MalformedInput, VerificationFailed, UnicodeDecodeError):
            return False
        return True

    def timestamp_of(self, checkpoint_text: str, signature: bytes) -> int:
        """Verify one cosignature and return its timestamp; raise if it fails."""
        timestamp, raw = split_timestamped(signature)
        message = cosigned_message(checkpoint_text, timestamp)
        try:
            load_ed25519_public(self.public_key).verify(raw, message)
        except InvalidSignature as exc:
            raise VerificationFailed("expected a valid cosignature, got a bad one") from exc
        return timestamp


class CosignatureSigner(SignerKey[CosignatureVerifier]):
    """A witness's private key; produces cosignature lines over checkpoint bodies."""

    SIG_TYPE = COSIGNATURE_TYPE
    KIND = "a cosignature (type 0x04)"
    VERIFIER = CosignatureVerifier

    def cosign(self, checkpoint_text: str, timestamp: int) -> Signature:
        """The cosignature line's content for ``checkpoint_text`` at ``timestamp``."""
        message = cosigned_message(checkpoint_text, timestamp)
        blob = struct.pack(">Q", timestamp) + self._private.sign(message)
        return Signature(self._name, self._key_id, blob)


def generate_cosigner_key(name: str) -> tuple[str, str]:
    """A new witness key pair as ``(signer key, verifier key)`` strings."""
    signer = CosignatureSigner.generate(name)
    return signer.skey, signer.verifier().vkey
