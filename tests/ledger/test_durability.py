"""Many writers in several processes, and a kill -9 in the middle of appends (both backends)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from datacompact.ledger.log.check import check_ledger
from datacompact.store.models import Event

from ..conftest import World

pytestmark = pytest.mark.slow

# Appends events one transaction at a time and prints each index once committed.
APPENDER = """
import sys
from datacompact.config import Settings
from datacompact.events import EventType, record_event
from datacompact.permissions import Principal
from datacompact.platform import Platform

platform = Platform(Settings())
actor = Principal(label="appender", governance=platform.settings.governance_mode)
count = int(sys.argv[1])
for n in range(count):
    with platform.db.write() as session:
        seq = record_event(
            session, actor=actor, type=EventType.MEMBER_CREATED,
            object_type="member", object_id=n, payload={"n": n},
        ).seq
    print(seq, flush=True)
"""


def _env(world: World) -> dict[str, str]:
    settings = world.platform.settings
    env = dict(os.environ)
    env["DATACOMPACT_HOME"] = str(settings.home)
    env["DATACOMPACT_DATABASE_URL"] = settings.resolved_database_url
    return env


def _seqs(world: World) -> list[int]:
    with world.platform.db.read() as session:
        return list(session.scalars(select(Event.seq).order_by(Event.seq)))


def _check(world: World) -> None:
    with world.platform.db.read() as session:
        report = check_ledger(session, log_verifier=world.platform.log_signer.verifier())
    assert report.ok, report.problems


def test_concurrent_processes_append_without_gaps_or_duplicates(world: World) -> None:
    start = len(_seqs(world))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, "40"],
            env=_env(world),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    returned: list[int] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        returned += [int(line) for line in out.split()]
    assert sorted(returned) == list(range(start, start + 160))
    assert _seqs(world) == list(range(start + 160))
    _check(world)


def test_kill_9_never_loses_a_returned_index(world: World) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", APPENDER, "100000"],
        env=_env(world),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    returned: list[int] = []
    deadline = time.monotonic() + 60
    while len(returned) < 200 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        returned.append(int(line))
    # Killed mid-stream: the next append is somewhere between BEGIN and COMMIT.
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert len(returned) >= 200, "the appender did not get going"
    stored = set(_seqs(world))
    assert set(returned) <= stored
    assert sorted(stored) == list(range(len(stored)))
    _check(world)
