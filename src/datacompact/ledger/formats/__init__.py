"""The ledger's formats: pure functions and parsers, free of any database.

These modules import only the standard library, ``cryptography``, ``httpx``
(for URL parsing in :mod:`.policy`), ``orjson`` and :mod:`datacompact.errors`,
and one another; never :mod:`datacompact.store`, so an auditor can verify
proofs, notes and checkpoints offline:

- :mod:`.merkle` — tree hashing, proofs and their verification (RFC 9162 §2.1);
- :mod:`.note` — C2SP signed-note with Ed25519 keys;
- :mod:`.checkpoint` — C2SP tlog-checkpoint bodies;
- :mod:`.cosignature` — C2SP tlog-cosignature (Ed25519, type 0x04);
- :mod:`.tiles` — C2SP tlog-tiles paths, tile hashes and entry bundles;
- :mod:`.policy` — C2SP tlog-policy quorums;
- :mod:`.entry` — the canonical encoding of a log entry and its payload commitment;
- :mod:`.statement` — the recovery statement that declares entries lost;
- :mod:`.receipt` — receipt bundles and their end-to-end verification.
"""

from datacompact.ledger.formats import (
    checkpoint,
    cosignature,
    entry,
    merkle,
    note,
    policy,
    receipt,
    statement,
    tiles,
)

__all__ = [
    "checkpoint",
    "cosignature",
    "entry",
    "merkle",
    "note",
    "policy",
    "receipt",
    "statement",
    "tiles",
]
