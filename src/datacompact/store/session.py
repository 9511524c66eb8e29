"""Engines, sessions and transactions for SQLite and PostgreSQL.

Mutating work runs in :meth:`Database.write`, reads in :meth:`Database.read`.
On SQLite a write transaction starts with ``BEGIN IMMEDIATE``: it takes the
write lock before its first read, so two writers queue on the busy timeout
instead of one of them failing with a stale snapshot half-way through. Reads
use ``BEGIN`` (deferred) and, with WAL, never wait for a writer.

On PostgreSQL both run at READ COMMITTED; ledger appends serialize on the
``ledger_head`` row (``SELECT ... FOR UPDATE``), see ``datacompact.events``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from datacompact.errors import Conflict, DataCompactError, InvalidInput, StoreUnavailable

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: A pooled PostgreSQL connection idle for longer than this is pinged before use.
PING_AFTER_IDLE_SECONDS = 1.0


def _json(value: Any) -> str:
    # orjson: the log's append path serializes a payload per event.
    return orjson.dumps(value).decode()


def _sqlite_engine(url: str, *, immediate: bool, synchronous: str = "FULL") -> Engine:
    # Pooled: opening a connection and setting its pragmas cost more than many
    # of the transactions that use it. Threads share the pool, never a connection.
    engine = create_engine(
        url,
        poolclass=QueuePool,
        pool_size=8,
        max_overflow=24,
        connect_args={"check_same_thread": False},
        json_serializer=_json,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that BEGIN is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgresql_engine(url: str) -> Engine:
    """A pool whose connections are pinged before use only after they sat idle.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip more
    for each of a request's transactions (four for a governed query). A
    connection returned less than :data:`PING_AFTER_IDLE_SECONDS` ago was
    working then; one idle for longer (the server restarted meanwhile, a
    firewall dropped it) is pinged, and replaced when the ping finds it dead.
    A connection the server drops within that second fails its statement
    instead, as any request does while the store is down (``StoreUnavailable``),
    and SQLAlchemy then discards the pool's older connections.
    """
    engine = create_engine(url, pool_size=5, max_overflow=10, json_serializer=_json)
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned")
        if returned is not None and time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                # The pool drops this connection and checks out another (or a new one).
                raise DisconnectionError("the pooled connection is dead") from exc
            raise

    return engine


class GroupSync:
    """Group commit for SQLite: one ``fsync`` of the write-ahead log for many commits.

    With ``synchronous=FULL`` every commit syncs the log while it still holds
    the database's only write lock, so writers queue behind the disk. Here
    commits run with ``synchronous=NORMAL`` (the log is written, not synced,
    and survives a crash of the process) and :meth:`sync` is called after
    each, outside the lock. Callers that arrive while a sync runs wait for
    the next one, which covers all of their commits, since the log is
    written in order: a commit is acknowledged only once it is on disk.
    """

    def __init__(self, wal: Path) -> None:
        self._wal = wal
        self._changed = threading.Condition()
        self._started = 0  # syncs begun
        self._done = 0  # syncs finished
        self._running = False

    def sync(self) -> None:
        """Return once a sync that began after this call has finished."""
        with self._changed:
            needed = self._started + 1
            while self._done < needed:
                if self._running:
                    self._changed.wait()
                    continue
                self._running = True
                self._started += 1
                mine = self._started
                self._changed.release()
                synced = False
                try:
                    self._fsync()
                    synced = True
                finally:
                    self._changed.acquire()
                    self._running = False
                    if synced:
                        self._done = mine
                    # On failure the waiters try again themselves.
                    self._changed.notify_all()

    def _fsync(self) -> None:
        try:
            fd = os.open(self._wal, os.O_RDONLY)
        except FileNotFoundError:
            # No log file: nothing written yet, or the last connection
            # checkpointed it into the database (synced) and removed it.
            return
        try:
            os.fsync(fd)
        except OSError as exc:
            raise StoreUnavailable(
                "元数据存储无法落盘 / the metadata store could not sync its log to disk",
                details={"driver_error": type(exc).__name__},
            ) from exc
        finally:
            os.close(fd)


class WriterQueue:
    """Writers of one SQLite file take turns on an OS file lock before ``BEGIN IMMEDIATE``.

    SQLite's own wait for its write lock polls with sleeps of up to 100 ms,
    which put whole tenths of a second into the slowest requests when two
    server processes write at once. A blocking ``flock`` wakes the next
    writer as soon as the lock is released. Each thread opens its own lock
    file description (``flock`` locks belong to one), and a thread already
    writing does not take it again. Writers outside the platform (a backup,
    the ``sqlite3`` shell) still meet SQLite's own lock.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mine = threading.local()

    @contextmanager
    def turn(self) -> Iterator[None]:
        import fcntl

        depth = getattr(self._mine, "depth", 0)
        if depth == 0:
            if getattr(self._mine, "file", None) is None:
                self._mine.file = _LockFile(self._path)
            fcntl.flock(self._mine.file.fd, fcntl.LOCK_EX)
        self._mine.depth = depth + 1
        try:
            yield
        finally:
            self._mine.depth = depth
            if depth == 0:
                fcntl.flock(self._mine.file.fd, fcntl.LOCK_UN)


