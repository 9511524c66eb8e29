"""The deliverable, escrow and public download routes, in process."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from typing import Any

import pytest

from datacompact.clock import today_cst

from ..api.conftest import ApiClient, bearer, last_seq
from ..api.conftest import client as client  # the API client fixture
from ..conftest import World
from ._delivery import award_for, sign

CODE = b"int verify_signature(const char *cert);\n"
DATA = "区县,件数\n西湖区,120\n".encode()


def _contract(world: World, days_left: int) -> int:
    """A contract of the department's escrow lot, supplied by the enterprise."""
    today = today_cst()
    award = award_for(world, "department", "enterprise", code_escrow=True, open_source=True)
    return sign(
        world,
        "department",
        award,
        milestones=[],
        starts_on=(today - timedelta(days=100)).isoformat(),
        ends_on=(today + timedelta(days=days_left)).isoformat(),
    )


def _body(kind: str, name: str, content: bytes) -> dict[str, Any]:
    return {"kind": kind, "name": name, "content": base64.b64encode(content).decode()}


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def test_deliverables_over_http(client: ApiClient, world: World) -> None:
    cid = _contract(world, days_left=400)
    url = f"/api/v1/contracts/{cid}/deliverables"
    supplier = bearer(world, "enterprise.admin")
    opened = client.post(url, json=_body("open_data", "件数.csv", DATA), headers=supplier)
    assert opened.status_code == 201, opened.text
    assert opened.json()["receipt"]["log_index"] == last_seq(world.platform)
    sealed = client.post(url, json=_body("key_code", "verify.c", CODE), headers=supplier)
    assert sealed.status_code == 201
    assert sealed.json()["data"]["sealed"] is True

    listed = client.get(url, headers=bearer(world, "enterprise2.auditor"))
    assert [d["kind"] for d in listed.json()["data"]] == ["open_data", "key_code"]
    assert "content" not in listed.text

    data_sha = hashlib.sha256(DATA).hexdigest()
    download = client.get(f"/public/deliverables/{cid}/{data_sha}")
    assert download.status_code == 200
    assert download.content == DATA
    assert download.headers["content-type"] == "application/octet-stream"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "UTF-8''%E4%BB%B6" in disposition
    code_sha = hashlib.sha256(CODE).hexdigest()
    _error(client.get(f"/public/deliverables/{cid}/{code_sha}"), 404, "not_found")
    _error(client.get(f"/public/deliverables/{cid}/{code_sha.upper()}"), 400, "invalid_input")

    release = f"{url}/{code_sha}/release"
    owner = bearer(world, "department.admin")
    refused = client.post(release, json={"reason": "试调取 / just looking"}, headers=owner)
    assert _error(refused, 403, "policy_violation")["details"]["rule"] == "escrow.not_released"
    _error(
        client.post(release, json={"reason": "我方调取 / mine"}, headers=supplier), 403, "forbidden"
    )


def test_release_over_http(client: ApiClient, world: World) -> None:
    cid = _contract(world, days_left=30)
    url = f"/api/v1/contracts/{cid}/deliverables"
    client.post(
        url, json=_body("key_code", "verify.c", CODE), headers=bearer(world, "enterprise.admin")
    ).raise_for_status()
    code_sha = hashlib.sha256(CODE).hexdigest()
    released = client.post(
        f"{url}/{code_sha}/release",
        json={"reason": "运维接续风险 / continuity at risk"},
        headers=bearer(world, "department.admin"),
    )
    assert released.status_code == 200, released.text
    assert base64.b64decode(released.json()["data"]["content"]) == CODE
    assert released.json()["receipt"]["log_index"] == last_seq(world.platform)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"kind": "open_data", "name": "a.csv", "content": "not base64!"}, 400, "malformed_input"),
        ({"kind": "open_data", "name": "a.csv", "content": ""}, 400, "invalid_input"),
        ({"kind": "open_data", "name": "../a.csv", "content": "QUJD"}, 400, "invalid_input"),
        ({"kind": "firmware", "name": "a.bin", "content": "QUJD"}, 400, "invalid_input"),
        ({"kind": "open_data", "name": "a.csv", "content": "QUJD", "x": 1}, 400, "unknown_field"),
    ],
)
def test_bad_deposits_over_http(
    client: ApiClient, world: World, body: dict[str, Any], status: int, code: str
) -> None:
    cid = _contract(world, days_left=400)
    before = last_seq(world.platform)
    response = client.post(
        f"/api/v1/contracts/{cid}/deliverables",
        json=body,
        headers=bearer(world, "enterprise.admin"),
    )
    _error(response, status, code)
    assert last_seq(world.platform) == before
    assert not (world.platform.settings.home / "deliverables").exists()
