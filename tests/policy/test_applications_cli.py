"""``datacompact applications ...`` and ``datacompact inbox``: the life cycle from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from datacompact.cli import app
from datacompact.config import get_settings

from ..conftest import World
from .test_applications import _registered

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

    def invoke(key: str, *args: str, as_json: bool = True) -> Result:
        extra = ["--json"] if as_json else []
        return CliRunner().invoke(app, [*args, "--token", world.tokens[key], *extra])

    yield invoke
    get_settings.cache_clear()


def ok(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def error(result: Result, exit_code: int) -> dict[str, Any]:
    assert result.exit_code == exit_code, result.output
    envelope: dict[str, Any] = json.loads(result.stderr)["error"]
    return envelope


def test_the_life_cycle_from_the_command_line(cli: Invoke, world: World, tmp_path: Path) -> None:
    resource_id = _registered(world, tmp_path)
    applied = ok(
        cli(
            "enterprise.analyst",
            "applications", "apply",
            "--scenario", "信用评估中核验申请人身份 / verify applicants",
            "--purpose", "credit_assessment",
            "--resource", str(resource_id), "--columns", "姓名, 金额",
            "--mode", "masked_records",
            "--duration-days", "30", "--expected-queries", "100",
        )
    )  # fmt: skip
    application_id = str(applied["id"])
    assert applied["status"] == "pending"
    assert applied["log_index"] > 0
    assert applied["requests"] == [{"resource_id": resource_id, "columns": ["姓名", "金额"]}]

    # The regulator out of turn: exit 7, the code names the refusal, the message whose turn.
    decide = ["applications", "decide", application_id, "--decision", "approve", "--reason"]
    refused = error(cli("regulator.reviewer", *decide, "ok ok"), 7)
    assert refused["code"] == "out_of_turn"
    assert refused["details"]["awaiting"][0]["party"] == "holder"
    sent_back = ok(
        cli(
            "department.reviewer",
            "applications", "decide", application_id,
            "--decision", "request_changes", "--reason", "请减少列 / fewer columns",
        )
    )  # fmt: skip
    assert sent_back["status"] == "changes_requested"
    again = error(cli("department.admin", *decide, "ok ok"), 7)
    assert again["code"] == "already_decided"

    listed = ok(cli("enterprise.analyst", "applications", "list", "--awaiting-me"))
    assert [a["id"] for a in listed] == [applied["id"]]
    inbox = ok(cli("enterprise.analyst", "inbox"))
    assert [(i["kind"], i["id"]) for i in inbox["items"]] == [("application.amend", applied["id"])]
    assert inbox["total"] == 1

    # Someone else's amendment is refused; the applicant's becomes revision 2.
    amend = ["applications", "amend", application_id, "--note", "只要金额 / amount only"]
    assert error(cli("enterprise2.admin", *amend, "--expected-queries", "5"), 5)["code"] == (
        "forbidden"
    )
    amended = ok(
        cli("enterprise.analyst", *amend, "--resource", str(resource_id), "--columns", "金额")
    )
    assert amended["revision"] == 2
    assert amended["status"] == "pending"
    assert amended["requests"][0]["columns"] == ["金额"]
    revisions = ok(cli("enterprise.analyst", "applications", "revisions", application_id))
    assert [r["revision"] for r in revisions] == [1]
    # A second amendment while pending: the application was not sent back.
    twice = error(cli("enterprise.analyst", *amend, "--expected-queries", "5"), 7)
    assert twice["code"] == "invalid_transition"

    shown = ok(cli("regulator.auditor", "applications", "show", application_id))
    assert shown["awaiting"] == [{"party": "holder", "participants": [world.ids["department"]]}]
    withdrawn = ok(
        cli("enterprise.admin", "applications", "withdraw", application_id, "--reason", "不需要了")
    )
    assert withdrawn["status"] == "withdrawn"
    assert error(cli("department.reviewer", *decide, "ok ok"), 7)["code"] == ("invalid_transition")
    assert ok(cli("enterprise.analyst", "applications", "list", "--state", "withdrawn"))[0][
        "id"
    ] == int(application_id)


def test_an_application_from_a_file_and_grants_from_it(
    cli: Invoke, world: World, tmp_path: Path
) -> None:
    resource_id = _registered(world, tmp_path)
    body = {
        "scenario": "信用评估 / credit assessment",
        "purpose": "credit_assessment",
        "resources": [{"resource_id": resource_id, "columns": ["金额"]}],
        "output": {"mode": "aggregates", "min_group_size": 10},
        "duration_days": 30,
        "expected_queries": 10,
    }
    file = tmp_path / "application.json"
    file.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    applied = ok(cli("enterprise.admin", "applications", "apply", "--file", str(file)))
    application_id = str(applied["id"])
    for key in ("department.reviewer", "regulator.reviewer"):
        ok(
            cli(
                key, "applications", "decide", application_id,
                "--decision", "approve", "--reason", "材料齐全",
            )
        )  # fmt: skip
    granted = ok(cli("enterprise.analyst", "applications", "show", application_id))
    assert granted["status"] == "approved"
    (grant_id,) = granted["grants"]
    grants = ok(cli("enterprise.analyst", "grants", "list"))
    assert [g["id"] for g in grants] == [grant_id]
    grant = ok(cli("enterprise.analyst", "grants", "show", str(grant_id)))
    assert grant["application_id"] == applied["id"]
    # People get a table with whose turn it is, not JSON in a cell.
    table = cli("regulator.admin", "applications", "list", as_json=False)
    assert table.exit_code == 0, table.output
    assert "approved" in table.stdout


def test_bad_options_are_refused_before_anything_is_filed(
    cli: Invoke, world: World, tmp_path: Path
) -> None:
    resource_id = _registered(world, tmp_path)
    only_resource = error(
        cli("enterprise.admin", "applications", "apply", "--resource", str(resource_id)), 2
    )
    assert only_resource["details"]["option"] == "--columns"
    missing = tmp_path / "absent.json"
    unreadable = error(cli("enterprise.admin", "applications", "apply", "--file", str(missing)), 2)
    assert unreadable["details"]["option"] == "--file"
    not_json = tmp_path / "bad.json"
    not_json.write_text("[1, 2", encoding="utf-8")
    assert error(cli("enterprise.admin", "applications", "apply", "--file", str(not_json)), 2)
    incomplete = error(
        cli(
            "enterprise.admin", "applications", "apply",
            "--resource", str(resource_id), "--columns", "金额",
        ),
        2,
    )  # fmt: skip
    assert "scenario" in incomplete["details"]["fields"]
    wrong = error(
        cli("department.reviewer", "applications", "decide", "1", "--decision", "maybe",
            "--reason", "ok ok"),
        2,
    )  # fmt: skip
    assert wrong["details"]["fields"] == ["decision"]
    assert ok(cli("regulator.admin", "applications", "list")) == []
