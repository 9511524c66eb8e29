"""Text at the boundary: control characters and noncharacters are refused with 422, never a 5xx.

PostgreSQL refuses NUL in text and no store can hold a lone surrogate, so
either used to surface as a 503 from deep in the driver. Every body schema,
path and query parameter and the bearer token is checked before anything
reaches the store; the refusal names where, never what, and writes nothing.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import httpx
import pytest

from datacompact.schemas_base import MAX_ID, first_non_character

from ..conftest import World
from ._endpoints import ENDPOINTS, PASSWORD, new_registration
from ._endpoints_billing import BILLING_RECEIPT_CALLS
from ._endpoints_projects import PROJECT_RECEIPT_CALLS
from ._endpoints_value import VALUE_RECEIPT_CALLS
from .conftest import ApiClient, app_routes, bearer, last_seq, row_counts
from .test_errors_and_health import assert_envelope

LOGIN = "/api/v1/auth/token"
REGISTER = "/api/v1/participants"
MARK = "zz-refused"  # beside each refused character, to prove the value is not echoed

REFUSED = {
    "nul": "\x00",
    "c0-control": "\x1f",
    "escape": "\x1b",
    "lone-high-surrogate": "\ud800",
    "lone-low-surrogate": "\udfff",
    "fffe": "\ufffe",
    "ffff": "\uffff",
    "fdd0": "\ufdd0",
    "plane-16-nonchar": "\U0010ffff",
    "newline-in-single-line": "\n",
}


def _post_json(
    client: ApiClient, path: str, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    # Encoded here with ASCII escapes, so a lone surrogate travels as JSON allows (\\ud800).
    return client.post(
        path,
        content=json.dumps(body).encode("ascii"),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def assert_refused(response: Any, *, echo: str = MARK) -> dict[str, Any]:
    error = assert_envelope(response, 422, "invalid_character")
    assert echo not in response.text
    return error


# -- the character classes themselves ------------------------------------------------------


@pytest.mark.parametrize("char", REFUSED.values(), ids=REFUSED.keys())
def test_every_refused_character_is_found(char: str) -> None:
    assert first_non_character(f"ok{char}ok") == 2


@pytest.mark.parametrize(
    "text", ["统一社会信用代码", "naïve café", "emoji 😀", "\u00a0nbsp", "\U0010fffd", "\ufffd"]
)
def test_ordinary_text_passes(text: str) -> None:
    assert first_non_character(text) is None


def test_line_breaks_only_where_multiline() -> None:
    assert first_non_character("a\tb\r\nc", multiline=True) is None
    assert first_non_character("a\tb") == 1
    assert first_non_character("a\x00b", multiline=True) == 1


# -- anonymous routes: login and self-registration ------------------------------------------


@pytest.mark.parametrize("char", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize("field", ["username", "password", "label"])
def test_login_refuses_bad_text(client: ApiClient, world: World, field: str, char: str) -> None:
    body = {"username": "enterprise.admin", "password": PASSWORD, "label": "cli"}
    body[field] = f"{body[field]}{char}{MARK}"
    before = row_counts(world.platform)
    error = assert_refused(_post_json(client, LOGIN, body))
    assert error["details"]["errors"] == [{"loc": ["body", field], "type": "invalid_character"}]
    assert row_counts(world.platform) == before


@pytest.mark.parametrize(
    "place",
    [("name",), ("uscc",), ("contacts", 0, "phone"), ("admin", "username"), ("admin", "password")],
    ids=lambda p: ".".join(map(str, p)),
)
@pytest.mark.parametrize("char", ["\x00", "\ud800", "\uffff"], ids=["nul", "surrogate", "ffff"])
def test_registration_refuses_bad_text(
    client: ApiClient, world: World, place: tuple[Any, ...], char: str
) -> None:
    body = new_registration()
    target: Any = body
    for key in place[:-1]:
        target = target[key]
    target[place[-1]] = f"{target[place[-1]]}{char}{MARK}"
    before = row_counts(world.platform)
    assert_refused(_post_json(client, REGISTER, body))
    assert row_counts(world.platform) == before


def test_multiline_field_keeps_its_line_breaks(client: ApiClient, world: World) -> None:
    # A reason may span lines; a name may not.
    response = client.post(
        f"/api/v1/participants/{world.ids['pending']}/decisions",
        json={"decision": "approve", "reason": "证照已核验\n材料齐全\tok"},
        headers=bearer(world, "regulator.admin"),
    )
    assert response.status_code == 200, response.text
    body = new_registration()
    body["name"] = "示范\n企业"
    assert_refused(_post_json(client, REGISTER, body), echo="示范")


# -- query and path parameters, the bearer token -------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/resources", {"q": f"名册\x00{MARK}"}),
        ("/api/v1/resources", {"theme": f"\uffff{MARK}"}),
        ("/api/v1/resources", {"q": "名册", f"x\x00{MARK}": "1"}),
        ("/api/v1/participants", {"kind": f"enterprise\x00{MARK}"}),
        ("/api/v1/alerts", {"today": f"2026-01-01\x00{MARK}"}),
    ],
    ids=["search-q", "search-theme-nonchar", "parameter-name", "enum", "date"],
)
def test_query_parameters_refuse_bad_text(
    client: ApiClient, world: World, path: str, params: dict[str, str]
) -> None:
    error = assert_refused(
        client.get(path, params=params, headers=bearer(world, "enterprise.admin"))
    )
    assert error["details"]["errors"][0]["loc"][0] == "query"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/participants/1%00",
        "/api/v1/resources/%00",
        "/api/v1/grants/%EF%BF%BF",
        "/ledger/tile/0/000%00",
        "/ledger/proof/%01",
        "/public/deliverables/1/%00" + "a" * 63,
    ],
)
def test_path_parameters_refuse_bad_text(client: ApiClient, world: World, path: str) -> None:
    error = assert_refused(client.get(path, headers=bearer(world, "enterprise.admin")))
    assert error["details"]["errors"][0]["loc"][0] == "path"


@pytest.mark.parametrize("char", ["\x01", "\x7f\x1f"], ids=["soh", "del-us"])
def test_bearer_token_refuses_bad_text(client: ApiClient, world: World, char: str) -> None:
    token = world.tokens["enterprise.admin"]
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token[:-1]}{char}"})
    error = assert_refused(response, echo=token[:-1])
    assert error["details"]["errors"] == [
        {"loc": ["header", "authorization"], "type": "invalid_character"}
    ]


# -- every body of every router -------------------------------------------------------------


def _poison(body: Any, char: str) -> bool:
    """Put ``char`` into the first string of ``body`` (depth first); whether there was one."""
    items: list[tuple[Any, Any]] = (
        list(body.items()) if isinstance(body, dict) else list(enumerate(body))
    )
    for key, value in items:
        if isinstance(value, str):
            body[key] = f"{value}{char}{MARK}"
            return True
        if isinstance(value, dict | list) and _poison(value, char):
            return True
    return False


BODIES = sorted(
    name
    for name, endpoint in ENDPOINTS.items()
    if endpoint.method != "GET" and name not in {"ledger.sign"}
)


@pytest.mark.parametrize("char", ["\x00", "\ud83d"], ids=["nul", "surrogate"])
def test_every_body_refuses_bad_text(client: ApiClient, world: World, char: str) -> None:
    deciding = {"participants.decide", "applications.decide", "grants.status"}
    poisoned = []
    for name in BODIES:
        default = ("regulator" if name in deciding else "enterprise", "enterprise")
        actor, target = (PROJECT_RECEIPT_CALLS | BILLING_RECEIPT_CALLS | VALUE_RECEIPT_CALLS).get(
            name, default
        )
        call = ENDPOINTS[name].build(world, actor, "admin", target)
        body = copy.deepcopy(call.json)  # rows share module-level bodies
        if not isinstance(body, dict) or not _poison(body, char):
            continue
        headers = bearer(world, f"{actor}.admin")
        before = last_seq(world.platform)
        response = client.request(
            call.method,
            call.path,
            content=json.dumps(body).encode("ascii"),
            params=call.params,
            headers={"Content-Type": "application/json", **headers},
        )
        if name == "contracts.sla" and char == "\ud83d":
            # The SLA report is parsed by orjson, which refuses a lone surrogate
            # as malformed JSON (RFC 8259 §8.2, I-JSON): refused before any schema.
            assert_envelope(response, 400, "malformed_input")
        else:
            assert_refused(response)
        assert last_seq(world.platform) == before, name
        poisoned.append(name)
    # Every router with a body is among them.
    prefixes = {name.split(".")[0] for name in poisoned}
    assert {"participants", "members", "auth", "tokens", "resources", "standards"} <= prefixes
    assert {"applications", "grants", "queries", "projects", "lots", "tenders"} <= prefixes
    assert {"bids", "contracts", "deliverables"} <= prefixes


def test_sla_report_csv_refuses_bad_text(client: ApiClient, world: World) -> None:
    call = ENDPOINTS["contracts.sla"].build(world, "enterprise", "admin", "enterprise")
    csv = f"period,kpi,value\n2026-01,availability,99.9\x00{MARK}\n".encode()
    response = client.post(
        call.path,
        content=csv,
        headers={"Content-Type": "text/csv", **bearer(world, "enterprise.admin")},
    )
    error = assert_envelope(response, 422, "invalid_character")
    assert error["details"]["fields"] == ["values"]
    assert MARK not in response.text


def test_sla_report_csv_that_does_not_parse_is_malformed(client: ApiClient, world: World) -> None:
    # The csv module's own errors (here: a field over its 128 KiB limit) used to be a 500.
    call = ENDPOINTS["contracts.sla"].build(world, "enterprise", "admin", "enterprise")
    csv = b"period,kpi,value\n2026-01,availability," + b"9" * 200_000 + b"\n"
    response = client.post(
        call.path,
        content=csv,
        headers={"Content-Type": "text/csv", **bearer(world, "enterprise.admin")},
    )
    assert_envelope(response, 400, "malformed_input")


# -- ids: the store's range, not a driver's overflow ----------------------------------------


def _single_id_reads(client: ApiClient) -> list[str]:
    return sorted(
        path
        for method, path in app_routes(client.app)
        if method == "GET" and re.fullmatch(r"[^{}]*\{\w+_id\}", path)
    )


def test_ids_up_to_the_store_limit_are_not_found(client: ApiClient, world: World) -> None:
    paths = _single_id_reads(client)
    assert len(paths) >= 8
    for path in paths:
        url = re.sub(r"\{\w+\}", str(MAX_ID), path)
        response = client.get(url, headers=bearer(world, "regulator.admin"))
        assert_envelope(response, 404, "not_found")


def test_ids_beyond_the_store_limit_are_invalid(client: ApiClient, world: World) -> None:
    for path in _single_id_reads(client):
        for value in (MAX_ID + 1, 2**63 - 1):
            url = re.sub(r"\{\w+\}", str(value), path)
            response = client.get(url, headers=bearer(world, "regulator.admin"))
            assert_envelope(response, 400, "invalid_input")
    response = client.post(
        "/api/v1/tokens", json={"member_id": MAX_ID + 1}, headers=bearer(world, "regulator.admin")
    )
    assert_envelope(response, 400, "invalid_input")


# -- dates are calendar dates, never numbers -----------------------------------------------


@pytest.mark.parametrize("today", ["0", "20260101", "1767225600", "2026-1-1", "2026-02-30"])
def test_a_date_parameter_must_be_a_date(client: ApiClient, world: World, today: str) -> None:
    # Pydantic's lax mode read 0 as 1970-01-01 and digits as a Unix timestamp.
    response = client.get(
        "/api/v1/alerts", params={"today": today}, headers=bearer(world, "regulator.admin")
    )
    error = assert_envelope(response, 400, "invalid_input")
    assert [p["loc"] for p in error["details"]["errors"]] == [["query", "today"]]


def test_a_date_parameter_accepts_a_date(client: ApiClient, world: World) -> None:
    response = client.get(
        "/api/v1/alerts", params={"today": "2026-01-01"}, headers=bearer(world, "regulator.admin")
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["today"] == "2026-01-01"


@pytest.mark.parametrize("value", [0, 1767225600, "20260101"])
def test_a_date_in_a_body_must_be_a_date(client: ApiClient, world: World, value: Any) -> None:
    call = ENDPOINTS["qualifications.add"].build(world, "enterprise", "admin", "enterprise")
    before = row_counts(world.platform)
    response = client.post(
        call.path,
        json={**call.json, "valid_from": value},
        headers=bearer(world, "enterprise.admin"),
    )
    error = assert_envelope(response, 400, "invalid_input")
    assert [p["loc"] for p in error["details"]["errors"]] == [["body", "valid_from"]]
    assert row_counts(world.platform) == before


@pytest.mark.parametrize("key", [f"colour\x00{MARK}", f"\ufffe{MARK}"], ids=["nul", "fffe"])
@pytest.mark.parametrize(
    ("nested", "loc"), [(False, ["body", "?"]), (True, ["body", "admin"])], ids=["top", "nested"]
)
def test_an_unknown_key_of_refused_characters_is_not_echoed(
    client: ApiClient, world: World, key: str, nested: bool, loc: list[str]
) -> None:
    body = new_registration()
    (body["admin"] if nested else body)[key] = "x"
    before = row_counts(world.platform)
    error = assert_refused(_post_json(client, REGISTER, body))
    assert error["details"]["errors"] == [{"loc": loc, "type": "invalid_character"}]
    assert row_counts(world.platform) == before
