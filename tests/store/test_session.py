"""Transactions of the store: synced and unsynced writes (both backends)."""

from __future__ import annotations

import fcntl
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session

from datacompact.errors import StoreUnavailable
from datacompact.platform import Platform
from datacompact.store import session as session_module
from datacompact.store.session import Database, GroupSync
from tests.conftest import PgServer


def _durability(session: Session, is_sqlite: bool) -> str:
    if is_sqlite:
        level = session.execute(text("PRAGMA synchronous")).scalar_one()
        return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[level]
    return str(session.execute(text("SHOW synchronous_commit")).scalar_one())


def test_unsynced_write_commits_without_waiting_for_the_disk(empty_platform: Platform) -> None:
    db = empty_platform.db
    with db.write() as session:
        # SQLite: synced by GroupSync after the commit, not inside it.
        assert _durability(session, db.is_sqlite) in ("NORMAL", "on")
        session.execute(text("CREATE TABLE scratch (note VARCHAR(20))"))
    with db.write_unsynced() as session:
        assert _durability(session, db.is_sqlite) in ("NORMAL", "off")
        session.execute(text("INSERT INTO scratch VALUES ('示范')"))
    # Committed and visible to others; the next synced write is synced again.
    with db.read() as session:
        assert session.execute(text("SELECT note FROM scratch")).scalar_one() == "示范"
    with db.write() as session:
        assert _durability(session, db.is_sqlite) in ("NORMAL", "on")


def test_unsynced_write_rolls_back_on_error(empty_platform: Platform) -> None:
    db = empty_platform.db
    with db.write() as session:
        session.execute(text("CREATE TABLE scratch (note VARCHAR(20))"))
    # The raise inside the transaction is the point: it must roll back.
    with pytest.raises(RuntimeError), db.write_unsynced() as session:  # noqa: PT012
        session.execute(text("INSERT INTO scratch VALUES ('半途')"))
        raise RuntimeError("midway")
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM scratch")).scalar_one() == 0


def test_group_sync_covers_every_caller_with_fewer_fsyncs(tmp_path) -> None:
    """Each sync() returns only after an fsync that began after it was called."""
    sync = GroupSync(tmp_path / "store.db-wal")
    began: list[float] = []

    def slow_fsync() -> None:
        began.append(time.monotonic())
        time.sleep(0.02)

    sync._fsync = slow_fsync  # type: ignore[method-assign]
    calls: list[tuple[float, float]] = []
    lock = threading.Lock()

    def writer() -> None:
        for _ in range(10):
            called = time.monotonic()
            sync.sync()
            with lock:
                calls.append((called, time.monotonic()))

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 80
    assert len(began) < 80  # coalesced
    for called, returned in calls:
        # Some fsync began after the call and ended (began + 20 ms) before the return.
        assert any(called <= b and b + 0.02 <= returned + 1e-3 for b in began)


def test_group_sync_failure_is_a_store_error_and_the_next_caller_retries(tmp_path) -> None:
    wal = tmp_path / "store.db-wal"
    wal.write_bytes(b"")
    sync = GroupSync(wal)
    failures = iter([OSError(5, "I/O error")])

    real_fsync = os.fsync

    def flaky(fd: int) -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        real_fsync(fd)

    os_fsync = "datacompact.store.session.os.fsync"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os_fsync, flaky)
        with pytest.raises(StoreUnavailable):
            sync.sync()
        sync.sync()  # the next one syncs


def test_writes_on_sqlite_are_synced_after_the_lock(tmp_path: Path) -> None:
    # SQLite's mechanism: PostgreSQL groups the WAL flushes of concurrent commits itself.
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    synced: list[int] = []
    assert db._group_sync is not None
    original = db._group_sync.sync

    def counted() -> None:
        synced.append(1)
        original()

    db._group_sync.sync = counted  # type: ignore[method-assign]
    with db.write() as session:
        session.execute(text("CREATE TABLE scratch (note VARCHAR(20))"))
    with db.write_unsynced() as session:
        session.execute(text("INSERT INTO scratch VALUES ('a')"))
    assert synced == [1]


def test_sqlite_writers_take_turns_on_the_lock_file(tmp_path: Path) -> None:
    """A writer holds the writers' lock file for its transaction, and only for it."""
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    lock_file = Path(f"{Path(make_url(db.url).database or '').resolve()}-writers")

    def free() -> bool:
        fd = os.open(lock_file, os.O_RDWR)  # another description, as another process has
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True

    with db.write() as session:
        session.execute(text("CREATE TABLE scratch (note VARCHAR(20))"))
        assert not free()
    assert free()
    assert lock_file.stat().st_mode & 0o777 == 0o600
    with db.write_unsynced() as session:
        session.execute(text("INSERT INTO scratch VALUES ('a')"))
        assert not free()
    assert free()


def _postgresql(pg_server: PgServer | None) -> tuple[PgServer, str]:
    if pg_server is None:
        pytest.skip("needs DATACOMPACT_TEST_DATABASE_URL (PostgreSQL)")
    name = f"dct_{uuid.uuid4().hex[:16]}"
    return pg_server, name


def _drop_connections(pg_server: PgServer, name: str) -> None:
    with pg_server.admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
            {"name": name},
        )


def test_postgresql_pings_a_pooled_connection_only_after_it_sat_idle(
    pg_server: PgServer | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, name = _postgresql(pg_server)
    db = Database(server.create(name))
    try:
        pings: list[object] = []
        dialect = db.read_engine.dialect
        ping = dialect.do_ping

        def counted(connection: Any) -> bool:
            pings.append(connection)
            return ping(connection)

        monkeypatch.setattr(dialect, "do_ping", counted)
        db.ping()  # a new connection: pinged
        for _ in range(5):  # back in use within the second: not pinged again
            db.ping()
        assert len(pings) == 1

        # Dropped by the server while idle: the ping finds it dead, and a new
        # connection answers; no request sees the drop.
        _drop_connections(server, name)
        monkeypatch.setattr(session_module, "PING_AFTER_IDLE_SECONDS", 0.0)
        db.ping()
        assert len(pings) >= 2

        # Dropped within the second: that one request fails as the store
        # being down does, and the next one gets a working connection.
        monkeypatch.setattr(session_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
        db.ping()
        _drop_connections(server, name)
        with pytest.raises(StoreUnavailable):
            db.ping()
        db.ping()
    finally:
        db.dispose()
        server.drop_later(name)
