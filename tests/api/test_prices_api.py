"""The price list over HTTP, on both stores: bad prices refused whole, the list public."""

from __future__ import annotations

import pytest

from ..conftest import World
from .conftest import ApiClient, bearer, last_seq, row_counts

P = "/api/v1/prices"


def _item(client: ApiClient, world: World) -> int:
    listed = client.post(
        P,
        json={
            "code": "tax-api",
            "title": "纳税核验接口 / tax verification API",
            "kind": "api",
            "form": "call_volume",
            "unit": "thousand_calls",
        },
        headers=bearer(world, "department.admin"),
    )
    assert listed.status_code == 201, listed.text
    assert listed.json()["receipt"]["log_index"] == last_seq(world.platform)
    item_id: int = listed.json()["data"]["id"]
    capped = client.post(
        f"{P}/{item_id}/ceiling",
        json={"value": "3.00"},
        headers=bearer(world, "regulator.reviewer"),
    )
    assert capped.status_code == 200, capped.text
    return item_id


@pytest.mark.parametrize(
    ("value", "status", "code"),
    [
        (2.5, 400, "invalid_input"),
        ("-1", 400, "invalid_input"),
        ("abc", 400, "invalid_input"),
        ("Infinity", 400, "invalid_input"),
        ("3.01", 403, "policy_violation"),
    ],
)
def test_a_bad_price_is_refused_and_nothing_is_written(
    client: ApiClient, world: World, value: object, status: int, code: str
) -> None:
    item_id = _item(client, world)
    before = (last_seq(world.platform), row_counts(world.platform))
    response = client.post(
        f"{P}/{item_id}/price", json={"value": value}, headers=bearer(world, "department.admin")
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert f"got {value}" not in response.json()["error"]["message"]  # never echoed
    assert (last_seq(world.platform), row_counts(world.platform)) == before


def test_the_price_list_is_public_and_versioned(client: ApiClient, world: World) -> None:
    item_id = _item(client, world)
    priced = client.post(
        f"{P}/{item_id}/price", json={"value": "2.40"}, headers=bearer(world, "department.admin")
    )
    assert priced.status_code == 200, priced.text
    listed = client.get("/public/prices")
    assert listed.status_code == 200
    assert [(i["code"], i["ceiling"], i["price"]) for i in listed.json()["data"]] == [
        ("tax-api", "3.0000", "2.4000")
    ]
    shown = client.get(f"/public/prices/{item_id}").json()["data"]
    assert [(v["version"], v["change"]) for v in shown["versions"]] == [
        (1, "listed"),
        (2, "ceiling"),
        (3, "price"),
    ]
    assert client.get("/public/prices/99999").status_code == 404


def test_a_statement_not_issued_is_not_found(client: ApiClient, world: World) -> None:
    operator = world.ids["department"]
    response = client.get(
        f"/api/v1/billing/statements/{operator}/2020-01",
        headers=bearer(world, "department.admin"),
    )
    assert response.status_code == 404
    bad = client.get(
        f"/api/v1/billing/statements/{operator}/2020-13", headers=bearer(world, "department.admin")
    )
    assert bad.status_code in (400, 422)
