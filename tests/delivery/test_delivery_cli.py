"""``datacompact projects contract|sla|kpi|deliver|deliverables|release-escrow|accept|...``."""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from datacompact.cli._contracts import delivery_app
from datacompact.clock import today_cst
from datacompact.config import get_settings

from ..conftest import World
from ..oversight._ocds_schema import problems
from ._delivery import MET, award_for, contract_body, sign

Invoke = Callable[..., Result]


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    monkeypatch.delenv("DATACOMPACT_TOKEN", raising=False)
    monkeypatch.setenv("DATACOMPACT_HOME", str(world.platform.settings.home))
    if world.platform.settings.database_url:
        monkeypatch.setenv("DATACOMPACT_DATABASE_URL", world.platform.settings.database_url)
    else:
        monkeypatch.delenv("DATACOMPACT_DATABASE_URL", raising=False)
    get_settings.cache_clear()

    def invoke(*args: str, token: str | None = None) -> Result:
        extra = ["--token", world.tokens[token]] if token else []
        return CliRunner().invoke(delivery_app, [*args, *extra])

    yield invoke
    get_settings.cache_clear()


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _write(tmp_path: Path, name: str, content: Any) -> str:
    path = tmp_path / name
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def contract(world: World, cli: Invoke, tmp_path: Path) -> dict[str, Any]:
    award = award_for(world, "department", "enterprise")
    file = _write(tmp_path, "contract.json", contract_body(award))
    signed: dict[str, Any] = _json(
        cli("contract", "--file", file, "--json", token="department.admin")
    )
    return signed


def test_sign_report_and_accept(cli: Invoke, contract: dict[str, Any], tmp_path: Path) -> None:
    cid = str(contract["id"])
    assert contract["status"] == "active"
    assert contract["log_index"] >= 1
    first = str(contract["milestones"][0]["id"])

    refused = cli("accept", cid, "--milestone", first, token="department.admin")
    assert refused.exit_code == 5
    assert "availability not measured" in refused.output

    rows = "".join(f"2025-04,{k},{v}\n" for k, v in MET.items())
    csv = _write(tmp_path, "2025-04.csv", "period,kpi,value\n" + rows)
    reported = _json(cli("sla", cid, "--file", csv, "--json", token="enterprise.admin"))
    assert all(k["met"] for k in reported["kpis"])
    again = cli("sla", cid, "--file", csv, token="enterprise.admin")
    assert again.exit_code == 7
    assert "2025-04" in again.output

    later = _write(
        tmp_path, "2025-05.json", {"period": "2025-05", "values": {"response_time": "45"}}
    )
    assert cli("sla", cid, "--file", later, token="enterprise.admin").exit_code == 0
    unmet = cli("accept", cid, "--milestone", first, token="department.admin")
    assert unmet.exit_code == 5
    assert "response_time 45 (target <= 30)" in unmet.output

    shown = cli("kpi", cid, token="enterprise2.auditor")
    assert shown.exit_code == 0
    assert "response_time" in shown.output

    done = cli(
        "handover",
        cid,
        "--documentation",
        "--credentials",
        "--code-escrow",
        "--json",
        token="department.admin",
    )
    assert _json(done)["handover_complete"] is True


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("bad.json", {"period": "2025-04", "values": {"uptime": "99"}}, 2),
        ("bad.json", {"period": "2099-01", "values": {"availability": "99"}}, 2),
        ("bad.json", {"period": "2025-04", "values": {"availability": "9 9"}}, 2),
        ("bad.csv", "kpi,value\navailability,99\n", 2),
        ("bad.json", "{not json", 2),
    ],
)
def test_bad_sla_files(
    cli: Invoke, contract: dict[str, Any], tmp_path: Path, name: str, content: Any, code: int
) -> None:
    file = _write(tmp_path, name, content)
    result = cli("sla", str(contract["id"]), "--file", file, token="enterprise.admin")
    assert result.exit_code == code, result.output
    assert (
        cli(
            "sla",
            str(contract["id"]),
            "--file",
            str(tmp_path / "missing.csv"),
            token="enterprise.admin",
        ).exit_code
        == 2
    )


def test_bad_contract_files(world: World, cli: Invoke, tmp_path: Path) -> None:
    award = award_for(world, "department", "enterprise")
    for body in (
        contract_body(award, kpis=[{"name": "availability"}]),
        contract_body(award, ends_on="2025-01-01"),
        contract_body(award, value="1.2e6"),
        {"award_id": award},
    ):
        file = _write(tmp_path, "contract.json", body)
        result = cli("contract", "--file", file, token="department.admin")
        assert result.exit_code == 2, result.output
    file = _write(tmp_path, "contract.json", contract_body(award))
    assert cli("contract", "--file", file).exit_code == 4  # no token


