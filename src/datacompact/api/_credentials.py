"""Verified bearer tokens, remembered per worker while nothing that decides them changed.

Authenticating a token reads the token, its member and the member's
participant: three rows joined, then the effective roles computed. A read
request pays for that on every call. This cache remembers the principal a
token stood for, and is exact rather than time-bounded: every change that can
take a principal away (revoking a token, deactivating a member or changing
its roles, suspending or revoking a participant) is a logged event, and
:class:`~datacompact.api._freshness.ChangeWatch` says whether one was appended
since the principal was verified. A principal is also served only before its
token expires.

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

from datacompact.api._freshness import ChangeWatch
from datacompact.clock import utcnow
from datacompact.config import GovernanceMode
from datacompact.errors import TokenExpired
from datacompact.permissions import Principal
from datacompact.registry.tokens import authenticate
from datacompact.store.models import ApiToken

#: Principals remembered per process (least recently used first out).
MAX_ENTRIES = 4096


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    expires_at: datetime
    verified_at_size: int  # the log's size in the snapshot that verified it


class VerifiedTokens:
    """Principals of verified tokens, keyed by the token's SHA-256."""

    def __init__(self, watch: ChangeWatch, max_entries: int = MAX_ENTRIES) -> None:
        self._watch = watch
        self._entries: OrderedDict[tuple[str, GovernanceMode], _Entry] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()
        self.hits = 0

    def principal(self, session: Session, *, token: str, governance: GovernanceMode) -> Principal:
        """The principal ``token`` stands for, as :func:`authenticate` finds it in ``session``."""
        observed = self._watch.observe(session)
        if observed is None:  # a store without a log yet: nothing to key on
            return authenticate(session=session, token=token, governance=governance)
        key = (hashlib.sha256(token.encode()).hexdigest(), governance)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and observed.holds(entry.verified_at_size):
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
                self._entries[key] = _Entry(principal, expires_at, observed.size)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return principal
