"""The verifiable ledger: an RFC 6962/9162 transparency log with C2SP formats.

The ledger is split as Tessera splits a log's code, into parts that import in
one direction only: :mod:`.formats` imports none of the others,
:mod:`.witness` imports :mod:`.formats`, and :mod:`.log` and :mod:`.auditor`
import both of those but never each other.

- :mod:`.formats` — the pure formats: Merkle tree math and proofs (RFC 9162
  §2.1), C2SP signed notes, tlog-checkpoint bodies, tlog-cosignatures,
  tlog-tiles, tlog-policy quorums, recovery statements and the canonical
  encoding of a log entry. It imports nothing from the store or the
  configuration, and does no I/O (``httpx`` serves only to parse a policy's
  URLs), so an auditor verifies proofs, notes and checkpoints offline.
- :mod:`.witness` — an independent C2SP tlog-witness ``add-checkpoint``
  server, and the client the log uses to ask witnesses for cosignatures. Of
  the ledger's parts it imports only :mod:`.formats`.
- :mod:`.log` — the log in the metadata store: the stored tree and its
  proofs, appending entries, signed checkpoints and receipts, holding and
  recovering after a restore, and the full self-check. It imports
  :mod:`.formats`, :mod:`.witness`, :mod:`datacompact.store` and
  :mod:`datacompact.config`.
- :mod:`.auditor` — the auditor client: it mirrors a served log over HTTP,
  recomputes its tree and checks receipts. It imports :mod:`.formats` and
  :mod:`.witness` and never reads the store.

Nothing in the ledger imports :mod:`datacompact.events`: the events service
records its events through :mod:`.log`.

This package itself imports none of its parts until one is asked for
(``datacompact.ledger.log`` or ``from datacompact.ledger import log``), so
importing ``datacompact.ledger.formats`` loads no store.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

__all__ = ["auditor", "formats", "log", "witness"]


def __getattr__(name: str) -> ModuleType:
    # PEP 562: a part is imported when first named, never with the package.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return import_module(f"{__name__}.{name}")
