"""Transactions of the store: synced and unsynced writes (both backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from datacompact.platform import Platform


def _durability(session: Session, is_sqlite: bool) -> str:
    if is_sqlite:
        level = session.execute(text("PRAGMA synchronous")).scalar_one()
        return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[level]
    return str(session.execute(text("SHOW synchronous_commit")).scalar_one())


def test_unsynced_write_commits_without_waiting_for_the_disk(empty_platform: Platform) -> None:
    db = empty_platform.db
    with db.write() as session:
        assert _durability(session, db.is_sqlite) in ("FULL", "on")
        session.execute(text("CREATE TABLE scratch (note VARCHAR(20))"))
    with db.write_unsynced() as session:
        assert _durability(session, db.is_sqlite) in ("NORMAL", "off")
        session.execute(text("INSERT INTO scratch VALUES ('示范')"))
    # Committed and visible to others; the next synced write is synced again.
    with db.read() as session:
        assert session.execute(text("SELECT note FROM scratch")).scalar_one() == "示范"
    with db.write() as session:
        assert _durability(session, db.is_sqlite) in ("FULL", "on")


def test_unsynced_write_rolls_back_on_error(empty_platform: Platform) -> None:
    db = empty_platform.db
    with db.write() as session:
        session.execute(text("CREATE TABLE scratch (note VARCHAR(20))"))
    with pytest.raises(RuntimeError), db.write_unsynced() as session:
        session.execute(text("INSERT INTO scratch VALUES ('半途')"))
        raise RuntimeError("midway")
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM scratch")).scalar_one() == 0
