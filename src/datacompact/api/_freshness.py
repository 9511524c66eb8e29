"""What a worker read earlier still holds while the log shows no change to it.

Every state change is a logged event written in the same transaction as its
rows, so the log's size is a version of the whole store. A worker can keep
what it read (the principal a token stood for, a list of participants) and
serve it again while no event that could change it has been appended since:

* each use reads the log's size (``ledger_head.size``, one row) in the
  request's own read transaction, once per transaction;
* the events appended since the worker last looked are scanned once per
  process (their types only); any event that is not a query's or a release's
  outcome moves the *stale mark* up to the log's size;
* a value is served only if it was read in a snapshot at or above the stale
  mark.

So a change takes effect at once in every worker and on every host, with no
time window. Only state that query outcomes never change may be kept this
way: a grant's spent budget, for one, may not.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.events import EventType
from datacompact.store.models import Event, LedgerHead

T = TypeVar("T")

#: Event types that change nothing a worker keeps: the outcomes of queries and
#: releases, the bulk of a busy log. Any other event, including types added
#: later, makes everything kept stale.
HARMLESS = frozenset(
    {
        EventType.QUERY_EXECUTED,
        EventType.QUERY_REFUSED,
        EventType.QUERY_FAILED,
        EventType.RELEASE_COMPUTED,
    }
)

#: New events looked at in one go; past that everything kept is dropped instead
#: (a process's first request on a long log, a worker idle through a busy hour).
MAX_SCAN = 1000


class Observed(NamedTuple):
    """The log's size in a read snapshot, and the stale mark after catching up to it."""

    size: int
    stale_below: int

    def holds(self, read_at: int) -> bool:
        """True if a value read in a snapshot of size ``read_at`` is still current."""
        return read_at >= self.stale_below


class ChangeWatch:
    """One worker's view of which logged changes it has seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scanned = 0  # every event below this index has been looked at
        self._stale_below = 0  # a value read at a smaller size may be stale

    def observe(self, session: Session) -> Observed | None:
        """The log's size in ``session`` and the stale mark; None before the log exists."""
        # Once per transaction: every read in it sees the same snapshot.
        key = ("datacompact.freshness", id(self), id(session.get_transaction()))
        if key in session.info:
            return session.info[key]  # type: ignore[no-any-return]
        size = session.scalar(select(LedgerHead.size).where(LedgerHead.id == 1))
        observed = None if size is None else Observed(size, self._catch_up(session, size))
        session.info[key] = observed
        return observed

    def _catch_up(self, session: Session, size: int) -> int:
        with self._lock:
            if size <= self._scanned:
                # Nothing new, or the older snapshot of a request that began
                # before another one looked further: the mark already covers it.
                return self._stale_below
            if size - self._scanned > MAX_SCAN:
                self._stale_below = self._scanned = size
                return size
            types = session.scalars(
                select(Event.type).where(Event.seq >= self._scanned, Event.seq < size)
            )
            if any(t not in HARMLESS for t in types):
                self._stale_below = size
            self._scanned = size
            return self._stale_below


class _Kept(NamedTuple):
    value: Any
    read_at: int


class Views:
    """Values built from a read session, kept while the log shows no change to them.

    It serves the services' ``views`` parameter: ``get(session, key, build)``
    returns what ``build()`` returned for ``key`` in an earlier snapshot if
    that still holds, or builds it now. A service authorizes before it asks.
    """

    def __init__(self, watch: ChangeWatch, max_entries: int = 256) -> None:
        self._watch = watch
        self._max = max_entries
        self._kept: OrderedDict[Hashable, _Kept] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, session: Session, key: Hashable, build: Callable[[], T]) -> T:
        observed = self._watch.observe(session)
        if observed is None:
            return build()
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and observed.holds(kept.read_at):
                self._kept.move_to_end(key)
                self.hits += 1
                return kept.value  # type: ignore[no-any-return]
        value = build()
        with self._lock:
            self._kept[key] = _Kept(value, observed.size)
            self._kept.move_to_end(key)
            while len(self._kept) > self._max:
                self._kept.popitem(last=False)
        return value
