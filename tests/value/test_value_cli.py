"""``datacompact shares ...`` and ``datacompact ratings ...``, on the home folder and remotely."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from datacompact.api import create_app
from datacompact.cli import _context, app
from datacompact.cli._remote import ApiClient
from datacompact.config import get_settings

from ..conftest import World
from ..test_remote_commands import InProcess
from ._value import executed, grant, resource

URL = "http://127.0.0.1:8000"
Invoke = Callable[..., Result]


@pytest.fixture(params=["local", "remote"])
def cli(
    request: pytest.FixtureRequest, world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Invoke]:
    """The CLI acting on the world's home folder, or on its API with only a URL and a token."""
    for name in ("HOME", "DATABASE_URL", "TOKEN", "URL", "PROFILE"):
        monkeypatch.delenv(f"DATACOMPACT_{name}", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    remote = request.param == "remote"
    if remote:
        monkeypatch.setenv("DATACOMPACT_HOME", str(tmp_path / "no-platform-here"))
        transport = InProcess(create_app(world.platform))
        monkeypatch.setattr(
            _context, "client", lambda where, who: ApiClient(where.url, who, transport=transport)
        )
    else:
        monkeypatch.setenv("DATACOMPACT_HOME", str(world.platform.settings.home))
        if world.platform.settings.database_url:
            monkeypatch.setenv("DATACOMPACT_DATABASE_URL", world.platform.settings.database_url)
    get_settings.cache_clear()

    def invoke(*args: str, token: str) -> Result:
        where = ["--url", URL] if remote else []
        return CliRunner().invoke(app, [*where, *args, "--token", world.tokens[token]])

    yield invoke
    get_settings.cache_clear()


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_shares_from_rule_to_earnings(cli: Invoke, world: World, tmp_path: Path) -> None:
    ids = world.ids
    with world.platform.db.write() as session:
        a = resource(session, ids["department"], "C-A")
        b = resource(session, ids["enterprise2"], "C-B")
        g = grant(session, resource_id=a, holder_id=ids["department"], grantee_id=ids["enterprise"])
        joined = executed(
            session,
            world,
            grant_id=g,
            grantee_id=ids["enterprise"],
            extra={
                "resources": [
                    {"resource_id": a, "rows_scanned": 30},
                    {"resource_id": b, "rows_scanned": 10},
                ]
            },
        )
    rule = _json(
        cli("shares", "rule", "psi", "--rule", "rows_scanned", "--json", token="regulator.reviewer")
    )
    assert rule["version"] == 1
    assert rule["log_index"] > 0
    bad = cli(
        "shares", "rule", "psi", "--rule", "weights", "--weight", "x", token="regulator.admin"
    )
    assert bad.exit_code != 0
    file = tmp_path / "uses.json"
    file.write_text(
        json.dumps({"period": "2026-11", "uses": [{"query_id": joined, "revenue": "0.03"}]})
    )
    shared = _json(
        cli("shares", "distribute", "psi", "--file", str(file), "--json", token="regulator.admin")
    )
    # 3 fen in proportion 3:1 is 2.25 and 0.75 fen: the larger remainder takes the odd one.
    assert {x["resource_id"]: x["amount"] for x in shared["lines"]} == {a: "0.02", b: "0.01"}
    again = cli("shares", "distribute", "psi", "--file", str(file), token="regulator.admin")
    assert again.exit_code != 0
    assert "已分配" in again.output
    shown = _json(cli("shares", "show", str(shared["id"]), "--json", token="enterprise2.admin"))
    assert shown["revenue"] == "0.03"
    assert shown["rule"] == "rows_scanned"
    checked = _json(
        cli("shares", "recompute", str(shared["id"]), "--json", token="department.admin")
    )
    assert checked["matches"] is True
    mine = _json(
        cli("shares", "earnings", str(ids["enterprise2"]), "--json", token="enterprise2.admin")
    )
    assert mine["total"] == "0.01"
    table = cli("shares", "earnings", str(ids["department"]), token="department.admin")
    assert table.exit_code == 0, table.output
    assert "0.02" in table.output
    refused = cli("shares", "earnings", str(ids["department"]), token="enterprise2.admin")
    assert refused.exit_code != 0


def test_ratings_from_rating_to_answer(cli: Invoke, world: World) -> None:
    ids = world.ids
    with world.platform.db.write() as session:
        rid = resource(session, ids["department"], "C-R")
        g = grant(
            session, resource_id=rid, holder_id=ids["department"], grantee_id=ids["enterprise"]
        )
        executed(session, world, grant_id=g, grantee_id=ids["enterprise"])
    scores = ["--score", "accuracy=4", "--score", "completeness=5", "--score", "timeliness=3"]
    missing = cli("ratings", "data", str(g), *scores, token="enterprise.analyst")
    assert missing.exit_code != 0
    scores += ["--score", "usefulness=4"]
    rated = _json(
        cli(
            "ratings",
            "data",
            str(g),
            *scores,
            "--comment",
            "好用",
            "--json",
            token="enterprise.analyst",
        )
    )
    assert rated["revision"] == 1
    twice = cli("ratings", "data", str(g), *scores, token="enterprise.analyst")
    assert twice.exit_code != 0
    revised = _json(
        cli(
            "ratings",
            "revise",
            str(rated["id"]),
            *scores[:-2],
            "--score",
            "usefulness=2",
            "--json",
            token="enterprise.analyst",
        )
    )
    assert [h["scores"]["usefulness"] for h in revised["history"]] == [4, 2]
    answered = _json(
        cli(
            "ratings",
            "answer",
            str(rated["id"]),
            "--text",
            "已改进",
            "--json",
            token="department.admin",
        )
    )
    assert answered["replies"][0]["text"] == "已改进"
    again = _json(cli("ratings", "show", str(rated["id"]), "--json", token="regulator.auditor"))
    assert again["revision"] == 2
    summary = _json(
        cli("ratings", "summary", "--resource", str(rid), "--json", token="enterprise2.admin")
    )
    assert summary["count"] == 1
    assert summary["dimensions"]["usefulness"] == 2.0
    neither = cli("ratings", "summary", token="enterprise2.admin")
    assert neither.exit_code != 0
