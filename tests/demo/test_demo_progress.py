"""``datacompact demo`` says what it is doing while it builds; ``--json`` stays clean."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datacompact.cli import app
from datacompact.config import get_settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("DATACOMPACT_DATABASE_URL", "DATACOMPACT_TOKEN", "DATACOMPACT_GOVERNANCE_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATACOMPACT_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def test_the_demo_build_prints_its_steps_to_stderr_only(home: Path) -> None:
    shown = CliRunner().invoke(app, ["demo", "--no-serve", "--scale", "0"])
    assert shown.exit_code == 0, shown.output
    steps = shown.stderr.splitlines()
    assert steps
    assert re.match(
        r"^\s*\d+\.\d s 参与方、成员与令牌 / participants, members and tokens$", steps[0]
    )
    assert "participants" in shown.stdout
    again = CliRunner().invoke(app, ["demo", "--no-serve", "--scale", "0", "--json"])
    assert again.exit_code == 0, again.output
    assert again.stderr == ""
    assert json.loads(again.stdout)["participants"] > 0