class _LockFile:
    """A thread's descriptor of the writers' lock file, closed with the thread's locals."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def __del__(self) -> None:
        os.close(self.fd)


class ReadCache(Protocol):
    """Values a service built from a read session, kept while they hold.

    ``get(session, key, build)`` returns ``build()``, or what it returned for
    ``key`` in an earlier snapshot if nothing logged since could have changed
    it. The API keeps one per worker; a service authorizes before it asks, and
    keys on every input of what it builds.
    """

    def get(self, session: Session, key: Hashable, build: Callable[[], T]) -> T: ...


class Database:
    """The metadata store at one URL, with a read and a write session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._group_sync: GroupSync | None = None
        self._writers: WriterQueue | None = None
        if self.is_sqlite:
            self.read_engine = _sqlite_engine(url, immediate=False)
            # WAL with synchronous=NORMAL: a commit survives the process, and is
            # on disk by the next sync of the log (its frames are written in order).
            self.lazy_write_engine = _sqlite_engine(url, immediate=True, synchronous="NORMAL")
            database = make_url(url).database
            if database and database != ":memory:":
                # Commits are synced after the write lock is released (GroupSync).
                self.write_engine = self.lazy_write_engine
                self._group_sync = GroupSync(Path(f"{Path(database).resolve()}-wal"))
                self._writers = WriterQueue(Path(f"{Path(database).resolve()}-writers"))
            else:
                self.write_engine = _sqlite_engine(url, immediate=True)
        else:
            self.read_engine = self.write_engine = self.lazy_write_engine = _postgresql_engine(url)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self._lazy_write = sessionmaker(self.lazy_write_engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed on success and on disk when this returns.

        Rolled back on any error.
        """
        with _translated():
            with self._turn(), self._write() as session, session.begin():
                yield session
            if self._group_sync is not None:
                self._group_sync.sync()

    def _turn(self) -> AbstractContextManager[None]:
        return self._writers.turn() if self._writers is not None else nullcontext()

    @contextmanager
    def write_unsynced(self) -> Iterator[Session]:
        """A write transaction whose commit does not wait for the disk.

        For a step whose effect is made durable by a later synced commit of
        the same work before anyone sees its outcome (the charge of a query,
        made durable by the commit that logs the query's answer): the store's
        write-ahead log is flushed in order, so that commit flushes this one
        too. A crash of the process loses nothing; a power cut may lose the
        step, together with everything that depended on it.
        """
        with _translated(), self._turn(), self._lazy_write() as session, session.begin():
            if not self.is_sqlite:
                session.execute(text("SET LOCAL synchronous_commit = off"))
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """One read-only transaction; closing the session rolls it back, never commits."""
        with _translated(), self._read() as session:
            yield session

    def ping(self) -> None:
        with self.read() as session:
            session.execute(text("SELECT 1"))

    def dispose(self) -> None:
        for engine in {self.read_engine, self.write_engine, self.lazy_write_engine}:
            engine.dispose()


@contextmanager
def _translated() -> Iterator[None]:
    """Translate driver failures into ``StoreUnavailable``; our own errors pass through."""
    try:
        yield
    except DataCompactError:
        raise
    except IntegrityError as exc:
        # Services check uniqueness first; this is the race where two requests
        # passed that check together and the database kept the second one out.
        raise Conflict(
            "与已有记录冲突 / the write conflicts with an existing record",
            details={"driver_error": type(exc.orig).__name__ if exc.orig else "IntegrityError"},
        ) from exc
    except OverflowError as exc:
        # A number beyond the 64-bit columns, from input the edges did not bound.
        raise InvalidInput(
            "数值超出范围 / expected an integer within 64 bits, got a larger one"
        ) from exc
    except (OperationalError, DBAPIError) as exc:
        raise StoreUnavailable(
            "元数据存储不可用 / the metadata store is unavailable",
            details={"driver_error": type(exc.orig).__name__ if exc.orig else type(exc).__name__},
        ) from exc
    except SQLAlchemyError as exc:
        raise StoreUnavailable(
            "元数据存储操作失败 / the metadata store refused the operation",
            details={"driver_error": type(exc).__name__},
        ) from exc
