"""Receipt spot checks for ``audit``: ``<url>/proof/<index>`` verified against the log key.

A receipt is answered from the log's stored inner nodes, which no tile
exposes, so this is where an operator who altered those is caught.
"""

from __future__ import annotations

from datacompact.errors import DataCompactError, MalformedInput, VerificationFailed
from datacompact.ledger.auditor._fetch import Fetcher, Finding, error, relabel
from datacompact.ledger.formats.checkpoint import Checkpoint
from datacompact.ledger.formats.note import MAX_NOTE_BYTES, Ed25519Verifier
from datacompact.ledger.formats.receipt import Receipt, verify_receipt


def _receipt_indices(size: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``[0, size)``, both ends included."""
    if size == 0 or count == 0:
        return []
    return sorted({(i * size) // count for i in range(count)} | {size - 1})


def check_receipts(
    fetcher: Fetcher, log: Ed25519Verifier, audited: Checkpoint, count: int
) -> tuple[int, ...]:
    """Fetch receipts and verify each one end to end; return the indices checked.

    Each receipt goes through the same checks as ``datacompact verify
    receipt`` (the log, the checkpoint signature, the entry, the inclusion
    proof), asked for against the audited tree size, and must carry the
    audited root: so its entry is proved to be the one the mirror holds at
    that index. A receipt answers from the log's stored inner nodes, which no
    tile exposes, so this is what catches an operator who altered those.
    """
    indices = _receipt_indices(audited.size, count)
    for index in indices:
        raw = fetcher.get(
            f"proof/{index}?size={audited.size}",
            what=f"receipt {index}",
            limit=MAX_NOTE_BYTES,
            missing=Finding.BAD_RECEIPT,
        )
        try:
            receipt = Receipt.from_json(raw)
        except MalformedInput as exc:
            raise error(
                MalformedInput,
                Finding.MALFORMED,
                f"expected a JSON receipt for {index}, got another form",
            ) from exc
        if receipt.index != index:
            raise error(
                VerificationFailed,
                Finding.BAD_RECEIPT,
                f"expected receipt {index}, got the receipt of another index",
            )
        try:
            verdict = verify_receipt(receipt, log_key=log, policy=None)
        except DataCompactError as exc:
            raise relabel(exc, Finding.BAD_RECEIPT) from exc
        if verdict.tree_size != audited.size or verdict.root_hash != audited.root_hash:
            raise error(
                VerificationFailed,
                Finding.BAD_RECEIPT,
                f"expected receipt {index} against the audited checkpoint, got another tree",
            )
    return tuple(indices)
