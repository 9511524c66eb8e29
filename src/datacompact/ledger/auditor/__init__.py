"""The auditor client: mirror a served log, recompute its tree, check receipts.

This package imports :mod:`datacompact.ledger.formats` and
:mod:`datacompact.ledger.witness` (for its atomic file writes), never the
store or :mod:`datacompact.ledger.log`: it sees the log only as a C2SP
tlog-tiles server does.

- :mod:`.audit` — :func:`audit_log`, what ``datacompact audit`` runs, and
  :func:`verify_checkpoint` (re-exported here);
- :mod:`.receipt_fetch` — fetching one receipt bundle (by log index or by
  query) and the log key, for ``datacompact verify receipt``;
- ``_fetch`` (parallel tile and bundle fetching), ``_mirror`` (the mirror's
  committed state), ``_declared`` (declared losses) and ``_receipts``
  (receipt checks) are its internals.
"""

from datacompact.ledger.auditor.audit import (
    DEFAULT_WORKERS,
    AuditResult,
    Finding,
    VerifiedCheckpoint,
    audit_log,
    verify_checkpoint,
)

__all__ = [
    "DEFAULT_WORKERS",
    "AuditResult",
    "Finding",
    "VerifiedCheckpoint",
    "audit_log",
    "verify_checkpoint",
]
