"""Named locks held until the end of the current write transaction.

A service that checks a condition no row can be locked for (the platform is
still empty, say) and then acts on it takes a named lock first, so that two
transactions cannot both pass the check.

On PostgreSQL the name becomes a transaction-scoped advisory lock
(``pg_advisory_xact_lock``): a second transaction taking the same name waits
until the first commits or rolls back, and then, at READ COMMITTED, sees what
the first committed. On SQLite every write transaction of
:meth:`~datacompact.store.session.Database.write` starts with
``BEGIN IMMEDIATE`` and so already holds the database's only write lock, which
serializes it with every other writer; the name adds nothing there. Either
way the lock is taken only inside a write transaction, and a read
transaction gets no guarantee from it.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session

#: Serializes the bootstrap of an empty platform (``registry.participants``).
BOOTSTRAP = "bootstrap"


def advisory_key(name: str) -> int:
    """The signed 64-bit key of ``name`` for PostgreSQL's advisory locks.

    Prefixed, so that other applications sharing the database with their own
    advisory locks are unlikely to collide with ours.

    >>> advisory_key("bootstrap") == advisory_key("bootstrap") != advisory_key("other")
    True
    >>> -(2**63) <= advisory_key("bootstrap") < 2**63
    True
    """
    digest = hashlib.sha256(b"datacompact.store.locks:" + name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def hold_lock(session: Session, name: str) -> None:
    """Hold the lock ``name`` until ``session``'s transaction ends (waits for it if taken)."""
    if session.connection().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(name)})
