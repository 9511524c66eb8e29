"""The transparency log kept in the metadata store.

This package imports :mod:`datacompact.ledger.formats`,
:mod:`datacompact.ledger.witness`, :mod:`datacompact.store`,
:mod:`datacompact.config` (the home folder's log key) and
:mod:`datacompact.clock`. The store never imports it back, and neither do
:mod:`datacompact.ledger.formats` and :mod:`datacompact.ledger.auditor`.

- :mod:`.tree` — the stored tree: the locked head, appends of leaf hashes and
  proofs read from the stored nodes (re-exported here);
- :mod:`.entries` — appending encoded entries with their event rows, inside
  the caller's transaction (re-exported here);
- :mod:`.checkpoints` — the log key, signed checkpoints, witness
  cosignatures and receipts;
- :mod:`.recovery` — holding the log after a restore behind a published
  checkpoint, and declaring the lost entries;
- :mod:`.check` — ``datacompact ledger check``: the log recomputed from its
  entries and compared with everything stored.

The last three load the configuration and the HTTP client, so they are
imported by their own path (``from datacompact.ledger.log import checkpoints``)
rather than from here.
"""

from datacompact.ledger.log.entries import AppendedEntry, Entry, NewEntry, append_entries
from datacompact.ledger.log.tree import (
    StoredHashes,
    append_leaves,
    consistency_proof,
    hashes_in_level,
    inclusion_proof,
    lock_head,
    read_head,
    refuse_if_held,
    root_at,
)

__all__ = [
    "AppendedEntry",
    "Entry",
    "NewEntry",
    "StoredHashes",
    "append_entries",
    "append_leaves",
    "consistency_proof",
    "hashes_in_level",
    "inclusion_proof",
    "lock_head",
    "read_head",
    "refuse_if_held",
    "root_at",
]
