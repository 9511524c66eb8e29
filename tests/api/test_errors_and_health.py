"""Health probes, the OpenAPI document, the error envelope for each bad input, receipts."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from datacompact.api import create_app
from datacompact.registry import tokens
from datacompact.store.models import Event, Member

from ..conftest import USCC_ENTERPRISE, World
from ._endpoints import ENDPOINTS, PASSWORD, new_registration
from ._endpoints_billing import BILLING_RECEIPT_CALLS
from ._endpoints_projects import PROJECT_RECEIPT_CALLS
from ._endpoints_value import VALUE_RECEIPT_CALLS
from .conftest import ApiClient, app_routes, bearer, last_seq, row_counts

BAD_USCC = "91330106MA27XL6Y1X"  # USCC_ENTERPRISE with a wrong check character
REGISTER = "/api/v1/participants"


def assert_envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], dict)
    return dict(error)


# -- health and the OpenAPI document -------------------------------------------------------


def test_healthz(client: ApiClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_when_ready(client: ApiClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["store"] == "ok"
    assert body["checks"]["secret"] == "ok"


@pytest.mark.parametrize("damage", ["removed", "mode_0644"])
def test_readyz_fails_without_a_usable_secret(world: World, damage: str) -> None:
    path = world.platform.settings.secret_path
    if damage == "removed":
        path.unlink()
    else:
        path.chmod(0o644)
    response = ApiClient(create_app(world.platform)).get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["error"]["code"] == "configuration_error"


def test_readyz_notices_a_secret_removed_while_running(client: ApiClient, world: World) -> None:
    assert client.get("/readyz").status_code == 200
    world.platform.settings.secret_path.unlink()
    assert client.get("/readyz").status_code == 503


def test_openapi_has_bearer_auth_and_every_route(client: ApiClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    schemes = document["components"]["securitySchemes"]
    assert any(s["type"] == "http" and s["scheme"].lower() == "bearer" for s in schemes.values())
    routes = app_routes(client.app) - {("GET", "/api/v1/openapi.json")}
    assert len(routes) >= 20
    for method, path in routes:
        documented = re.sub(r"\{(\w+):\w+\}", r"{\1}", path)  # {path:path} -> {path}
        assert method.lower() in document["paths"].get(documented, {}), (method, path)
    # Authenticated operations declare the bearer scheme.
    assert document["paths"]["/api/v1/me"]["get"]["security"]


# -- bad input: one specific error class each, no partial rows ---------------------------


def test_invalid_uscc_is_refused_without_rows_or_echo(client: ApiClient, world: World) -> None:
    before = row_counts(world.platform)
    response = client.post(REGISTER, json=new_registration(uscc=BAD_USCC))
    error = assert_envelope(response, 400, "invalid_identifier")
    assert error["details"]["field"] == "uscc"
    assert BAD_USCC not in response.text
    assert PASSWORD not in response.text
    assert row_counts(world.platform) == before


def test_invalid_shareholder_uscc_is_refused(client: ApiClient, world: World) -> None:
    body = new_registration()
    body.pop("ownership")
    body["kind"] = "jv_platform"
    body["shareholders"] = [
        {"holder_name": "A", "holder_uscc": USCC_ENTERPRISE, "stake_percent": 51},
        {"holder_name": "B", "holder_uscc": BAD_USCC, "stake_percent": 49},
    ]
    before = row_counts(world.platform)
    response = client.post(REGISTER, json=body)
    error = assert_envelope(response, 400, "invalid_identifier")
    assert error["details"]["field"] == "shareholders[1].holder_uscc"
    assert BAD_USCC not in response.text
    assert row_counts(world.platform) == before


@pytest.mark.parametrize(
    "clash",
    [
        pytest.param({"uscc": USCC_ENTERPRISE}, id="same-uscc"),
        pytest.param({"username": "enterprise.admin"}, id="same-username-new-uscc"),
    ],
)
def test_duplicate_registration_leaves_no_partial_rows(
    client: ApiClient, world: World, clash: dict[str, str]
) -> None:
    before = row_counts(world.platform)
    response = client.post(REGISTER, json=new_registration(**clash))
    error = assert_envelope(response, 409, "duplicate_registration")
    assert error["details"]["field"] in {"uscc", "username"}
    assert PASSWORD not in response.text
    assert row_counts(world.platform) == before


@pytest.fixture
def expired_token(world: World) -> str:
    value = tokens.new_token_value()
    with world.platform.db.write() as session:
        member = session.scalar(select(Member).where(Member.username == "enterprise.analyst"))
        assert member is not None
        tokens.issue_known_token(
            session,
            actor=world.principal("enterprise.admin"),
            member=member,
            value=value,
            label="old",
            ttl=timedelta(seconds=-1),
        )
    return value


def test_expired_token(client: ApiClient, expired_token: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired_token}"})
    assert_envelope(response, 401, "token_expired")
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert expired_token not in response.text


def test_revoked_token(client: ApiClient, world: World) -> None:
    issued = client.post("/api/v1/tokens", json={}, headers=bearer(world, "enterprise.analyst"))
    assert issued.status_code == 201, issued.text
    data = issued.json()["data"]
    revoked = client.delete(
        f"/api/v1/tokens/{data['id']}", headers=bearer(world, "enterprise.analyst")
    )
    assert revoked.status_code == 200, revoked.text
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {data['token']}"})
    assert_envelope(response, 401, "token_revoked")
    # The token used to revoke it still works.
    assert client.get("/api/v1/me", headers=bearer(world, "enterprise.analyst")).status_code == 200


@pytest.mark.parametrize(
    "header",
    [None, "Bearer dct_" + "A" * 43, "Bearer not-a-token", "Basic dXNlcjpwYXNz"],
    ids=["missing", "unknown", "malformed", "basic"],
)
def test_missing_or_unknown_token(client: ApiClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/grants", headers=headers)
    assert_envelope(response, 401, "unauthenticated")
    if header:
        # A route anyone may read without a token still refuses a bad one.
        response = client.get("/api/v1/participants", headers=headers)
        assert_envelope(response, 401, "unauthenticated")


def test_wrong_role_is_forbidden_with_a_reason(client: ApiClient, world: World) -> None:
    before = row_counts(world.platform)
    response = client.post(
        f"/api/v1/participants/{world.ids['enterprise']}/members",
        json={"username": "sneaky.one", "display_name": "x", "roles": ["admin"]},
        headers=bearer(world, "enterprise.analyst"),
    )
    error = assert_envelope(response, 403, "forbidden")
    assert error["details"]["action"] == "member.manage"
    assert "admin" in error["details"]["reason"]
    assert row_counts(world.platform) == before


@pytest.mark.parametrize(
    ("path", "token"),
    [(REGISTER, None), ("/api/v1/tokens", "enterprise.admin")],
    ids=["anonymous", "authenticated"],
)
def test_malformed_json(client: ApiClient, world: World, path: str, token: str | None) -> None:
    headers = {"Content-Type": "application/json", **(bearer(world, token) if token else {})}
    before = row_counts(world.platform)
    response = client.post(path, content=b'{"label": "secret-value', headers=headers)
    error = assert_envelope(response, 400, "malformed_input")
    assert "secret-value" not in response.text
    assert "expected" in error["message"]
    assert row_counts(world.platform) == before


@pytest.mark.parametrize(
    "extra",
    [{"colour": "blue"}, {"admin": {"role": "superuser"}}],
    ids=["top-level", "nested"],
)
def test_unknown_fields(client: ApiClient, world: World, extra: dict[str, Any]) -> None:
    body = new_registration()
    for key, value in extra.items():
        body[key] = {**body[key], **value} if isinstance(value, dict) else value
    before = row_counts(world.platform)
    response = client.post(REGISTER, json=body)
    error = assert_envelope(response, 400, "unknown_field")
    name = "colour" if "colour" in extra else "role"
    assert name in error["message"]
    assert "blue" not in response.text
    assert "superuser" not in response.text
    assert PASSWORD not in response.text
    assert row_counts(world.platform) == before


def test_invalid_value_is_not_echoed(client: ApiClient, world: World) -> None:
    body = new_registration()
    body["admin"]["password"] = "tooShort7!"  # under the 12-character minimum
    response = client.post(REGISTER, json=body)
    assert_envelope(response, 400, "invalid_input")
    assert "tooShort7!" not in response.text


def test_wrong_password_is_not_echoed(client: ApiClient) -> None:
    response = client.post(
        "/api/v1/auth/token", json={"username": "enterprise.admin", "password": "Wrong-Guess-42"}
    )
    assert_envelope(response, 401, "unauthenticated")
    assert "Wrong-Guess-42" not in response.text


def _oversized(world: World) -> bytes:
    limit = world.platform.settings.max_request_bytes
    return json.dumps(new_registration() | {"name": "x" * (limit + 1)}).encode()


def test_oversized_body_with_content_length(client: ApiClient, world: World) -> None:
    before = row_counts(world.platform)
    body = _oversized(world)
    response = client.post(REGISTER, content=body, headers={"Content-Type": "application/json"})
    error = assert_envelope(response, 413, "payload_too_large")
    assert error["details"]["limit"] == world.platform.settings.max_request_bytes
    assert row_counts(world.platform) == before


def test_oversized_streamed_body(client: ApiClient, world: World) -> None:
    body = _oversized(world)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    before = row_counts(world.platform)
    response = client.post(REGISTER, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_envelope(response, 413, "payload_too_large")
    assert row_counts(world.platform) == before


def test_unknown_route(client: ApiClient) -> None:
    assert_envelope(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_envelope(client.get("/api/v2/participants"), 404, "not_found")


def test_unknown_participant(client: ApiClient, world: World) -> None:
    response = client.get("/api/v1/participants/99999", headers=bearer(world, "enterprise.admin"))
    assert_envelope(response, 404, "not_found")


def test_wrong_method_still_uses_the_envelope(client: ApiClient) -> None:
    response = client.request("PATCH", "/api/v1/participants")
    assert_envelope(response, 405, "method_not_allowed")


# -- receipts: each mutating endpoint reports the index of the event it recorded ----------

# Signing a checkpoint changes no registry state and records no event of its own.
# Signing a checkpoint is its own record; a conformance report changes nothing.
# An upload changes nothing in the store: the file waits in the inbox, and the
# registration that ingests it logs its SHA-256.
NO_EVENT = {"ledger.sign", "resources.conformance", "uploads.create"}
MUTATING = [name for name, e in ENDPOINTS.items() if e.method != "GET" and name not in NO_EVENT]


def test_every_mutating_route_records_an_event() -> None:
    assert all(ENDPOINTS[name].event is not None for name in MUTATING)
    assert all(ENDPOINTS[name].event is None for name in NO_EVENT)


@pytest.mark.parametrize("name", MUTATING)
def test_receipt_log_index_is_the_new_event(client: ApiClient, world: World, name: str) -> None:
    endpoint = ENDPOINTS[name]
    # Decisions are the regulator's; projects are a department's; everything else
    # an enterprise may do itself.
    deciding = {"participants.decide", "applications.decide", "grants.status"}
    default = ("regulator" if name in deciding else "enterprise", "enterprise")
    actor, target = (PROJECT_RECEIPT_CALLS | BILLING_RECEIPT_CALLS | VALUE_RECEIPT_CALLS).get(
        name, default
    )
    call = endpoint.build(world, actor, "admin", target)
    before = last_seq(world.platform)
    response = client.request(
        call.method,
        call.path,
        json=call.json,
        params=call.params,
        headers=bearer(world, f"{actor}.admin"),
    )
    assert 200 <= response.status_code < 300, response.text
    index = response.json()["receipt"]["log_index"]
    # The receipt is the call's first event; an ingestion records a few more after it.
    assert index == before + 1 <= last_seq(world.platform)
    with world.platform.db.read() as session:
        event = session.get(Event, index)
        assert event is not None
        assert event.type == endpoint.event
