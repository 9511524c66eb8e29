"""``POST /psi/runs`` and ``POST /psi/exchange``: a private set intersection over HTTP.

On both stores: the two rounds with the requester's side played here, their
receipts, the run's record, a replayed round, a body over the route's limit,
bad points and grants that do not allow PSI, each with its error envelope
and without a key in it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from datacompact.api import create_app
from datacompact.fusion import answer_round, matched_keys, requester_keys

from ..conftest import BACKENDS, PgServer, Saved, SharedWorld, Template, World, shared_world
from ..fusion.test_psi import HOLDER_IDS, MINE, psi_grant
from ..policy.test_queries import register_roster
from .conftest import ApiClient, bearer


class Served:
    def __init__(self, shared: SharedWorld, client: ApiClient, grants: dict[str, int]) -> None:
        self.shared, self.client, self.grants = shared, client, grants
        self.saved: Saved = shared.save()

    @property
    def world(self) -> World:
        return self.shared.world

    def post(self, path: str, body: dict[str, Any], who: str = "enterprise.analyst") -> Any:
        return self.client.post(f"/api/v1{path}", json=body, headers=bearer(self.world, who))

    def open(self, grant: str, mode: str, size: int) -> dict[str, Any]:
        response = self.post(
            "/psi/runs",
            {
                "grant_id": self.grants[grant],
                "mode": mode,
                "key_column": "身份证号",
                "key_kind": "resident_id",
                "declared_size": size,
            },
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module", params=BACKENDS)
def _served(
    request: pytest.FixtureRequest,
    _templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
) -> Iterator[Served]:
    shared = shared_world(str(request.param), _templates, tmp_path_factory, pg_server)
    world = shared.world
    resource_id = register_roster(world, tmp_path_factory.mktemp("roster"))
    grants = {
        "records": psi_grant(world, resource_id),
        "aggregates": psi_grant(world, resource_id, mode="aggregates"),
        "no_psi": psi_grant(world, resource_id, psi_keys=[]),
    }
    world.platform.settings.sandbox_time_quantum_ms = 0
    world.platform.settings.psi_max_set_size = 1000
    yield Served(shared, ApiClient(create_app(world.platform)), grants)
    shared.close()


@pytest.fixture
def served(_served: Served) -> Served:
    _served.shared.restore(_served.saved)
    return _served


KEYS = requester_keys("resident_id", MINE)


def _second(served: Served, opened: dict[str, Any], **extra: Any) -> Any:
    data = opened["data"]
    answer = answer_round(context=data["context"], holder_points=data["holder_points"], keys=KEYS)
    body = {
        "run_id": data["run_id"],
        "holder_points": answer.holder_points,
        "requester_points": answer.requester_points,
        **extra,
    }
    return served.post("/psi/exchange", body), answer, body


def test_two_rounds_answer_the_intersection_with_receipts(served: Served) -> None:
    opened = served.open("records", "intersection", len(KEYS))
    assert isinstance(opened["receipt"]["log_index"], int)
    assert opened["data"]["group"] == "x25519"
    assert opened["data"]["holder_size"] == 40
    response, answer, body = _second(served, opened)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["receipt"]["log_index"] > opened["receipt"]["log_index"]
    assert matched_keys(answer.order, result["data"]["matches"]) == sorted(HOLDER_IDS[:10])

    record = served.client.get(
        f"/api/v1/psi/runs/{opened['data']['run_id']}",
        headers=bearer(served.world, "department.reviewer"),
    )
    assert record.status_code == 200
    assert record.json()["data"]["status"] == "executed"
    assert record.json()["data"]["requester_size"] == len(KEYS)
    listed = served.client.get(
        "/api/v1/psi/runs",
        params={"grant_id": served.grants["records"]},
        headers=bearer(served.world, "enterprise.analyst"),
    )
    assert [r["id"] for r in listed.json()["data"]] == [opened["data"]["run_id"]]

    replay = served.post("/psi/exchange", body)
    assert replay.status_code == 409
    assert replay.json()["error"]["details"]["rule"] == "psi.replayed"


def test_attributes_come_back_under_the_holders_mode(served: Served) -> None:
    opened = served.open("aggregates", "attributes", len(KEYS))
    response, _answer, _body = _second(
        served, opened, sql="SELECT 区县, COUNT(*) AS n FROM relief_roster GROUP BY 区县"
    )
    assert response.status_code == 200, response.text
    query = response.json()["data"]["query"]
    # Ten matched residents of 西湖区: exactly the grant's threshold of ten.
    assert query["rows"] == [["西湖区", 10]]
    assert query["protection"]["mode"] == "aggregates"


def test_bad_rounds_are_refused_with_their_envelope(served: Served) -> None:
    refused = served.post(
        "/psi/runs",
        {
            "grant_id": served.grants["no_psi"],
            "mode": "cardinality",
            "key_column": "身份证号",
            "key_kind": "resident_id",
            "declared_size": 5,
        },
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["rule"] == "grant.psi_key"

    too_many = served.post(
        "/psi/runs",
        {
            "grant_id": served.grants["records"],
            "mode": "cardinality",
            "key_column": "身份证号",
            "key_kind": "resident_id",
            "declared_size": 5000,
        },
    )
    assert too_many.status_code == 400

    opened = served.open("records", "intersection", 3)
    response, _answer, _body = _second(served, opened)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["details"]["field"] == "requester_points"
    assert not any(key in response.text for key in HOLDER_IDS + list(KEYS))

    opened = served.open("records", "intersection", len(KEYS))
    bad = base64.b64encode(b"\xff" * 32).decode()
    response = served.post(
        "/psi/exchange",
        {"run_id": opened["data"]["run_id"], "holder_points": "", "requester_points": bad},
    )
    assert response.status_code == 400


def test_a_body_over_the_routes_limit_is_refused_before_parsing(served: Served) -> None:
    limit = 2 * 4 * -(-1000 * 32 // 3) + served.world.platform.settings.max_request_bytes
    response = served.client.post(
        "/api/v1/psi/exchange",
        content=b"x" * (limit + 1),
        headers={**bearer(served.world, "enterprise.analyst"), "content-type": "application/json"},
    )
    assert response.status_code == 413
