"""The price list, statements, the cap and ``audit billing`` through the CLI, here and remotely.

Every flow runs twice on each store: on this machine's platform home, and as
a remote client of the API (in process), so the routes and the commands are
exercised together.
"""

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
from datacompact.value import statements

from ..conftest import World
from ..test_remote_commands import InProcess
from ._billing import LATER, grant, metering_period, register

URL = "http://127.0.0.1:8000"
Invoke = Callable[..., Result]


@pytest.fixture(params=["local", "remote"])
def cli(
    request: pytest.FixtureRequest,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Invoke]:
    """``invoke(who, *args)``: the CLI as member ``who`` (None: no token), here or remotely."""
    monkeypatch.setattr(statements, "utcnow", lambda: LATER)
    for name in ("DATABASE_URL", "TOKEN", "URL", "PROFILE"):
        monkeypatch.delenv(f"DATACOMPACT_{name}", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    prefix: list[str] = []
    if request.param == "local":
        monkeypatch.setenv("DATACOMPACT_HOME", str(world.platform.settings.home))
        if world.platform.settings.database_url:
            monkeypatch.setenv("DATACOMPACT_DATABASE_URL", world.platform.settings.database_url)
    else:
        monkeypatch.setenv("DATACOMPACT_HOME", str(tmp_path / "no-platform-here"))
        transport = InProcess(create_app(world.platform))
        monkeypatch.setattr(
            _context, "client", lambda where, who: ApiClient(where.url, who, transport=transport)
        )
        prefix = ["--url", URL]
    get_settings.cache_clear()

    def invoke(who: str | None, *args: str) -> Result:
        token = [] if who is None else ["--token", world.tokens[who]]
        return CliRunner().invoke(app, [*prefix, *args, *token])

    yield invoke
    get_settings.cache_clear()


def ok(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def error(result: Result, exit_code: int) -> dict[str, Any]:
    assert result.exit_code == exit_code, result.output
    envelope: dict[str, Any] = json.loads(result.stderr)["error"]
    return envelope


def test_prices_usage_statements_cap_and_audit(cli: Invoke, world: World, tmp_path: Path) -> None:
    resource_id = register(world, tmp_path)
    paid = grant(world, resource_id, "enterprise", "credit_assessment")
    free = grant(world, resource_id, "enterprise2", "public_service")
    item = ok(
        cli(
            "department.admin",
            "prices", "add", "--code", "tax-psi", "--title", "纳税隐私求交 / tax PSI",
            "--kind", "psi_service", "--form", "service_count", "--unit", "service",
            "--resource", str(resource_id), "--json",
        )
    )  # fmt: skip
    item_id = str(item["id"])
    assert (item["ceiling"], item["price"], item["log_index"] > 0) == (None, "0.0000", True)
    refused = error(cli("department.admin", "prices", "set", item_id, "1.00", "--json"), 5)
    assert refused["details"]["rule"] == "price.no_ceiling"
    ok(cli("regulator.reviewer", "prices", "ceiling", item_id, "20", "--reason", "核定", "--json"))
    above = error(cli("department.admin", "prices", "set", item_id, "20.01", "--json"), 5)
    assert above["details"]["rule"] == "price.above_ceiling"
    bad = error(cli("department.admin", "prices", "set", item_id, "1e3", "--json"), 2)
    assert bad["code"] == "invalid_input"
    assert ok(cli("department.admin", "prices", "set", item_id, "12.345", "--json"))["version"] == 3
    listed = ok(cli(None, "prices", "list", "--json"))
    assert [(i["code"], i["ceiling"], i["price"]) for i in listed] == [
        ("tax-psi", "20.0000", "12.3450")
    ]
    shown = ok(cli(None, "prices", "show", item_id, "--json"))
    assert [v["change"] for v in shown["versions"]] == ["listed", "ceiling", "price"]

    for grant_id in (paid, paid, free):
        ok(
            cli(
                "department.admin",
                "billing", "usage", "--item", item_id, "--grant", str(grant_id),
                "--quantity", "1", "--json",
            )
        )  # fmt: skip
    free_charged = error(
        cli(
            "regulator.reviewer",
            "billing", "classify", str(free), "--class", "commercial", "--reason", "x", "--json",
        ),
        5,
    )  # fmt: skip
    assert free_charged["details"]["rule"] == "charging.free_purpose"
    period = metering_period()
    issued = ok(cli("department.admin", "billing", "issue", "--period", period, "--json"))
    assert (issued["total"], issued["line_count"]) == ("24.70", 3)
    operator = str(world.ids["department"])
    mine = ok(cli("enterprise.analyst", "billing", "statement", operator, period, "--json"))
    assert (mine["total"], [line["amount"] for line in mine["lines"]]) == (
        "24.70",
        ["12.35", "12.35"],
    )
    as_csv = cli("enterprise2.analyst", "billing", "statement", operator, period, "--csv")
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.stdout.splitlines()[1].endswith(",0.0000,0.00,1")

    audited = ok(cli("regulator.auditor", "audit", "billing", "--period", period, "--json"))
    assert (audited["ok"], audited["lines"], audited["total"]) == (True, 3, "24.70")
    assert error(cli("enterprise.admin", "audit", "billing", "--period", period, "--json"), 5)

    year = period[:4]
    capped = ok(
        cli(
            "regulator.admin",
            "billing",
            "cap",
            operator,
            "--year",
            year,
            "--maximum",
            "25",
            "--json",
        )
    )
    assert (capped["alert"], capped["share"]) == ("near_cap", "0.9880")
    status = ok(cli("department.admin", "billing", "revenue", operator, year, "--json"))
    assert status["revenue"] == "24.70"
    filed = ok(cli("department.admin", "billing", "file-report", year, "--json"))
    assert (filed["paid_uses"], filed["free_uses"]) == (2, 1)
    report = ok(cli("regulator.auditor", "billing", "report", operator, year, "--json"))
    assert report["sha256"] == filed["sha256"]


def test_audit_billing_names_the_first_line_that_differs(
    cli: Invoke, world: World, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from datacompact.store.value_models import StatementLine

    from ._billing import priced_world, use

    priced = priced_world(world, tmp_path)
    use(world, priced.api_item, priced.paid_grant, "2")
    use(world, priced.api_item, priced.paid_grant, "4")
    ok(cli("department.admin", "billing", "issue", "--period", priced.period, "--json"))
    assert cli("regulator.auditor", "audit", "billing", "--period", priced.period).exit_code == 0
    with world.platform.db.write() as session:
        session.execute(
            update(StatementLine).where(StatementLine.line_no == 2).values(quantity="3")
        )
    failed = cli("regulator.auditor", "audit", "billing", "--period", priced.period)
    assert failed.exit_code == 8, failed.output
    assert "line 2 has quantity 3, the log gives 4" in failed.stderr
