"""C2SP tlog-cosignature: type 0x04 key IDs, the signed message and the timestamp."""

from __future__ import annotations

import base64
import struct

import pytest

from datacompact.errors import MalformedInput, VerificationFailed
from datacompact.ledger.formats.checkpoint import Checkpoint
from datacompact.ledger.formats.cosignature import (
    CosignatureSigner,
    CosignatureVerifier,
    cosigned_message,
    generate_cosigner_key,
    split_timestamped,
)
from datacompact.ledger.formats.note import (
    Ed25519Signer,
    Note,
    Signature,
    key_id,
    sign_note,
    verify_note,
)

SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
# The cosignature line from the c2sp.org/tlog-cosignature example.
SPEC_COSIG_LINE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlr"
    "DJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)


def test_signed_message_is_exactly_as_the_spec_shows() -> None:
    assert cosigned_message(SPEC_BODY, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_spec_example_carries_an_8_byte_big_endian_timestamp() -> None:
    sig = Signature.from_line(SPEC_COSIG_LINE)
    timestamp, raw = split_timestamped(sig.signature)
    # The spec's message example uses the same time as its signature line.
    assert timestamp == 1679315147
    assert len(raw) == 64


def test_key_id_uses_signature_type_0x04() -> None:
    signer = CosignatureSigner.generate("witness.example/w1")
    verifier = signer.verifier()
    assert verifier.key_id == key_id("witness.example/w1", 0x04, verifier.public_key)
    assert verifier.key_id != key_id("witness.example/w1", 0x01, verifier.public_key)
    assert base64.b64decode(verifier.vkey.split("+", 2)[2])[0] == 0x04


def test_cosign_and_verify_round_trip() -> None:
    skey, vkey = generate_cosigner_key("witness.example/w1")
    signer = CosignatureSigner.from_skey(skey)
    assert signer.skey == skey
    verifier = CosignatureVerifier.from_vkey(vkey)
    sig = signer.cosign(SPEC_BODY, 1_700_000_000)
    assert struct.unpack(">Q", sig.signature[:8])[0] == 1_700_000_000
    assert verifier.timestamp_of(SPEC_BODY, sig.signature) == 1_700_000_000
    parsed = Signature.from_line(sig.to_line().rstrip("\n"))
    assert parsed == sig


def test_cosignature_verifies_inside_a_note_next_to_the_log_signature() -> None:
    log = Ed25519Signer.generate("example.com/behind-the-sofa")
    witness = CosignatureSigner.generate("witness.example/w1")
    note = sign_note(SPEC_BODY, [log])
    cosigned = Note(note.text, (*note.signatures, witness.cosign(SPEC_BODY, 42)))
    text = cosigned.to_text()
    assert verify_note(text, [witness.verifier()]).verified_names == {"witness.example/w1"}
    assert verify_note(text, [log.verifier()]).verified_names == {"example.com/behind-the-sofa"}


def test_tampered_cosignatures_fail() -> None:
    signer = CosignatureSigner.generate("w")
    verifier = signer.verifier()
    sig = signer.cosign(SPEC_BODY, 100)
    # Changing the timestamp changes the signed message.
    moved = struct.pack(">Q", 101) + sig.signature[8:]
    with pytest.raises(VerificationFailed):
        verifier.timestamp_of(SPEC_BODY, moved)
    other_body = Checkpoint.from_text(SPEC_BODY)
    other = Checkpoint(other_body.origin, other_body.size + 1, other_body.root_hash).to_text()
    with pytest.raises(VerificationFailed):
        verifier.timestamp_of(other, sig.signature)
    assert not verifier.verify(other.encode(), sig.signature)
    assert not verifier.verify(b"\xff", sig.signature)
    # A plain Ed25519 note signature over the body is not a cosignature.
    plain = Ed25519Signer.generate("w")
    with pytest.raises(MalformedInput, match="72-byte"):
        verifier.timestamp_of(SPEC_BODY, plain.sign(SPEC_BODY.encode()))


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x00" * 71, "72-byte timestamped signature, got 71"),
        (b"\xff" * 8 + b"\x00" * 64, "timestamp"),
    ],
)
def test_malformed_timestamped_signatures(blob: bytes, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        split_timestamped(blob)


def test_malformed_cosigning_inputs() -> None:
    signer = CosignatureSigner.generate("w")
    with pytest.raises(MalformedInput, match="timestamp"):
        signer.cosign(SPEC_BODY, 2**63)
    with pytest.raises(MalformedInput, match="timestamp"):
        signer.cosign(SPEC_BODY, -1)
    with pytest.raises(MalformedInput, match="checkpoint lines"):
        signer.cosign("not a checkpoint\n", 1)


def test_key_types_are_not_interchangeable() -> None:
    log_skey = Ed25519Signer.generate("w").skey
    with pytest.raises(MalformedInput, match="type 0x04"):
        CosignatureSigner.from_skey(log_skey)
    log_vkey = Ed25519Signer.generate("w").verifier().vkey
    with pytest.raises(MalformedInput, match="type 0x04"):
        CosignatureVerifier.from_vkey(log_vkey)
