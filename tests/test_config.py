"""Settings and the home folder: defaults, modes, the secret."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from datacompact.config import Settings, ensure_home, load_secret
from datacompact.errors import ConfigurationError
from datacompact.platform import Platform


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOME", "DATABASE_URL", "GOVERNANCE_MODE"):
        monkeypatch.delenv(f"DATACOMPACT_{name}", raising=False)
    settings = Settings()
    assert settings.home == Path(".datacompact")
    assert settings.resolved_database_url.endswith("/.datacompact/datacompact.db")
    assert settings.governance_mode.value == "data_governance"


def test_an_existing_loose_home_is_closed_and_the_store_is_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    platform = Platform(Settings(home=home))
    platform.initialize()
    platform.close()
    assert _mode(home) == 0o700
    assert _mode(home / "datacompact.db") == 0o600
    assert _mode(home / "platform.secret") == 0o600
    assert _mode(home / "log.key") == 0o600


def test_the_secret_is_refused_when_readable_by_others_or_truncated(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    ensure_home(settings)
    assert len(load_secret(settings)) == 32
    settings.secret_path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="0600"):
        load_secret(settings)
    settings.secret_path.chmod(0o600)
    settings.secret_path.write_bytes(b"short")
    with pytest.raises(ConfigurationError, match="32-byte"):
        load_secret(settings)


def test_a_percent_escaped_database_password_does_not_break_migrations(tmp_path: Path) -> None:
    # Alembic's config interpolation once choked on '%'; the URL never goes there now.
    url = f"sqlite:///{tmp_path / 'p%40ss.db'}"
    platform = Platform(Settings(home=tmp_path / "home", database_url=url))
    platform.initialize()
    assert platform.check_ready()["store"] == "ok"
    platform.close()
