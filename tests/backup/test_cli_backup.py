"""``datacompact backup``, ``restore`` and ``recover``: exit codes, ``--json`` and the held log."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from datacompact.cli import app
from datacompact.config import Settings, get_settings

from ..conftest import World
from .conftest import append_events

Invoke = Callable[..., Result]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Settings], Invoke]]:
    """``cli(settings)``: an ``invoke(*args)`` with the environment pointing at ``settings``."""
    for name in ("DATACOMPACT_DATABASE_URL", "DATACOMPACT_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    def point(settings: Settings) -> Invoke:
        monkeypatch.setenv("DATACOMPACT_HOME", str(settings.home))
        if settings.database_url:
            monkeypatch.setenv("DATACOMPACT_DATABASE_URL", settings.database_url)
        else:
            monkeypatch.delenv("DATACOMPACT_DATABASE_URL", raising=False)
        get_settings.cache_clear()

        def invoke(*args: str) -> Result:
            get_settings.cache_clear()
            return CliRunner().invoke(app, list(args))

        return invoke

    yield point
    get_settings.cache_clear()


def _json(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def _error(result: Result) -> dict[str, object]:
    data: dict[str, object] = json.loads(result.stderr)["error"]
    return data


def test_backup_restore_recover_from_the_command_line(
    world: World, target, cli: Callable[[Settings], Invoke], tmp_path: Path
) -> None:
    platform = world.platform
    live = cli(platform.settings)
    live("ledger", "checkpoint")
    backup = _json(live("backup", "--out", str(tmp_path / "backup"), "--json"))
    refused = live("backup", "--out", str(tmp_path / "backup"), "--json")
    assert (refused.exit_code, _error(refused)["code"]) == (7, "conflict")
    append_events(platform, 5)
    published = _json(live("ledger", "checkpoint", "--json"))
    evidence = tmp_path / "published.checkpoint"
    evidence.write_text(str(published["checkpoint"]), encoding="utf-8")
    platform.close()

    settings = target("restored")
    restored = cli(settings)
    result = _json(
        restored("restore", str(tmp_path / "backup"), "--checkpoint", str(evidence), "--json")
    )
    assert result["held"] is True
    assert result["published_size"] == published["tree_size"]
    assert result["log_size"] == backup["log_size"]
    again = restored("restore", str(tmp_path / "backup"), "--json")
    assert (again.exit_code, _error(again)["code"]) == (7, "conflict")

    held = restored("ledger", "checkpoint", "--json")
    assert (held.exit_code, _error(held)["code"]) == (9, "log_behind")
    check = restored("ledger", "check", "--json")
    assert (check.exit_code, _error(check)["code"]) == (9, "log_behind")

    recovered = _json(restored("recover", "--lost-since-checkpoint", str(evidence), "--json"))
    assert recovered["statement_index"] == backup["log_size"]
    assert recovered["lost_count"] == int(str(published["tree_size"])) - int(
        str(backup["log_size"])
    )
    report = json.loads(restored("ledger", "check", "--json").stdout)
    assert report["ok"] is True
    assert report["held_behind"] is None
    assert [r["index"] for r in report["recoveries"]] == [backup["log_size"]]
    twice = restored("recover", "--lost-since-checkpoint", str(evidence), "--json")
    assert (twice.exit_code, _error(twice)["code"]) == (7, "invalid_transition")


def test_restore_of_a_damaged_backup_exits_8(
    world: World, target, cli: Callable[[Settings], Invoke], tmp_path: Path
) -> None:
    live = cli(world.platform.settings)
    _json(live("backup", "--out", str(tmp_path / "backup"), "--json"))
    (tmp_path / "backup" / "home" / "log.key").write_text("tampered\n")
    settings = target("restored")
    result = cli(settings)("restore", str(tmp_path / "backup"), "--json")
    assert result.exit_code == 8
    assert _error(result)["details"] == {"missing": [], "extra": [], "altered": ["home/log.key"]}
    assert not settings.home.exists()
