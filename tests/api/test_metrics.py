"""``GET /metrics``: what it exposes, and who may read it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from datacompact.api._metrics import INGESTIONS, Metrics
from datacompact.ledger.formats.policy import Policy, PolicyWitness
from datacompact.store.models import LedgerHead, WitnessProgress

from ..conftest import World
from ._endpoints import _query_body
from ._served import Served, serving
from .conftest import ApiClient, app_routes, bearer

OPERATOR = "regulator.admin"


@pytest.fixture
def served(world: World) -> Iterator[Served]:
    yield from serving(world)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(client: ApiClient, world: World) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics", headers=bearer(world, OPERATOR))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


def log_size(world: World) -> int:
    with world.platform.db.read() as session:
        head = session.get(LedgerHead, 1)
        assert head is not None
        return head.size


def test_requests_are_counted_and_timed_by_route_template(client: ApiClient, world: World) -> None:
    headers = bearer(world, "enterprise.analyst")
    for _ in range(2):
        assert client.get("/api/v1/me", headers=headers).status_code == 200
    other = world.ids["enterprise2"]
    client.get(f"/api/v1/participants/{other}", headers=headers)
    client.get("/api/v1/me")  # 401
    found = scrape(client, world)
    me = labels(method="GET", route="/api/v1/me", status="200")
    assert found[("datacompact_http_requests_total", me)] == 2
    denied = labels(method="GET", route="/api/v1/me", status="401")
    assert found[("datacompact_http_requests_total", denied)] == 1
    show = labels(method="GET", route="/api/v1/participants/{participant_id}", status="200")
    assert found[("datacompact_http_requests_total", show)] == 1
    count = found[
        (
            "datacompact_http_request_duration_seconds_count",
            labels(method="GET", route="/api/v1/me"),
        )
    ]
    assert count == 3
    inf = labels(method="GET", route="/api/v1/me", le="+Inf")
    assert found[("datacompact_http_request_duration_seconds_bucket", inf)] == 3
    # No raw path, no id, ever becomes a label.
    routes = {value for _, pairs in found for key, value in pairs if key == "route"}
    assert f"/api/v1/participants/{other}" not in routes
    assert routes <= {path.replace(":path}", "}") for _, path in app_routes(client.app)}


def test_store_figures(client: ApiClient, world: World) -> None:
    found = scrape(client, world)
    assert found[("datacompact_store_up", labels())] == 1
    assert found[("datacompact_log_entries", labels())] == log_size(world)
    # The client fixture signed a checkpoint a moment ago.
    assert 0 <= found[("datacompact_checkpoint_age_seconds", labels())] < 300
    # Without a witness policy there is no witness lag.
    assert not any(name == "datacompact_witness_lag_entries" for name, _ in found)


def test_governed_queries_by_mode_and_outcome(client: ApiClient, world: World) -> None:
    body = _query_body(world, "enterprise")
    headers = bearer(world, "enterprise.admin")
    assert client.post("/api/v1/queries", json=body, headers=headers).status_code == 200
    refused = {**body, "sql": "SELECT no_such_column FROM nowhere"}
    assert client.post("/api/v1/queries", json=refused, headers=headers).status_code in (400, 403)
    found = scrape(client, world)
    outcomes = {
        dict(pairs)["outcome"]: (dict(pairs)["mode"], value)
        for name, pairs in found
        if name == "datacompact_governed_queries_total"
        for value in [found[(name, pairs)]]
    }
    assert set(outcomes) == {"executed", "refused"}
    assert outcomes["executed"][1] == 1
    assert outcomes["refused"][1] == 1
    assert outcomes["executed"][0] == outcomes["refused"][0] != "unknown"


def test_witness_lag_per_witness(client: ApiClient, world: World) -> None:
    platform = world.platform
    platform.__dict__["witness_policy"] = Policy(
        logs=(),
        witnesses={
            "w.example/a": PolicyWitness("w.example/a", verifier=None),  # type: ignore[arg-type]
            "w.example/b": PolicyWitness("w.example/b", verifier=None),  # type: ignore[arg-type]
        },
    )
    with platform.db.write() as session:
        session.add(WitnessProgress(name="w.example/a", size=3))
    size = log_size(world)
    found = scrape(client, world)
    lag = "datacompact_witness_lag_entries"
    assert found[(lag, labels(witness="w.example/a"))] == size - 3
    assert found[(lag, labels(witness="w.example/b"))] == size


def test_ingestion_durations(world: World, client: ApiClient) -> None:
    # Every route the ingestion histogram names is a route of the app.
    assert set(INGESTIONS) <= app_routes(client.app)
    metrics = Metrics(world.platform)
    route = "/api/v1/resources/{resource_id}/versions"
    metrics.observe(method="POST", route=route, status=201, seconds=3.0)
    metrics.observe(method="POST", route=route, status=400, seconds=0.01)  # not an ingestion
    found = samples(metrics.exposition().decode())
    assert found[("datacompact_ingestion_duration_seconds_count", labels(kind="version"))] == 1
    assert found[("datacompact_ingestion_duration_seconds_sum", labels(kind="version"))] == 3.0
    assert (
        found[("datacompact_ingestion_duration_seconds_bucket", labels(kind="version", le="2.5"))]
        == 0
    )


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        (None, 401, "unauthenticated"),
        ("enterprise.admin", 403, "forbidden"),
        ("regulator.analyst", 403, "forbidden"),
        ("regulator.auditor", 200, None),
        ("regulator.admin", 200, None),
    ],
)
def test_only_the_operator_may_read(
    client: ApiClient, world: World, token: str | None, status: int, code: str | None
) -> None:
    headers = bearer(world, token) if token else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["error"]["code"] == code
        assert "datacompact_" not in response.text


def test_an_allowed_address_needs_no_token(served: Any) -> None:
    client = served(metrics_allow=["10.1.2.0/24", "::1"])
    assert client.get("/metrics", address="10.1.2.3").status_code == 200
    assert client.get("/metrics", address="::1").status_code == 200
    assert client.get("/metrics", address="10.1.3.1").status_code == 401
    # Behind a trusted proxy the peer is the proxy, whoever is behind it: no pass.
    proxied = served(metrics_allow=["10.1.2.0/24"], trusted_proxies=["10.1.2.3"])
    forwarded = {"X-Forwarded-For": "10.1.2.9"}
    assert proxied.get("/metrics", address="10.1.2.3", headers=forwarded).status_code == 401


MULTIPROCESS_WORKER = """
import sys
from datacompact.api._metrics import Metrics
from datacompact.config import Settings
from datacompact.platform import Platform

metrics = Metrics(Platform(Settings(home=sys.argv[1])))
for _ in range(int(sys.argv[2])):
    metrics.observe(method="GET", route="/api/v1/me", status=200, seconds=0.01)
if sys.argv[3] == "scrape":
    sys.stdout.write(metrics.exposition().decode())
"""


@pytest.mark.slow
def test_multiprocess_mode_sums_the_workers(tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }

    def worker(count: int, mode: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", MULTIPROCESS_WORKER, str(tmp_path / "home"), str(count), mode],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    worker(2, "count")
    text = worker(3, "scrape")
    found = samples(text)
    me = labels(method="GET", route="/api/v1/me", status="200")
    assert found[("datacompact_http_requests_total", me)] == 5
    # The store is not there: the scrape still answers, and says so.
    assert found[("datacompact_store_up", labels())] == 0
    assert re.search(r"^datacompact_store_up 0\.0$", text, re.MULTILINE)
