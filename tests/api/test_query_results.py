"""``POST /queries`` states its protection and pages; ``GET /queries/{id}/rows`` reads the rest.

Over HTTP on both stores: the first page, a signed token for the next, the
whole result as CSV (``Accept: text/csv``) or Parquet (``format=parquet``), a
forged token refused, and no second charge for any of it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq
import pytest

from datacompact.api import create_app
from datacompact.store.models import Grant

from ..conftest import (
    BACKENDS,
    PgServer,
    Saved,
    SharedWorld,
    Template,
    World,
    shared_world,
    tampered,
)
from ..policy.test_queries import _grant, register_roster
from .conftest import ApiClient, bearer

ROWS = "SELECT 区县, 金额 FROM relief_roster ORDER BY 金额"


class Served:
    def __init__(self, shared: SharedWorld, client: ApiClient, grants: dict[str, int]) -> None:
        self.shared, self.client, self.grants = shared, client, grants
        self.saved: Saved = shared.save()

    @property
    def world(self) -> World:
        return self.shared.world

    def headers(self, who: str = "enterprise.analyst", **more: str) -> dict[str, str]:
        return {**bearer(self.world, who), **more}

    def run(self, mode: str, sql: str) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/queries",
            json={"grant_id": self.grants[mode], "sql": sql},
            headers=self.headers(),
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def used(self, mode: str) -> int:
        with self.world.platform.db.read() as session:
            grant = session.get(Grant, self.grants[mode])
            assert grant is not None
            return grant.queries_used


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
        "masked_records": _grant(world, resource_id, columns=["区县", "金额"]),
        "aggregates": _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"]),
    }
    world.platform.settings.query_page_rows = 15
    world.platform.settings.sandbox_time_quantum_ms = 0
    yield Served(shared, ApiClient(create_app(world.platform)), grants)
    shared.close()


@pytest.fixture
def served(_served: Served) -> Served:
    _served.shared.restore(_served.saved)
    return _served


def test_the_answer_is_paged_and_says_how_it_was_protected(served: Served) -> None:
    body = served.run("masked_records", ROWS)
    data = body["data"]
    assert (len(data["rows"]), data["total_rows"], data["truncated"]) == (15, 40, False)
    assert data["row_limit"] == 100_000
    assert data["protection"]["mode"] == "masked_records"
    assert data["protection"]["groups_suppressed"] == 0
    used = served.used("masked_records")

    rows, token = list(data["rows"]), data["next_page_token"]
    while token:
        response = served.client.get(
            f"/api/v1/queries/{data['query']['id']}/rows",
            params={"page_token": token},
            headers=served.headers(),
        )
        assert response.status_code == 200, response.text
        page = response.json()["data"]
        rows += page["rows"]
        token = page["next_page_token"]
    assert [r[1] for r in rows] == list(range(100, 140))
    assert served.used("masked_records") == used  # pages are never charged

    aggregated = served.run(
        "aggregates", "SELECT 区县, count(*) AS n FROM relief_roster GROUP BY 区县"
    )
    protection = aggregated["data"]["protection"]
    assert protection["suppression"] == "group_threshold"
    assert protection["suppression_threshold"] == 10
    assert protection["groups_suppressed"] is None


def test_the_whole_result_streams_as_csv_or_parquet(served: Served) -> None:
    query_id = served.run("masked_records", ROWS)["data"]["query"]["id"]
    url = f"/api/v1/queries/{query_id}/rows"
    response = served.client.get(url, headers=served.headers(accept="text/csv"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert (response.headers["x-total-rows"], response.headers["x-truncated"]) == ("40", "false")
    lines = response.text.splitlines()
    assert (lines[0], len(lines)) == ("区县,金额", 41)

    response = served.client.get(url, params={"format": "parquet"}, headers=served.headers())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    assert pq.read_table(io.BytesIO(response.content)).num_rows == 40

    response = served.client.get(
        url, params={"format": "csv", "page_token": "x"}, headers=served.headers()
    )
    assert response.status_code == 400


def test_forged_tokens_and_other_readers_are_refused(served: Served) -> None:
    data = served.run("masked_records", ROWS)["data"]
    url = f"/api/v1/queries/{data['query']['id']}/rows"
    body, mac = data["next_page_token"].split(".")
    response = served.client.get(
        url, params={"page_token": f"{tampered(body)}.{mac}"}, headers=served.headers()
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"field": "page_token"}
    response = served.client.get(url, headers=served.headers("regulator.reviewer"))
    assert response.status_code == 403
