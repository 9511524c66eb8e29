"""``datacompact query`` and ``queries rows`` through the API: the rows the server gives here."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from datacompact.api import create_app
from datacompact.cli import _context, app
from datacompact.cli._remote import ApiClient
from datacompact.config import Settings, get_settings
from datacompact.platform import Platform

from ..conftest import World
from ..test_remote_commands import InProcess
from .test_queries import _grant, _roster_worlds, resource_id, world

__all__ = ["_roster_worlds", "resource_id", "world"]

URL = "http://127.0.0.1:8000"
ROWS = "SELECT 区县, 金额 FROM relief_roster ORDER BY 金额"

Invoke = Callable[..., Result]


@pytest.fixture
def remote(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Invoke]:
    """The CLI with only a URL and the analyst's token, on the application in process."""
    for name in ("HOME", "DATABASE_URL", "TOKEN", "URL", "PROFILE"):
        monkeypatch.delenv(f"DATACOMPACT_{name}", raising=False)
    monkeypatch.setenv("DATACOMPACT_HOME", str(tmp_path / "no-platform-here"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    get_settings.cache_clear()
    # Pages of 15 rows on the server, so that every row takes three pages.
    base = world.platform.settings
    served = Platform(
        Settings(
            home=base.home,
            database_url=base.database_url,
            query_page_rows=15,
            sandbox_time_quantum_ms=0,
        )
    )
    transport = InProcess(create_app(served))
    monkeypatch.setattr(
        _context, "client", lambda where, who: ApiClient(where.url, who, transport=transport)
    )

    def invoke(*args: str) -> Result:
        token = world.tokens["enterprise.analyst"]
        return CliRunner().invoke(app, ["--url", URL, *args, "--token", token])

    yield invoke
    served.close()
    get_settings.cache_clear()


def test_a_remote_query_prints_its_rows_and_every_row_as_csv(
    remote: Invoke, world: World, resource_id: int, tmp_path: Path
) -> None:
    grant_id = str(_grant(world, resource_id, columns=["区县", "金额"]))
    answered = remote("query", ROWS, "--grant", grant_id, "--json")
    assert answered.exit_code == 0, answered.output
    body = json.loads(answered.stdout)
    assert body["total_rows"] == 40
    assert len(body["rows"]) == 15
    assert body["next_page_token"]
    assert body["receipt"]["log_index"] > 0
    query_id = str(body["query"]["id"])

    every = remote("query", ROWS, "--grant", grant_id, "--csv")
    assert every.exit_code == 0, every.output
    table = list(csv.reader(io.StringIO(every.stdout)))
    assert table[0] == ["区县", "金额"]
    assert len(table) == 41

    # The stored result again, without running or charging anything.
    page = remote("queries", "rows", query_id, "--json")
    assert page.exit_code == 0, page.output
    assert json.loads(page.stdout)["total_rows"] == 40
    streamed = remote("queries", "rows", query_id, "--csv")
    assert streamed.exit_code == 0, streamed.output
    assert len(list(csv.reader(io.StringIO(streamed.stdout)))) == 41
    out = tmp_path / "rows.parquet"
    written = remote("queries", "rows", query_id, "--parquet", str(out))
    assert written.exit_code == 0, written.output
    assert pq.read_table(out).num_rows == 40
