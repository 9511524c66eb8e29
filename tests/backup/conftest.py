"""Fixtures for backup and restore: a fresh, empty target (home and database) per backend."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from datacompact.api import create_app
from datacompact.config import Settings
from datacompact.events import EventType, record_event
from datacompact.ledger.auditor.audit import AuditResult, audit_log
from datacompact.permissions import Principal
from datacompact.platform import Platform

from ..conftest import PgServer, World
from ..ledger.test_audit import _SyncASGITransport


@pytest.fixture
def target(
    backend: str, tmp_path: Path, pg_server: PgServer | None
) -> Iterator[Callable[[str], Settings]]:
    """``target(name)``: settings of a new home and an empty database on the same backend."""
    created: list[str] = []

    def make(name: str) -> Settings:
        url = None
        if backend == "postgresql":
            assert pg_server is not None
            database = f"dct_restore_{uuid.uuid4().hex[:12]}"
            url = pg_server.create(database)
            created.append(database)
        return Settings(home=tmp_path / name, database_url=url)

    yield make
    for database in created:
        assert pg_server is not None
        pg_server.drop(database)


def append_events(platform: Platform, count: int) -> None:
    """Append ``count`` events to the log, one transaction each, as a busy server would."""
    actor = Principal(label="test", governance=platform.settings.governance_mode)
    for i in range(count):
        with platform.db.write() as session:
            record_event(
                session,
                actor=actor,
                type=EventType.MEMBER_ROLES_CHANGED,
                object_type="member",
                object_id=i,
                payload={"n": i},
            )


@dataclass
class Writer:
    """A thread appending events until stopped: the live writes under a backup."""

    platform: Platform
    stop: threading.Event = field(default_factory=threading.Event)
    written: int = 0
    errors: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                append_events(self.platform, 1)
                self.written += 1
        except BaseException as exc:  # reported by the test, never swallowed
            self.errors.append(exc)


def audit(platform: Platform, state: Path, *, accept_loss: bool = False) -> AuditResult:
    """Audit the platform's served log in-process into the mirror at ``state``."""
    transport = _SyncASGITransport(create_app(platform))
    with httpx.Client(transport=transport) as client:
        return audit_log(
            url="http://platform/ledger",
            log_key=platform.log_signer.verifier().vkey,
            state_dir=state,
            client=client,
            workers=1,
            accept_loss=accept_loss,
        )


__all__ = ["World", "Writer", "append_events", "audit"]
