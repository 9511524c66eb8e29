"""A multi-holder scenario from the command line: locally and through the API (``--url``)."""

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
from datacompact.config import Settings, get_settings
from datacompact.platform import Platform

from ..test_remote_commands import InProcess
from .test_joint import OWN_CSV, JointWorld, _joint_worlds, joint

__all__ = ["_joint_worlds", "joint"]

URL = "http://127.0.0.1:8000"
Invoke = Callable[..., Result]


@pytest.fixture(params=["local", "remote"])
def cli(
    request: pytest.FixtureRequest,
    joint: JointWorld,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Invoke]:
    """The CLI on the platform's folder, or with only a URL on the application in process."""
    world = joint.shared.world
    for name in ("HOME", "DATABASE_URL", "TOKEN", "URL", "PROFILE"):
        monkeypatch.delenv(f"DATACOMPACT_{name}", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    served: Platform | None = None
    prefix: list[str] = []
    if request.param == "local":
        monkeypatch.setenv("DATACOMPACT_HOME", str(world.platform.settings.home))
        if world.platform.settings.database_url:
            monkeypatch.setenv("DATACOMPACT_DATABASE_URL", world.platform.settings.database_url)
    else:
        monkeypatch.setenv("DATACOMPACT_HOME", str(tmp_path / "no-platform-here"))
        base = world.platform.settings
        served = Platform(
            Settings(home=base.home, database_url=base.database_url, sandbox_time_quantum_ms=0)
        )
        transport = InProcess(create_app(served))
        monkeypatch.setattr(
            _context, "client", lambda where, who: ApiClient(where.url, who, transport=transport)
        )
        prefix = ["--url", URL]
    get_settings.cache_clear()

    def invoke(key: str, *args: str) -> Result:
        return CliRunner().invoke(app, [*prefix, *args, "--token", world.tokens[key], "--json"])

    yield invoke
    if served is not None:
        served.close()
    get_settings.cache_clear()


def ok(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_joint_scenario_from_apply_to_a_joined_query(cli: Invoke, joint: JointWorld) -> None:
    applied = ok(
        cli(
            "enterprise.analyst",
            "applications", "apply",
            "--scenario", "信贷风险与救助核验 / credit risk checked against relief",
            "--purpose", "public_service",
            "--part", f"{joint.roster}:身份证号,区县",
            "--part", f"{joint.loans}:身份证号,贷款金额:aggregates",
            "--joint",
            "--mode", "aggregates",
            "--duration-days", "30", "--expected-queries", "10",
        )
    )  # fmt: skip
    assert applied["joint"] is True
    assert applied["requests"][1]["output"]["mode"] == "aggregates"
    application_id = str(applied["id"])
    for reviewer in ("enterprise2.reviewer", "department.reviewer", "regulator.reviewer"):
        decided = ok(
            cli(
                reviewer,
                "applications", "decide", application_id,
                "--decision", "approve", "--reason", "同意 / agreed",
            )
        )  # fmt: skip
    assert decided["status"] == "approved"
    (grant_id,) = decided["grants"]
    shown = ok(cli("enterprise2.admin", "grants", "show", str(grant_id)))
    assert [p["table"] for p in shown["parts"]] == ["relief_roster", "loan_ledger"]
    answer = ok(
        cli(
            "enterprise.analyst",
            "query",
            "SELECT r.区县, COUNT(*) AS n FROM relief_roster r JOIN loan_ledger l "
            "ON r.身份证号 = l.身份证号 GROUP BY r.区县 ORDER BY r.区县",
            "--grant",
            str(grant_id),
        )
    )
    assert answer["rows"] == [["上城区", 15], ["西湖区", 27]]
    assert [i["table"] for i in answer["query"]["inputs"]] == ["relief_roster", "loan_ledger"]


def test_a_private_resource_registered_from_the_command_line(
    cli: Invoke, joint: JointWorld, tmp_path: Path
) -> None:
    file = tmp_path / "own.csv"
    file.write_text(OWN_CSV, encoding="utf-8")
    registered = cli(
        "enterprise.data_steward",
        "resources", "register", "--file", str(file),
        "--name", "本行贷款申请人", "--name-en", "My applicants", "--private",
    )  # fmt: skip
    found = ok(registered)
    assert found["private"] is True
    hidden = cli("department.analyst", "resources", "show", str(found["id"]))
    assert hidden.exit_code != 0
