"""Programmatic Alembic: upgrade a store to head and tell whether it is current.

The migration scripts ship inside the package, so an installed platform can
migrate its store without the source tree.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def upgrade(engine: Engine) -> None:
    """Apply every pending migration in one transaction per revision.

    The connection is handed to ``env.py``; the URL never goes into Alembic's
    config, whose interpolation would choke on a %-escaped password.
    """
    config = _config_without_engine()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(_config_without_engine())
    return script.get_current_head()


def known_revisions() -> set[str]:
    """Every revision this platform's migrations know (a backup's must be one of them)."""
    script = ScriptDirectory.from_config(_config_without_engine())
    return {script_revision.revision for script_revision in script.walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _config_without_engine() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config
