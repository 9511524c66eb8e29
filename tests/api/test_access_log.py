"""The access log: one JSON line per request, with the route template and the principal ids only."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from datacompact.api import _access_log, create_app

from ..conftest import World
from ._endpoints import PASSWORD
from ._served import Served, serving
from .conftest import ApiClient, bearer


@pytest.fixture
def served(world: World) -> Iterator[Served]:
    yield from serving(world)


@pytest.fixture
def access(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.INFO, logger="datacompact.access")

    def lines() -> list[dict[str, Any]]:
        return [
            json.loads(r.getMessage()) for r in caplog.records if r.name == "datacompact.access"
        ]

    return lines


def test_a_line_has_neither_the_token_nor_the_body_nor_the_query_string(
    client: ApiClient, world: World, access: Any
) -> None:
    token = world.tokens["enterprise.admin"]
    response = client.post(
        "/api/v1/tokens?note=query-value-4711",
        json={"label": "body-label-0815"},
        headers=bearer(world, "enterprise.admin"),
    )
    assert response.status_code == 201, response.text
    issued = response.json()["data"]["token"]
    (line,) = access()
    assert set(line) == {
        "ts",
        "request_id",
        "method",
        "route",
        "status",
        "duration_ms",
        "member_id",
        "participant_id",
    }
    assert line["method"] == "POST"
    assert line["route"] == "/api/v1/tokens"
    assert line["status"] == 201
    assert line["duration_ms"] > 0
    assert line["member_id"] == world.members["enterprise.admin"]
    assert line["participant_id"] == world.ids["enterprise"]
    assert line["request_id"] == response.headers["X-Request-ID"]
    text = json.dumps(line, ensure_ascii=False)
    for secret in (token, issued, "body-label-0815", "query-value-4711", "note", "Bearer"):
        assert secret not in text


def test_the_route_is_the_template_not_the_path(
    client: ApiClient, world: World, access: Any
) -> None:
    participant = world.ids["enterprise2"]
    client.get(f"/api/v1/participants/{participant}", headers=bearer(world, "enterprise.analyst"))
    client.get("/ledger/tile/0/000")
    client.get("/api/v1/no/such/path/12345")
    client.get("/no/such/page/12345")  # the web console's, one label for all its pages
    routes = [line["route"] for line in access()]
    assert routes == [
        "/api/v1/participants/{participant_id}",
        "/ledger/tile/{path}",
        "(unmatched)",
        "(console)",
    ]


def test_unauthenticated_and_failed_requests_have_no_principal(
    client: ApiClient, access: Any
) -> None:
    client.get("/api/v1/me", headers={"Authorization": "Bearer dct_" + "x" * 43})
    client.post("/api/v1/auth/token", json={"username": "enterprise.admin", "password": "nope"})
    lines = access()
    assert [(line["status"], line["member_id"], line["participant_id"]) for line in lines] == [
        (401, None, None),
        (401, None, None),
    ]
    assert "nope" not in json.dumps(lines)


def test_a_login_line_names_who_logged_in_only_by_route(client: ApiClient, access: Any) -> None:
    client.post("/api/v1/auth/token", json={"username": "enterprise.admin", "password": PASSWORD})
    (line,) = access()
    assert line["route"] == "/api/v1/auth/token"
    assert line["status"] == 201
    assert "enterprise.admin" not in json.dumps(line)


def test_answers_before_routing_are_logged_under_their_route(served: Any, access: Any) -> None:
    client = served(rate_limit_login_per_address="1/minute", rate_limit_login_backoff_seconds=0)
    body = {"username": "nobody", "password": "x"}
    client.post("/api/v1/auth/token", json=body)
    client.post("/api/v1/auth/token", json=body)
    client.post("/api/v1/participants", content=b"x" * 2_000_000)
    assert [(line["route"], line["status"]) for line in access()] == [
        ("/api/v1/auth/token", 401),
        ("/api/v1/auth/token", 429),
        ("/api/v1/participants", 413),
    ]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("9f1c2b7e-4a55-4f0e-9a53-1e2d3c4b5a69", True),
        ("req-42.retry:1", True),
        ("", False),
        ("x" * 129, False),
        ("two words", False),
        ("<script>", False),
        ("id\u00e9", False),
    ],
)
def test_a_sane_request_id_is_kept_and_any_other_replaced(
    client: ApiClient, access: Any, sent: str, kept: bool
) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": sent.encode()})
    returned = response.headers["X-Request-ID"]
    (line,) = access()
    assert line["request_id"] == returned
    if kept:
        assert returned == sent
    else:
        assert returned != sent
        assert len(returned) == 32
        assert int(returned, 16) >= 0


def test_each_request_gets_its_own_id(client: ApiClient) -> None:
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_configure_writes_bare_json_lines_to_the_stream(client: ApiClient) -> None:
    logger = logging.getLogger("datacompact.access")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    logger.handlers.clear()
    stream = io.StringIO()
    try:
        _access_log.configure(stream)
        _access_log.configure(stream)  # a second call adds no second handler
        client.get("/healthz")
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]
    (text,) = stream.getvalue().splitlines()
    assert json.loads(text)["route"] == "/healthz"


def test_an_unhandled_error_is_logged_as_500_with_its_request_id(
    world: World, caplog: pytest.LogCaptureFixture, access: Any
) -> None:
    def boom() -> None:
        raise RuntimeError("boom with a value 13800138000")

    # An app of its own: the module's shared one must not gain the route.
    app = create_app(world.platform)
    app.add_api_route("/boom/{item_id}", boom)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.get("/boom/7", headers={"X-Request-ID": "trace-500"})

    response = anyio.run(send)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    (line,) = access()
    assert (line["route"], line["status"], line["request_id"]) == (
        "/boom/{item_id}",
        500,
        "trace-500",
    )
    (error,) = [r for r in caplog.records if r.name == "datacompact.api"]
    assert "trace-500" in error.getMessage()
