"""Named locks: a second writer taking a held name waits for the holder to finish."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, text

from datacompact.errors import InvalidTransition
from datacompact.platform import Platform
from datacompact.registry import participants
from datacompact.registry.schemas import ParticipantKind
from datacompact.store.locks import BOOTSTRAP, advisory_key, hold_lock
from datacompact.store.models import Participant

from ..conftest import USCC_REGULATOR, registration


def test_a_held_name_makes_the_next_writer_wait(empty_platform: Platform) -> None:
    db = empty_platform.db
    held = threading.Event()
    order: list[str] = []

    def first() -> None:
        with db.write() as session:
            hold_lock(session, BOOTSTRAP)
            held.set()
            time.sleep(0.3)
            order.append("first commits")

    def second() -> None:
        assert held.wait(10)
        with db.write() as session:
            hold_lock(session, BOOTSTRAP)
            order.append("second holds")

    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(first), pool.submit(second)]:
            done.result()
    assert order == ["first commits", "second holds"]


def test_postgresql_locks_each_name_apart(empty_platform: Platform) -> None:
    db = empty_platform.db
    if db.is_sqlite:
        pytest.skip("SQLite serializes every writer; a name adds nothing there")
    with db.write() as session:
        hold_lock(session, BOOTSTRAP)
        with db.write() as other:
            try_lock = text("SELECT pg_try_advisory_xact_lock(:key)")
            assert other.scalar(try_lock, {"key": advisory_key(BOOTSTRAP)}) is False
            assert other.scalar(try_lock, {"key": advisory_key("another")}) is True
    # Released with the transaction.
    with db.write() as session:
        assert session.scalar(try_lock, {"key": advisory_key(BOOTSTRAP)}) is True


def test_two_bootstraps_at_once_make_one_participant(empty_platform: Platform) -> None:
    platform = empty_platform
    start = threading.Barrier(2)

    def bootstrap(n: int) -> str:
        start.wait(10)
        try:
            with platform.db.write() as session:
                participants.bootstrap_platform(
                    session=session,
                    secret=platform.secret,
                    governance=platform.settings.governance_mode,
                    data=registration(ParticipantKind.REGULATOR, USCC_REGULATOR, f"first{n}"),
                )
        except InvalidTransition as exc:
            return str(exc.details["reason"])
        return "bootstrapped"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(bootstrap, range(2)))
    assert outcomes == ["already_bootstrapped", "bootstrapped"]
    with platform.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Participant)) == 1
