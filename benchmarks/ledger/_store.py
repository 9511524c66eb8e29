"""A platform in a temporary home, filled with synthetic events, for the ledger benchmarks."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from datacompact.config import Settings
from datacompact.events import EventType, NewEvent, record_events
from datacompact.permissions import Principal
from datacompact.platform import Platform


def new_platform(database_url: str | None = None) -> Platform:
    """A fresh platform whose temporary home is removed when the benchmark exits."""
    root = Path(tempfile.mkdtemp(prefix="dc-bench-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    platform = Platform(Settings(home=root / "home", database_url=database_url))
    platform.initialize()
    return platform


def fill(platform: Platform, count: int, *, batch: int = 2000) -> None:
    """Append ``count`` events, ``batch`` per committed transaction."""
    actor = Principal(label="member:1", governance=platform.settings.governance_mode)
    done = 0
    while done < count:
        n = min(batch, count - done)
        with platform.db.write() as session:
            record_events(
                session,
                actor=actor,
                events=[
                    NewEvent(EventType.TOKEN_ISSUED, "token", done + i, {"member_id": 1})
                    for i in range(n)
                ],
            )
        done += n


def pg_url() -> str | None:
    return os.environ.get("DATACOMPACT_BENCH_DATABASE_URL")
