"""Verified bearer tokens, remembered per process while nothing that decides them changed.

Authenticating a token reads the token, its member and the member's
participant: three rows joined, then the effective roles computed. A read
request pays for that on every call. This cache remembers the principal a
token stood for, and is exact rather than time-bounded, because every change
that can take a principal away is a logged event (revoking a token,
deactivating a member or changing its roles, suspending or revoking a
participant), written in the same transaction as the change:

* each lookup reads the log's size (``ledger_head.size``, one row) in the
  request's own read transaction;
* the events appended since the process last looked are scanned once per
  process (their types only), and any event that is not a query's outcome
  marks every remembered principal as stale;
* a principal is served only if it was verified in a snapshot that already
  held every such event, and only before its token expires.

So a revocation takes effect at once in every worker and on every host,
without a time window. Writes never use the cache: they authenticate again
inside their own write transaction (``_deps.writing``, ``_deps.recheck``).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.clock import utcnow
from datacompact.config import GovernanceMode
from datacompact.errors import TokenExpired
from datacompact.events import EventType
from datacompact.permissions import Principal
from datacompact.registry.tokens import authenticate
from datacompact.store.models import ApiToken, Event, LedgerHead

#: Event types that never change who a token stands for: the outcomes of
#: queries and releases, the bulk of a busy log. Any other event, including
#: types added later, makes every remembered principal stale.
_HARMLESS = frozenset(
    {
        EventType.QUERY_EXECUTED,
        EventType.QUERY_REFUSED,
        EventType.QUERY_FAILED,
        EventType.RELEASE_COMPUTED,
    }
)

#: Principals remembered per process (least recently used first out).
MAX_ENTRIES = 4096
#: New events looked at in one go; past that the cache starts afresh instead
#: (a process's first request on a long log, a worker idle through a busy hour).
MAX_SCAN = 1000


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    expires_at: datetime
    verified_at_size: int  # the log's size in the snapshot that verified it


class VerifiedTokens:
    """Principals of verified tokens, keyed by the token's SHA-256."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[tuple[str, GovernanceMode], _Entry] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()
        self._scanned = 0  # every event below this index has been looked at
        self._stale_below = 0  # an entry verified at a smaller size may be stale
        self.hits = 0

    def principal(self, session: Session, *, token: str, governance: GovernanceMode) -> Principal:
        """The principal ``token`` stands for, as :func:`authenticate` finds it in ``session``."""
        size = session.scalar(select(LedgerHead.size).where(LedgerHead.id == 1))
        if size is None:  # a store without a log yet: nothing to key on
            return authenticate(session=session, token=token, governance=governance)
        self._catch_up(session, size)
        key = (hashlib.sha256(token.encode()).hexdigest(), governance)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.verified_at_size >= self._stale_below:
                self._entries.move_to_end(key)
                if entry.expires_at <= utcnow():
                    del self._entries[key]
                    raise TokenExpired("令牌已过期 / the token has expired")
                self.hits += 1
                return entry.principal
        principal = authenticate(session=session, token=token, governance=governance)
        expires_at = session.scalar(
            select(ApiToken.expires_at).where(ApiToken.token_sha256 == key[0])
        )
        if expires_at is not None:
            with self._lock:
                self._entries[key] = _Entry(principal, expires_at, size)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return principal

    def _catch_up(self, session: Session, size: int) -> None:
        """Look at the events this process has not seen below ``size``, once."""
        with self._lock:
            if size <= self._scanned:
                # Nothing new, or the older snapshot of a request that began
                # before another one looked further: entries verified later
                # hold newer state, and entries it verifies are judged by
                # the events already seen.
                return
            if not self._entries or size - self._scanned > MAX_SCAN:
                # Nothing to judge, or more to read than verifying afresh costs:
                # forget everything remembered and skip the scan.
                self._entries.clear()
                self._stale_below = self._scanned = size
                return
            types = session.scalars(
                select(Event.type).where(Event.seq >= self._scanned, Event.seq < size)
            )
            if any(t not in _HARMLESS for t in types):
                self._stale_below = size
                self._entries.clear()
            self._scanned = size
