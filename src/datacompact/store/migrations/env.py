"""Alembic environment: one ``target_metadata`` for every domain's tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from datacompact.store import models  # noqa: F401  (registers the tables)
from datacompact.store.base import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
