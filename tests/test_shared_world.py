"""The shared world of the wider-scoped fixtures: saved states come back whole, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from datacompact.registry import participants
from datacompact.registry.schemas import ContactIn
from datacompact.store.models import Contact, Event

from .conftest import BACKENDS, PgServer, SharedWorld, Template, shared_world


@pytest.fixture(scope="module", params=BACKENDS)
def shared(
    request: pytest.FixtureRequest,
    _templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
) -> Iterator[SharedWorld]:
    worlds = shared_world(str(request.param), _templates, tmp_path_factory, pg_server)
    yield worlds
    worlds.close()


def _counts(shared: SharedWorld) -> tuple[int, int]:
    with shared.platform.db.read() as session:
        events = session.scalar(select(func.count()).select_from(Event)) or 0
        contacts = session.scalar(select(func.count()).select_from(Contact)) or 0
    return events, contacts


def _write(shared: SharedWorld) -> Path:
    """One recorded change in the store and one new file in the home."""
    world = shared.world
    with shared.platform.db.write() as session:
        participants.update_contacts(
            session=session,
            actor=world.principal("enterprise.admin"),
            participant_id=world.ids["enterprise"],
            contacts=[ContactIn(name="李四", phone="13900139000")],
        )
    note = shared.platform.settings.home / "note.txt"
    note.write_text("written after the save", encoding="utf-8")
    world.ids["note"] = 1
    return note


def test_restore_undoes_writes_to_the_store_the_home_and_the_ids(shared: SharedWorld) -> None:
    saved = shared.save()
    before = _counts(shared)
    note = _write(shared)
    assert _counts(shared) != before
    shared.restore(saved)
    assert _counts(shared) == before
    assert not note.exists()
    assert "note" not in shared.world.ids


def test_a_state_saved_after_writes_keeps_them_and_restores_twice(shared: SharedWorld) -> None:
    base = shared.save()
    _write(shared)
    written = shared.save()
    after = _counts(shared)
    for state, counts in ((base, None), (written, after), (written, after), (base, None)):
        shared.restore(state)
        if counts is None:
            assert "note" not in shared.world.ids
        else:
            assert _counts(shared) == counts
            assert shared.world.ids["note"] == 1
