"""Receipt spot checks for ``audit``: ``<url>/proof/<index>`` verified against the log key.

A receipt is answered from the log's stored inner nodes, which no tile
exposes, so this is where an operator who altered those is caught.
"""

from __future__ import annotations

import base64
import binascii
import json

from datacompact.errors import DataCompactError, MalformedInput, VerificationFailed
from datacompact.ledger.auditor._fetch import Fetcher, Finding, error, relabel
from datacompact.ledger.formats.checkpoint import Checkpoint, open_checkpoint
from datacompact.ledger.formats.merkle import leaf_hash, verify_inclusion
from datacompact.ledger.formats.note import MAX_NOTE_BYTES, Ed25519Verifier


def _receipt_indices(size: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``[0, size)``, both ends included."""
    if size == 0 or count == 0:
        return []
    return sorted({(i * size) // count for i in range(count)} | {size - 1})


def check_receipts(fetcher: Fetcher, log: Ed25519Verifier, audited: Checkpoint, count: int) -> None:
    """Fetch receipts and verify each one's signature, entry and inclusion proof.

    A receipt answers from the log's stored inner nodes, which no tile
    exposes, so this is what catches an operator who altered those. Each is
    asked for against the audited tree size and must carry the audited root,
    so its entry is proved to be the one the mirror holds at that index.
    """
    for index in _receipt_indices(audited.size, count):
        # Proved against the very checkpoint audited, so the receipt's root
        # must be the one the entries were just recomputed to.
        raw = fetcher.get(
            f"proof/{index}?size={audited.size}",
            what=f"receipt {index}",
            limit=MAX_NOTE_BYTES,
            missing=Finding.BAD_RECEIPT,
        )
        try:
            receipt = json.loads(raw)
            entry = base64.b64decode(receipt["entry"], validate=True)
            proof = [bytes.fromhex(h) for h in receipt["inclusion_proof"]]
            note = str(receipt["checkpoint"])
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise error(
                MalformedInput,
                Finding.MALFORMED,
                f"expected a JSON receipt for {index}, got another form",
            ) from exc
        try:
            signed = open_checkpoint(note, [log]).checkpoint
            verify_inclusion(
                leaf_hash=leaf_hash(entry),
                index=index,
                size=signed.size,
                proof=proof,
                root=signed.root_hash,
            )
        except DataCompactError as exc:
            raise relabel(exc, Finding.BAD_RECEIPT) from exc
        if signed.size != audited.size or signed.root_hash != audited.root_hash:
            raise error(
                VerificationFailed,
                Finding.BAD_RECEIPT,
                f"expected receipt {index} against the audited checkpoint, got another tree",
            )
