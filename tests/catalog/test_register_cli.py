"""``datacompact resources register``: a summary for people, the whole record with ``--json``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from datacompact.cli import app
from datacompact.config import get_settings

from ..conftest import World
from ..policy.test_queries import CSV

Invoke = Callable[..., Result]


@pytest.fixture
def register(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Invoke]:
    settings = world.platform.settings
    monkeypatch.setenv("DATACOMPACT_HOME", str(settings.home))
    if settings.database_url:
        monkeypatch.setenv("DATACOMPACT_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("DATACOMPACT_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATACOMPACT_TOKEN", raising=False)
    get_settings.cache_clear()
    file = tmp_path / "名册.csv"
    file.write_text(CSV, encoding="utf-8")

    def invoke(name: str, *options: str) -> Result:
        return CliRunner().invoke(
            app,
            [
                "resources", "register", "--file", str(file), "--name", name,
                "--token", world.tokens["department.data_steward"], *options,
            ],
        )  # fmt: skip

    yield invoke
    get_settings.cache_clear()


def test_register_prints_a_summary_and_json_only_on_request(register: Invoke) -> None:
    shown = register("救助名册")
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert text.startswith("已登记 / registered: 救助名册 (id ")
    for label in (
        "code: ",
        "grade: ",
        "personal columns: ",
        "quality: ",
        "warnings: ",
        "receipt: ",
    ):
        assert label in text
    assert "    - 身份证号: " in text  # one line per personal column, with its type and share
    assert "    - 手机号: " in text
    assert "{" not in text  # no JSON dumped for people
    as_json = register("救助名册二", "--json")
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.stdout)
    assert body["name"] == "救助名册二"
    assert body["latest"]["pii"]
    assert body["log_index"] >= 0
