"""``datacompact projects ...``: every step of a procurement from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from datacompact.cli._projects import projects_app
from datacompact.clock import utcnow
from datacompact.config import get_settings
from datacompact.store.project_models import Tender

from ..conftest import World

Invoke = Callable[..., Result]


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    monkeypatch.setenv("DATACOMPACT_HOME", str(world.platform.settings.home))
    if world.platform.settings.database_url:
        monkeypatch.setenv("DATACOMPACT_DATABASE_URL", world.platform.settings.database_url)
    else:
        monkeypatch.delenv("DATACOMPACT_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATACOMPACT_TOKEN", raising=False)
    get_settings.cache_clear()

    def invoke(key: str, *args: str) -> Result:
        return CliRunner().invoke(projects_app, [*args, "--token", world.tokens[key], "--json"])

    yield invoke
    get_settings.cache_clear()


def ok(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def error(result: Result, exit_code: int) -> dict[str, Any]:
    assert result.exit_code == exit_code, result.output
    envelope: dict[str, Any] = json.loads(result.stderr)["error"]
    return envelope


def test_a_procurement_from_the_command_line(cli: Invoke, world: World, tmp_path: Path) -> None:
    dept = "department.admin"
    common = [
        "--name", "城市大脑一期", "--domain", "city",
        "--sponsor", str(world.ids["department"]), "--technical", str(world.ids["regulator"]),
        "--mode", "government_purchase",
    ]  # fmt: skip
    bad = error(cli(dept, "create", *common, "--budget", "-1"), 2)
    assert bad["details"]["field"] == "budget"
    project = ok(cli(dept, "create", *common, "--budget", "2000000"))
    pid = str(project["id"])
    assert project["log_index"] >= 0
    assert project["mode_status"] == "proposed"
    decided = ok(
        cli(
            "regulator.reviewer",
            "decide-mode",
            pid,
            "--decision",
            "approve",
            "--reason",
            "符合规则",
        )
    )
    assert decided["mode_status"] == "approved"
    meeting = ok(
        cli(
            dept, "meeting", pid, "--held-on", "2026-01-05",
            "--attendee", str(world.ids["department"]), "--attendee", str(world.ids["regulator"]),
            "--decision", "开发与运维分标段",
        )
    )  # fmt: skip
    assert meeting["decisions"] == ["开发与运维分标段"]
    lot = ok(
        cli(
            dept, "lot", pid, "--title", "政务云运维", "--category", "operations",
            "--system", "政务云", "--budget", "500000", "--code-escrow",
            "--requirement", "ITSS 运维=二级",
        )
    )  # fmt: skip
    assert lot["requirements"][0]["min_level"] == "二级"
    assert lot["code_escrow"]
    lid = str(lot["id"])
    assert ok(cli(dept, "match", lid))["lot_id"] == lot["id"]
    now = utcnow()
    tender = ok(
        cli(
            dept, "tender", lid, "--method", "lowest_price",
            "--opens-at", (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S"),
            "--deadline", (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"),
            "--member", str(world.members["regulator.reviewer"]),
        )
    )  # fmt: skip
    tid = str(tender["id"])
    document = tmp_path / "bid.pdf"
    document.write_bytes(b"%PDF technical proposal")
    unqualified = error(
        cli("enterprise.admin", "bid", tid, "--file", str(document), "--price", "400000"), 5
    )
    assert unqualified["code"] == "policy_violation"
    early = error(cli(dept, "open", tid), 7)
    assert early["details"]["reason"] == "before_deadline"
    with world.platform.db.write() as session:
        row = session.get(Tender, tender["id"])
        assert row is not None
        row.opens_at, row.deadline = now - timedelta(hours=2), now - timedelta(seconds=1)
    opened = ok(cli(dept, "open", tid))
    assert opened["status"] == "opened"
    assert opened["bids"] == []
    failed = error(cli(dept, "award", tid), 7)
    assert failed["details"]["reason"] == "no_responsive_bid"
    shown = ok(cli("enterprise.analyst", "show", pid))
    assert shown["lot_ids"] == [lot["id"]]
    assert [p["id"] for p in ok(cli("enterprise.analyst", "list"))] == [project["id"]]
    assert ok(cli("enterprise.analyst", "tender-show", tid))["committee"] is None


def test_scores_and_awards_from_the_command_line(cli: Invoke, world: World) -> None:
    from ._helpers import approve_mode, bid, new_lot, new_project, new_tender, open_tender

    project_id = new_project(world)
    approve_mode(world, project_id)
    tender_id = new_tender(world, new_lot(world, project_id))
    bid_id = bid(world, tender_id, world.principal("enterprise.admin"))
    open_tender(world, tender_id)
    scored = ok(cli("regulator.reviewer", "score", str(bid_id), "--technical", "91.5"))
    assert scored["scores"] == {"technical": "91.5"}
    awarded = ok(cli("department.admin", "award", str(tender_id)))
    assert awarded["award"]["bid_id"] == bid_id
    assert awarded["award"]["supplier_name"] == "测试enterprise.admin"
    denied = error(
        cli(
            "enterprise.admin",
            "exception",
            str(awarded["lot_id"]),
            "--supplier",
            str(world.ids["enterprise"]),
            "--reason",
            "测试例外",
        ),
        5,
    )
    assert denied["code"] == "forbidden"


def test_an_empty_match_list_says_why_instead_of_a_blank_line(cli: Invoke, world: World) -> None:
    from ._helpers import new_lot, new_project

    lot_id = new_lot(
        world, new_project(world), requirements=[{"name": "ITSS 运维", "min_level": "二级"}]
    )
    result = CliRunner().invoke(
        projects_app, ["match", str(lot_id), "--token", world.tokens["department.analyst"]]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    assert "no match: " in result.stdout
    assert "every one of the 2 candidates" in result.stdout
    assert "lacked the mandatory qualification ITSS 运维" in result.stdout
    assert "excluded: " in result.stdout
    ranking = ok(cli("department.analyst", "match", str(lot_id)))
    assert ranking["matches"] == []
    assert "ITSS 运维" in ranking["empty_reason"]