def test_alerts(cli: Invoke, contract: dict[str, Any]) -> None:
    report = _json(cli("alerts", "--json", token="regulator.reviewer"))
    assert report["concentration"][0]["scope"] == "city"
    assert {a["kind"] for a in report["concentration_alerts"]} == {"supplier_share", "hhi"}
    text = cli(
        "alerts",
        "--max-share",
        "1",
        "--hhi",
        "10000",
        "--horizon-days",
        "0",
        token="regulator.reviewer",
    )
    assert text.exit_code == 0
    assert cli("alerts", "--max-share", "lots", token="regulator.reviewer").exit_code == 2
    assert cli("alerts", "--max-share", "0", token="regulator.reviewer").exit_code == 2


def test_export_ocds(cli: Invoke, contract: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "ocds.json"
    result = cli("export-ocds", "--out", str(out))
    assert result.exit_code == 0, result.output
    package = json.loads(out.read_text(encoding="utf-8"))
    assert problems(package) == []
    assert len(package["releases"]) == 3
    printed = cli("export-ocds")
    assert printed.exit_code == 0
    assert json.loads(printed.stdout)["version"] == "1.1"


def test_export_ocds_with_nothing_published(cli: Invoke) -> None:
    assert cli("export-ocds").exit_code == 6


# -- deliverables and code escrow ------------------------------------------------------------

CODE = b"int verify_signature(const char *cert);\n"


def _escrow_contract(world: World, days_left: int) -> str:
    today = today_cst()
    award = award_for(world, "department", "enterprise", code_escrow=True)
    return str(
        sign(
            world,
            "department",
            award,
            milestones=[],
            starts_on=(today - timedelta(days=100)).isoformat(),
            ends_on=(today + timedelta(days=days_left)).isoformat(),
        )
    )


def test_deliver_list_and_release(world: World, cli: Invoke, tmp_path: Path) -> None:
    running, ending = _escrow_contract(world, days_left=400), _escrow_contract(world, days_left=30)
    code = tmp_path / "verify.c"
    code.write_bytes(CODE)
    data = tmp_path / "件数.csv"
    data.write_text("区县,件数\n西湖区,120\n", encoding="utf-8")
    sha = hashlib.sha256(CODE).hexdigest()
    for cid in (running, ending):
        deposited = cli(
            "deliver",
            cid,
            "--kind",
            "key_code",
            "--file",
            str(code),
            "--json",
            token="enterprise.admin",
        )
        assert deposited.exit_code == 0, deposited.output
        shown = json.loads(deposited.stdout)
        assert shown["name"] == "verify.c"
        assert shown["sha256"] == sha
        assert shown["sealed"]
    assert (
        cli(
            "deliver", running, "--kind", "open_data", "--file", str(data), token="enterprise.admin"
        ).exit_code
        == 0
    )
    assert (
        cli(
            "deliver", running, "--kind", "firmware", "--file", str(data), token="enterprise.admin"
        ).exit_code
        == 2
    )
    again = cli(
        "deliver", running, "--kind", "key_code", "--file", str(code), token="enterprise.admin"
    )
    assert again.exit_code == 7
    assert (
        cli(
            "deliver", running, "--kind", "open_data", "--file", str(data), token="department.admin"
        ).exit_code
        == 5
    )

    listed = cli("deliverables", running, "--json", token="enterprise2.auditor")
    assert [d["kind"] for d in json.loads(listed.stdout)] == ["key_code", "open_data"]
    assert cli("deliverables", running, token="enterprise2.auditor").exit_code == 0

    out = tmp_path / "released.c"
    refused = cli(
        "release-escrow",
        running,
        sha,
        "--reason",
        "试调取 / just looking",
        "--out",
        str(out),
        token="department.admin",
    )
    assert refused.exit_code == 5
    assert "escrow" in refused.output
    assert not out.exists()
    released = cli(
        "release-escrow",
        ending,
        sha,
        "--reason",
        "运维接续风险 / continuity",
        "--out",
        str(out),
        "--json",
        token="department.admin",
    )
    assert released.exit_code == 0, released.output
    assert out.read_bytes() == CODE
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert json.loads(released.stdout)["log_index"] >= 1
