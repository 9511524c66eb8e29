"""The same Alembic migrations build the same schema on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from datacompact.platform import Platform
from datacompact.store import migrate
from datacompact.store.base import Base


def test_store_is_at_head_with_every_table(empty_platform: Platform) -> None:
    engine = empty_platform.db.read_engine
    assert migrate.current_revision(engine) == migrate.head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrations_match_the_models(empty_platform: Platform) -> None:
    with empty_platform.db.read_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_idempotent(empty_platform: Platform) -> None:
    migrate.upgrade(empty_platform.db.write_engine)
    migrate.upgrade(empty_platform.db.write_engine)
    assert migrate.current_revision(empty_platform.db.read_engine) == migrate.head_revision()
    assert empty_platform.check_ready()["store"] == "ok"
