"""Holders' shares over HTTP, in process, on both stores: rules, distributions, earnings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from datacompact.store.models import Event, ShareDistribution, ShareLine

from ..api.conftest import ApiClient, bearer, last_seq
from ..api.conftest import client as client  # the API client fixture
from ..conftest import World
from ._value import executed, grant, resource


def _uses(world: World) -> dict[str, Any]:
    """Three resources of three holders; a one-resource query and a join over all three."""
    ids = world.ids
    with world.platform.db.write() as session:
        a = resource(session, ids["department"], "R-A")
        b = resource(session, ids["enterprise2"], "R-B")
        c = resource(session, ids["regulator"], "R-C")
        g = grant(session, resource_id=a, holder_id=ids["department"], grantee_id=ids["enterprise"])
        single = executed(session, world, grant_id=g, grantee_id=ids["enterprise"], rows_scanned=40)
        joined = executed(
            session,
            world,
            grant_id=g,
            grantee_id=ids["enterprise"],
            extra={
                "resources": [
                    {"resource_id": a, "rows_scanned": 40},
                    {"resource_id": b, "rows_scanned": 10},
                    {"resource_id": c, "rows_scanned": 50},
                ],
                # 60 result rows need only A; 30 need all three (a left join).
                "supports": [
                    {"resources": [a], "rows": 60},
                    {"resources": [a, b, c], "rows": 30},
                ],
            },
        )
    return {"a": a, "b": b, "c": c, "single": single, "joined": joined}


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def test_revenue_is_shared_by_shapley_logged_and_recomputed(
    client: ApiClient, world: World
) -> None:
    made = _uses(world)
    body = {
        "period": "2026-11",
        "uses": [
            {"query_id": made["single"], "revenue": "10.00"},
            {"query_id": made["joined"], "revenue": "90.01"},
        ],
    }
    sent = client.post(
        "/api/v1/products/psi-1/distributions", json=body, headers=bearer(world, "regulator.admin")
    )
    assert sent.status_code == 201, sent.text
    data = sent.json()["data"]
    assert sent.json()["receipt"]["log_index"] == last_seq(world.platform)
    assert data["rule"] == "shapley"
    assert data["rule_version"] is None
    amounts = {line["resource_id"]: line["amount"] for line in data["lines"]}
    # A: 10.00 + 90.01 · 7/9; B and C: 90.01 / 9 each (70.0077…, 10.0011…, 10.0011…).
    assert amounts == {made["a"]: "80.01", made["b"]: "10.00", made["c"]: "10.00"}
    assert sum(Decimal(v) for v in amounts.values()) == Decimal("100.01")

    with world.platform.db.read() as session:
        event = session.scalar(select(Event).where(Event.seq == data["log_index"]))
        assert event is not None
        assert event.type == "shares.distributed"
        assert event.payload["rule"] == "shapley"
        assert [u["use"] for u in event.payload["uses"]] == [
            f"query:{made['single']}",
            f"query:{made['joined']}",
        ]
        assert event.payload["uses"][1]["supports"][0] == {"resources": [made["a"]], "rows": 60}

    again = client.get(
        f"/api/v1/distributions/{data['id']}/recompute", headers=bearer(world, "department.admin")
    )
    assert again.status_code == 200, again.text
    assert again.json()["data"]["matches"] is True

    mine = client.get(
        f"/api/v1/participants/{world.ids['department']}/earnings",
        headers=bearer(world, "department.admin"),
    )
    assert mine.status_code == 200, mine.text
    assert mine.json()["data"]["total"] == "80.01"
    assert mine.json()["data"]["resources"][0]["resource_id"] == made["a"]
    others = client.get(
        f"/api/v1/participants/{world.ids['department']}/earnings",
        headers=bearer(world, "enterprise.admin"),
    )
    _error(others, 403, "forbidden")

    twice = client.post(
        "/api/v1/products/psi-1/distributions", json=body, headers=bearer(world, "regulator.admin")
    )
    _error(twice, 409, "conflict")


def test_the_regulator_sets_weights_and_they_are_used(client: ApiClient, world: World) -> None:
    made = _uses(world)
    weights = {str(made["a"]): "1", str(made["b"]): "1"}
    rule: dict[str, Any] = {"rule": "weights", "weights": weights}
    url = "/api/v1/products/api-2/share-rule"
    refused = client.put(url, json=rule, headers=bearer(world, "department.admin"))
    _error(refused, 403, "forbidden")
    ok = client.put(url, json=rule, headers=bearer(world, "regulator.reviewer"))
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"]["version"] == 1
    body = {"period": "2026-11", "uses": [{"query_id": made["joined"], "revenue": "1.00"}]}
    missing = client.post(
        "/api/v1/products/api-2/distributions", json=body, headers=bearer(world, "regulator.admin")
    )
    assert _error(missing, 400, "invalid_input")["details"]["resource_ids"] == [made["c"]]
    weights[str(made["c"])] = "2"
    assert (
        client.put(url, json=rule, headers=bearer(world, "regulator.reviewer")).json()["data"][
            "version"
        ]
        == 2
    )
    sent = client.post(
        "/api/v1/products/api-2/distributions", json=body, headers=bearer(world, "regulator.admin")
    )
    assert sent.status_code == 201, sent.text
    lines = {x["resource_id"]: x["amount"] for x in sent.json()["data"]["lines"]}
    assert lines == {made["a"]: "0.25", made["b"]: "0.25", made["c"]: "0.50"}
    assert sent.json()["data"]["rule_version"] == 2


def test_bad_distributions_leave_nothing_behind(client: ApiClient, world: World) -> None:
    made = _uses(world)
    url = "/api/v1/products/p/distributions"
    admin = bearer(world, "regulator.admin")
    cases = [
        ({"period": "2026-11", "uses": []}, 400),
        ({"period": "2026-13", "uses": [{"query_id": made["single"], "revenue": "1"}]}, 400),
        ({"period": "2026-11", "uses": [{"query_id": made["single"], "revenue": "1.001"}]}, 400),
        ({"period": "2026-11", "uses": [{"query_id": made["single"], "revenue": "-1"}]}, 400),
        ({"period": "2026-11", "uses": [{"query_id": made["single"], "revenue": "abc"}]}, 400),
        ({"period": "2026-11", "uses": [{"query_id": 999999, "revenue": "1.00"}]}, 404),
        (
            {
                "period": "2026-11",
                "uses": [
                    {"query_id": made["single"], "revenue": "1.00"},
                    {"query_id": made["single"], "revenue": "1.00"},
                ],
            },
            400,
        ),
    ]
    before = last_seq(world.platform)
    for body, status in cases:
        answer = client.post(url, json=body, headers=admin)
        assert answer.status_code == status, (body, answer.text)
        assert "abc" not in answer.text
    assert last_seq(world.platform) == before
    with world.platform.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ShareDistribution)) == 0
        assert session.scalar(select(func.count()).select_from(ShareLine)) == 0
    # The holder cannot share revenue out itself.
    body = {"period": "2026-11", "uses": [{"query_id": made["single"], "revenue": "1.00"}]}
    _error(client.post(url, json=body, headers=bearer(world, "department.admin")), 403, "forbidden")


def test_a_use_over_more_resources_than_supported_is_refused(
    client: ApiClient, world: World
) -> None:
    ids = world.ids
    with world.platform.db.write() as session:
        many = [resource(session, ids["department"], f"M-{k}") for k in range(65)]
        g = grant(
            session, resource_id=many[0], holder_id=ids["department"], grantee_id=ids["enterprise"]
        )
        wide = executed(
            session,
            world,
            grant_id=g,
            grantee_id=ids["enterprise"],
            extra={"resources": [{"resource_id": r, "rows_scanned": 1} for r in many]},
        )
    body = {"period": "2026-11", "uses": [{"query_id": wide, "revenue": "1.00"}]}
    before = last_seq(world.platform)
    refused = client.post(
        "/api/v1/products/wide/distributions", json=body, headers=bearer(world, "regulator.admin")
    )
    details = _error(refused, 400, "invalid_input")["details"]
    assert details == {"field": "resources", "count": 65, "limit": 64}
    assert last_seq(world.platform) == before
