"""Known vectors of every key derivation and seal the platform stores.

Sealed bids, escrowed code, participant signing keys and pseudonyms are kept
in stores and backups, so their bytes must never change: each vector below
was produced once and must still open (or still be reproduced) exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from datacompact.delivery import _escrow
from datacompact.policy.queries import pseudonym_key
from datacompact.privacy import masking
from datacompact.procurement import sealing
from datacompact.registry import keys
from datacompact.store.models import ParticipantKey

SECRET = bytes(range(32))


def test_sealed_bid_vector_still_opens() -> None:
    sealed = sealing.SealedBid(
        sha256="26543c4565c8ace44a4aafc161120228dcd2d427e51be491bceebc795d8a4de4",
        nonce=bytes.fromhex("8dd4d270bd6948f91c556d53"),
        ciphertext=bytes.fromhex("780c1542f026d854e61c904054bb5ef3f58eb68f0e9b513c04850ef9"),
        key_id="003d34c25d014726",
    )
    deadline = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
    document = sealing.open_sealed(
        sealed, secret=SECRET, tender_id="T-1", bidder_id="P-9", deadline=deadline, now=deadline
    )
    assert document == b"bid document"
    fresh = sealing.seal(document, secret=SECRET, tender_id="T-1", bidder_id="P-9")
    assert (fresh.key_id, fresh.sha256) == (sealed.key_id, sealed.sha256)


def test_escrow_vector_still_opens() -> None:
    sealed = _escrow.Sealed(
        sha256="00096d96da5299e65479678a8e79b07ab36e6185120e892a1360e1be25e84fbb",
        nonce=bytes.fromhex("8ab6e272711b03cc24d9fbb3"),
        ciphertext=bytes.fromhex("954ba58d8895b63c3f7cb21f23267082839401e47070b7e652b6077908"),
        key_id="769662f295f22ca1",
    )
    assert _escrow.unseal(sealed, secret=SECRET, contract_id=7) == b"int main() {}"
    assert _escrow.seal(b"x", secret=SECRET, contract_id=7).key_id == sealed.key_id


def test_participant_key_vector_still_opens() -> None:
    row = ParticipantKey(
        participant_id=3,
        public_key=bytes.fromhex(
            "96e11c768c619134ca6f170ac2f585d5081cc51ad4c557cc8c7b9d1c548fcfd9"
        ),
        nonce=bytes.fromhex("c86049a574cf166ee7eee427"),
        encrypted_seed=bytes.fromhex(
            "a227f9e93f77fa2793955403abffef1e33358e884eedaa974473098b56ec834a"
            "00d87d2d581e05410a349bb95a0d0e2c"
        ),
        active=True,
    )
    private = keys.signing_key(row, secret=SECRET)
    assert private.public_key().public_bytes_raw() == row.public_key


def test_pseudonym_key_vectors() -> None:
    assert masking.derive_key(SECRET, "grant:7").hex() == (
        "f4f92858d37ad533df193a9e41e2c15c06af7781a033749d01081800f688c7a6"
    )
    assert masking.derive_key(SECRET, "grant:7", length=16).hex() == (
        "f4f92858d37ad533df193a9e41e2c15c"
    )
    assert pseudonym_key(SECRET).hex() == (
        "98ece4868f76462ffe0b497eedc945499c64c9314729e8c1c913899a102d264a"
    )
    masked = masking.pseudonymize(pa.array(["13800138000", None]), secret=SECRET, context="grant:7")
    assert masked.to_pylist() == ["6fc49ff04fc46d59c5188a502c4a1714", None]
