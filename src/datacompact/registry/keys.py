"""Participants' Ed25519 signing keys.

The public key is published; the 32-byte private seed is stored encrypted
with AES-256-GCM under a key derived (HKDF-SHA256) from the platform secret.
The participant id is bound in as associated data, so a ciphertext copied to
another participant's row fails to decrypt instead of signing in its name.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from datacompact.crypto import SealingKey
from datacompact.errors import ConfigurationError, VerificationFailed
from datacompact.ledger.formats.note import format_vkey
from datacompact.store.models import Participant, ParticipantKey

_KEY_INFO = b"datacompact/participant-signing-key/v1"


def _wrapping_key(secret: bytes) -> SealingKey:
    return SealingKey.derive(secret, purpose=_KEY_INFO)


def _aad(participant_id: int) -> bytes:
    return f"participant:{participant_id}".encode()


def new_key(*, participant_id: int, secret: bytes) -> ParticipantKey:
    """A fresh key pair for ``participant_id``, its seed sealed under the platform secret."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    nonce, sealed = _wrapping_key(secret).seal(seed, associated_data=_aad(participant_id))
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return ParticipantKey(
        participant_id=participant_id,
        public_key=public,
        encrypted_seed=sealed,
        nonce=nonce,
        active=True,
    )


def signing_key(key: ParticipantKey, *, secret: bytes) -> Ed25519PrivateKey:
    """Decrypt the private key; a wrong secret or a moved ciphertext is a configuration error."""
    try:
        seed = _wrapping_key(secret).open(
            key.nonce, key.encrypted_seed, associated_data=_aad(key.participant_id)
        )
    except VerificationFailed as exc:
        raise ConfigurationError(
            "无法解密参与方私钥：平台密钥不匹配 / cannot unseal a participant key: "
            "the platform secret does not match",
            details={"participant_id": key.participant_id},
        ) from exc
    return Ed25519PrivateKey.from_private_bytes(seed)


ED25519_SIGNATURE_TYPE = 0x01  # C2SP signed-note: Ed25519 keys are type 0x01


def key_name(participant: Participant) -> str:
    """The signed-note key name of a participant, unique by its USCC."""
    return f"datacompact/participant/{participant.uscc}"


def verifier_key(participant: Participant, key: ParticipantKey) -> str:
    """The published key as a C2SP verifier key string ``name+keyid+base64(0x01‖pub)``."""
    return format_vkey(key_name(participant), ED25519_SIGNATURE_TYPE, key.public_key)
