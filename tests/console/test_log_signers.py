"""The log page's list of signatures: the log's own, and witnesses' cosignatures with their time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from datacompact.clock import utcnow
from datacompact.console._log import _signers
from datacompact.ledger.formats.checkpoint import Checkpoint
from datacompact.ledger.formats.cosignature import CosignatureSigner
from datacompact.ledger.formats.note import Ed25519Signer, Note, sign_note


def test_cosignatures_carry_their_time_and_age() -> None:
    log = Ed25519Signer.generate("example.org/log")
    witness = CosignatureSigner.generate("witness.example")
    text = Checkpoint("example.org/log", 3, b"\x01" * 32).to_text()
    stamp = int((utcnow() - timedelta(minutes=5)).timestamp())
    signed = sign_note(text, [log])
    cosigned = Note(signed.text, (*signed.signatures, witness.cosign(text, stamp))).to_text()
    found = _signers(cosigned, ["witness.example"])
    assert [s.name for s in found] == ["example.org/log", "witness.example"]
    assert found[0].cosigned_at is None
    assert found[0].age_seconds is None
    assert found[1].cosigned_at == datetime.fromtimestamp(stamp, tz=UTC)
    assert found[1].age_seconds is not None
    assert 290 <= found[1].age_seconds <= 400
