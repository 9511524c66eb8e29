"""The contract, alert and public transparency routes, in process."""

from __future__ import annotations

from typing import Any

import pytest

from ..api._endpoints_delivery import (
    contract_owned_by,
)
from ..api.conftest import ApiClient, bearer, last_seq
from ..api.conftest import client as client  # the API client fixture
from ..conftest import World
from ..oversight._ocds_schema import problems
from ._delivery import MET, award_for, contract_body


def _h(world: World, key: str = "department.admin") -> dict[str, str]:
    return bearer(world, key)


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def test_contract_life_cycle_over_http(client: ApiClient, world: World) -> None:
    award = award_for(world, "department", "enterprise")
    body = contract_body(award, milestones=contract_body(award)["milestones"][:1])
    signed = client.post("/api/v1/contracts", json=body, headers=_h(world))
    assert signed.status_code == 201, signed.text
    assert signed.json()["receipt"]["log_index"] == last_seq(world.platform)
    cid = signed.json()["data"]["id"]
    milestone = signed.json()["data"]["milestones"][0]["id"]
    url = f"/api/v1/contracts/{cid}"

    refused = client.post(f"{url}/milestones/{milestone}/acceptance", headers=_h(world))
    error = _error(refused, 403, "policy_violation")
    assert [u["kpi"] for u in error["details"]["unmet"]] == ["availability", "response_time"]

    supplier = _h(world, "enterprise.admin")
    csv = "period,kpi,value\n2025-04,availability,99.95\n2025-04,response_time,20\n"
    sent = client.post(
        f"{url}/sla-reports", content=csv, headers={**supplier, "Content-Type": "text/csv"}
    )
    assert sent.status_code == 201, sent.text
    again = client.post(
        f"{url}/sla-reports", json={"period": "2025-04", "values": MET}, headers=supplier
    )
    assert _error(again, 409, "conflict")["details"]["period"] == "2025-04"
    as_json = client.post(
        f"{url}/sla-reports", json={"period": "2025-05", "values": MET}, headers=supplier
    )
    assert as_json.status_code == 201, as_json.text

    accepted = client.post(f"{url}/milestones/{milestone}/acceptance", headers=_h(world))
    assert accepted.status_code == 200
    assert accepted.json()["data"]["milestones"][0]["status"] == "accepted"
    final = client.post(f"{url}/acceptance", headers=_h(world))
    assert final.status_code == 200
    assert final.json()["data"]["status"] == "accepted"
    shown = client.get(url, headers=_h(world, "enterprise2.auditor")).json()["data"]
    assert shown["status"] == "accepted"
    assert [r["period"] for r in shown["reports"]] == [
        "2025-04",
        "2025-05",
    ]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"kpis": [{"name": "availability"}]}, 400, "invalid_input"),
        ({"ends_on": "2025-01-01"}, 400, "invalid_input"),
        ({"value": "abc"}, 400, "invalid_input"),
        ({"value": 1000000}, 400, "invalid_input"),
        ({"kpis": [{"name": "uptime", "target": "1"}]}, 400, "invalid_input"),
        ({"surprise": 1}, 400, "unknown_field"),
    ],
)
def test_bad_contracts_over_http(
    client: ApiClient, world: World, body: dict[str, Any], status: int, code: str
) -> None:
    award = award_for(world, "department", "enterprise")
    before = last_seq(world.platform)
    response = client.post(
        "/api/v1/contracts", json=contract_body(award, **body), headers=_h(world)
    )
    _error(response, status, code)
    assert last_seq(world.platform) == before


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (
            '{"period": "2025-04", "values": {"uptime": "1"}}',
            "application/json",
            400,
            "invalid_input",
        ),
        (
            '{"period": "2099-01", "values": {"availability": "99"}}',
            "application/json",
            400,
            "invalid_input",
        ),
        (
            '{"period": "2025-04", "values": {"availability": "high"}}',
            "application/json",
            400,
            "invalid_input",
        ),
        ("{oops", "application/json", 400, "malformed_input"),
        ("kpi,value\navailability,99\n", "text/csv", 400, "malformed_input"),
        ("<report/>", "application/xml", 400, "malformed_input"),
    ],
)
def test_bad_sla_reports_over_http(
    client: ApiClient, world: World, content: str, content_type: str, status: int, code: str
) -> None:
    cid = contract_owned_by(world, "department")
    before = last_seq(world.platform)
    response = client.post(
        f"/api/v1/contracts/{cid}/sla-reports",
        content=content,
        headers={**_h(world, "department.admin"), "Content-Type": content_type},
    )
    _error(response, status, code)
    assert last_seq(world.platform) == before


def test_alerts_over_http(client: ApiClient, world: World) -> None:
    contract_owned_by(world, "department")
    response = client.get(
        "/api/v1/alerts", params={"today": "2026-01-15"}, headers=_h(world, "regulator.auditor")
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["max_share"] == "0.30"
    assert data["hhi_threshold"] == "2500"
    assert [a["kind"] for a in data["concentration_alerts"] if a["scope"] == "city"] == [
        "supplier_share",
        "hhi",
    ]
    assert len(data["continuity"]) == 1
    for params in ({"max_share": "0"}, {"max_share": "abc"}, {"horizon_days": "-1"}):
        _error(client.get("/api/v1/alerts", params=params, headers=_h(world)), 400, "invalid_input")


def test_public_routes_need_no_token(client: ApiClient, world: World) -> None:
    assert client.get("/public/ocds/release-package.json").status_code == 404
    contract_owned_by(world, "department")
    listing = client.get("/public/projects")
    assert listing.status_code == 200
    assert len(listing.json()["data"]) == 1
    package = client.get("/public/ocds/release-package.json")
    assert package.status_code == 200
    assert package.headers["content-type"] == "application/json"
    assert problems(package.json()) == []
    assert package.json()["uri"].endswith("/public/ocds/release-package.json")


# -- the permission matrix of these endpoints, as the merged matrix will run it ----------------

ACTORS = ("regulator", "enterprise")
TARGETS = ("own", "other")
