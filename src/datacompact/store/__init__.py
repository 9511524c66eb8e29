"""The metadata store: tables, sessions, migrations and locks (SQLite or PostgreSQL).

* :mod:`~datacompact.store.base`: the declarative base with its naming
  convention and the portable column types (:class:`UTCDateTime`);
  migrations refer to the types by this path;
* :mod:`~datacompact.store.models` and :mod:`~datacompact.store.project_models`:
  the tables of every domain, on one ``MetaData``;
* :mod:`~datacompact.store.session`: :class:`Database`, its write and read
  transactions on either store;
* :mod:`~datacompact.store.bulk`: lean bulk inserts for the log's hot path;
* :mod:`~datacompact.store.locks`: named locks held to the end of a write transaction;
* :mod:`~datacompact.store.migrate`: Alembic upgrades and revisions.

The names below load their module on first use, so a command that never
opens the store does not load SQLAlchemy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datacompact.store.base import Base, UTCDateTime
    from datacompact.store.bulk import insert_rows, placeholders
    from datacompact.store.locks import BOOTSTRAP, hold_lock
    from datacompact.store.migrate import current_revision, head_revision, upgrade
    from datacompact.store.session import Database, ReadCache

# Each name loads its module on first use (PEP 562).
_MODULE_OF = {
    "Base": "base",
    "UTCDateTime": "base",
    "insert_rows": "bulk",
    "placeholders": "bulk",
    "BOOTSTRAP": "locks",
    "hold_lock": "locks",
    "current_revision": "migrate",
    "head_revision": "migrate",
    "upgrade": "migrate",
    "Database": "session",
    "ReadCache": "session",
}

__all__ = [
    "BOOTSTRAP",
    "Base",
    "Database",
    "ReadCache",
    "UTCDateTime",
    "current_revision",
    "head_revision",
    "hold_lock",
    "insert_rows",
    "placeholders",
    "upgrade",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
