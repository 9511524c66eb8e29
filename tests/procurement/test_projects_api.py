"""The project routes through the API: a whole procurement and its errors.

The permission matrix, the no-token checks and the receipts of these routes
run with every other route's in ``tests/api``.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from datacompact.api import API_PREFIX
from datacompact.clock import utcnow
from datacompact.store.project_models import Tender

from ..api._endpoints_projects import PROJECT_ENDPOINTS
from ..api.conftest import ApiClient, bearer
from ..api.conftest import client as client  # the API client fixture
from ..conftest import World
from ._helpers import lot_body, project_body

V = API_PREFIX


@pytest.fixture
def api(client: ApiClient) -> ApiClient:
    return client


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def test_a_procurement_through_the_api(api: ApiClient, world: World) -> None:
    dept, reg = bearer(world, "department.admin"), bearer(world, "regulator.reviewer")
    project = _ok(api.post(f"{V}/projects", json=project_body(world), headers=dept), 201)
    pid = project["id"]
    decided = api.post(
        f"{V}/projects/{pid}/mode-decisions",
        json={"decision": "approve", "reason": "符合规则"},
        headers=reg,
    )
    assert _ok(decided)["mode_status"] == "approved"
    assert decided.json()["receipt"]["log_index"] >= 0
    lot = _ok(api.post(f"{V}/projects/{pid}/lots", json=lot_body(), headers=dept), 201)
    matches = _ok(api.get(f"{V}/lots/{lot['id']}/matches", headers=dept))
    assert {m["participant_id"] for m in matches["matches"]} <= {
        world.ids["enterprise"],
        world.ids["enterprise2"],
    }
    assert (matches["empty_reason"] is None) == bool(matches["matches"])
    now = utcnow()
    tender_body = {
        "method": "comprehensive",
        "weights": {"price": 30, "technical": 70},
        "opens_at": (now - timedelta(minutes=5)).isoformat(),
        "deadline": (now + timedelta(days=1)).isoformat(),
        "committee": [world.members["regulator.reviewer"]],
    }
    bad = api.post(
        f"{V}/lots/{lot['id']}/tender",
        json={**tender_body, "weights": {"price": 30, "technical": 60}},
        headers=dept,
    )
    assert _error(bad, 400, "invalid_input")["details"]["reason"] == "weights_sum"
    tender = _ok(api.post(f"{V}/lots/{lot['id']}/tender", json=tender_body, headers=dept), 201)
    tid = tender["id"]
    document = base64.b64encode(b"%PDF technical proposal").decode()
    bids = {}
    for key, price in (("enterprise", "450000"), ("enterprise2", "420000.00")):
        bids[key] = _ok(
            api.post(
                f"{V}/tenders/{tid}/bids",
                json={"price": price, "document": document},
                headers=bearer(world, f"{key}.admin"),
            ),
            201,
        )
    malformed = api.post(
        f"{V}/tenders/{tid}/bids",
        json={"price": "1", "document": "not base64!"},
        headers=bearer(world, "enterprise.admin"),
    )
    _error(malformed, 400, "malformed_input")
    early = api.post(f"{V}/tenders/{tid}/opening", headers=dept)
    assert _error(early, 409, "invalid_transition")["details"]["reason"] == "before_deadline"
    # Time passes: the deadline is behind us.
    with world.platform.db.write() as session:
        row = session.get(Tender, tid)
        assert row is not None
        row.opens_at, row.deadline = now - timedelta(hours=2), now - timedelta(hours=1)
    late = api.post(
        f"{V}/tenders/{tid}/bids",
        json={"price": "1", "document": document},
        headers=bearer(world, "enterprise2.admin"),
    )
    _error(late, 409, "invalid_transition")
    opened = _ok(api.post(f"{V}/tenders/{tid}/opening", headers=dept))
    assert {b["sha256"] for b in opened["bids"]} == {b["sha256"] for b in bids.values()}
    for key, technical in (("enterprise", 90), ("enterprise2", 70)):
        _ok(
            api.post(
                f"{V}/bids/{bids[key]['id']}/scores", json={"technical": technical}, headers=reg
            ),
            201,
        )
    awarded = _ok(api.post(f"{V}/tenders/{tid}/award", headers=dept))
    assert awarded["award"]["supplier_id"] == world.ids["enterprise"]
    shown = _ok(api.get(f"{V}/tenders/{tid}", headers=bearer(world, "enterprise2.auditor")))
    assert shown["status"] == "awarded"
    assert shown["award"]["evaluation"]["reasons"]
    listed = _ok(api.get(f"{V}/projects", headers=bearer(world, "enterprise.analyst")))
    assert [p["id"] for p in listed] == [pid]


def test_routes_need_a_token(api: ApiClient, world: World) -> None:
    for name, endpoint in PROJECT_ENDPOINTS.items():
        call = endpoint.build(world, "enterprise", "admin", "enterprise")
        response = api.request(call.method, call.path, json=call.json, params=call.params)
        assert response.status_code == 401, (name, response.text)
