"""``datacompact query`` and ``datacompact queries rows``: pages, notes and streams, both stores."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from datacompact.cli import app
from datacompact.config import get_settings

from ..conftest import World, tampered
from .test_queries import _grant, _roster_worlds, resource_id, world

# The fixtures shared with test_queries: one world per store with the roster registered.
__all__ = ["_roster_worlds", "resource_id", "world"]

Invoke = Callable[..., Result]
ROWS = "SELECT 区县, 金额 FROM relief_roster ORDER BY 金额"


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    settings = world.platform.settings
    monkeypatch.setenv("DATACOMPACT_HOME", str(settings.home))
    if settings.database_url:
        monkeypatch.setenv("DATACOMPACT_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("DATACOMPACT_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATACOMPACT_TOKEN", raising=False)
    monkeypatch.setenv("DATACOMPACT_QUERY_PAGE_ROWS", "15")
    monkeypatch.setenv("DATACOMPACT_SANDBOX_TIME_QUANTUM_MS", "0")
    get_settings.cache_clear()

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, [*args, "--token", world.tokens["enterprise.analyst"]])

    yield invoke
    get_settings.cache_clear()


def test_a_query_prints_its_first_page_and_says_how_to_read_the_rest(
    cli: Invoke, world: World, resource_id: int, tmp_path: Path
) -> None:
    grant_id = _grant(world, resource_id, columns=["区县", "金额"])
    shown = cli("query", ROWS, "--grant", str(grant_id))
    assert shown.exit_code == 0, shown.output
    assert "114" in shown.stdout
    assert "115" not in shown.stdout
    assert "rows: 1–15 of 40" in shown.stderr
    assert "protection: " in shown.stderr
    assert "masked" in shown.stderr
    found = re.search(r"queries rows (\d+) --page-token (\S+)", shown.stderr)
    assert found is not None
    query_id, token = found.groups()

    page = cli("queries", "rows", query_id, "--page-token", token, "--json")
    assert page.exit_code == 0, page.output
    body = json.loads(page.stdout)
    assert (body["offset"], len(body["rows"]), body["total_rows"]) == (15, 15, 40)

    every = cli("queries", "rows", query_id, "--csv")
    assert every.exit_code == 0, every.output
    assert len(every.stdout.splitlines()) == 41
    assert "40" in every.stderr
    target = tmp_path / "result.parquet"
    written = cli("queries", "rows", query_id, "--parquet", str(target))
    assert written.exit_code == 0, written.output
    assert pq.read_table(target).num_rows == 40

    as_csv = cli("query", ROWS, "--grant", str(grant_id), "--csv")
    assert as_csv.exit_code == 0, as_csv.output
    assert len(as_csv.stdout.splitlines()) == 41  # every row, one charge
    assert "next page" not in as_csv.stderr

    forged = cli("queries", "rows", query_id, "--page-token", tampered(token))
    assert forged.exit_code == 2


def test_an_empty_aggregate_answer_says_why_it_may_be_empty(
    cli: Invoke, world: World, resource_id: int
) -> None:
    grant_id = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    sql = "SELECT 区县, count(*) AS n FROM relief_roster WHERE 金额 = 103 GROUP BY 区县"
    shown = cli("query", sql, "--grant", str(grant_id))
    assert shown.exit_code == 0, shown.output
    assert "0 rows" in shown.stdout
    assert "withheld" in shown.stderr
    assert "threshold 10" in shown.stderr
