"""The application life cycle and the inbox over HTTP: turns, amendments, withdrawal, lists."""

from __future__ import annotations

from typing import Any

from ..conftest import World
from ._endpoints import _application_body
from .conftest import ApiClient, bearer, last_seq

A = "/api/v1/applications"


def _apply(client: ApiClient, world: World, key: str = "enterprise.analyst") -> int:
    response = client.post(A, json=_application_body(world), headers=bearer(world, key))
    assert response.status_code == 201, response.text
    return int(response.json()["data"]["id"])


def _decide(
    client: ApiClient, world: World, key: str, application_id: int, decision: str = "approve"
) -> Any:
    return client.post(
        f"{A}/{application_id}/decisions",
        json={"decision": decision, "reason": "材料齐全 / documents complete"},
        headers=bearer(world, key),
    )


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def test_a_decision_out_of_turn_names_whose_turn_it_is(client: ApiClient, world: World) -> None:
    application_id = _apply(client, world)
    before = last_seq(world.platform)
    error = _error(_decide(client, world, "regulator.admin", application_id), 409, "out_of_turn")
    assert error["message"].index("数据持有方") < error["message"].index("holder")
    assert error["details"]["awaiting"] == [
        {
            "party": "holder",
            "participants": [{"id": world.ids["department"], "name": "测试department.admin"}],
        }
    ]
    assert last_seq(world.platform) == before
    assert _decide(client, world, "department.reviewer", application_id).status_code == 200
    done = _decide(client, world, "regulator.admin", application_id)
    assert done.status_code == 200, done.text
    assert done.json()["data"]["status"] == "approved"


def test_a_repeated_decision_is_already_decided(client: ApiClient, world: World) -> None:
    application_id = _apply(client, world)
    _decide(client, world, "department.reviewer", application_id).raise_for_status()
    error = _error(
        _decide(client, world, "department.admin", application_id, "reject"),
        409,
        "already_decided",
    )
    assert error["details"]["decision"] == "approve"
    # Only a stranger hears that it is not one of the reviewers.
    stranger = _error(_decide(client, world, "enterprise2.admin", application_id), 403, "forbidden")
    assert "not one of its reviewers" in stranger["details"]["reason"]


def test_amendments_by_the_applicant_only_and_only_when_sent_back(
    client: ApiClient, world: World
) -> None:
    application_id = _apply(client, world)
    amend = {"note": "减少查询 / fewer queries", "expected_queries": 3}
    path = f"{A}/{application_id}/revisions"
    pending = client.post(path, json=amend, headers=bearer(world, "enterprise.analyst"))
    assert _error(pending, 409, "invalid_transition")["details"] == {"status": "pending"}
    _decide(client, world, "department.reviewer", application_id, "request_changes")
    for key in ("enterprise2.admin", "department.admin", "regulator.admin"):
        other = client.post(path, json=amend, headers=bearer(world, key))
        _error(other, 403, "forbidden")
    no_note = client.post(
        path, json={"expected_queries": 3}, headers=bearer(world, "enterprise.analyst")
    )
    _error(no_note, 400, "invalid_input")
    done = client.post(path, json=amend, headers=bearer(world, "enterprise.analyst"))
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["data"]["revision"] == 2
    assert body["data"]["expected_queries"] == 3
    assert body["receipt"]["log_index"] == last_seq(world.platform)
    kept = client.get(path, headers=bearer(world, "department.auditor")).json()["data"]
    assert [(k["revision"], k["content"]["expected_queries"]) for k in kept] == [(1, 10)]
    # Approved: no more amendments.
    _decide(client, world, "department.reviewer", application_id).raise_for_status()
    _decide(client, world, "regulator.reviewer", application_id).raise_for_status()
    decided = client.post(path, json=amend, headers=bearer(world, "enterprise.analyst"))
    assert _error(decided, 409, "invalid_transition")["details"] == {"status": "approved"}


def test_withdrawal_by_the_applicant_only(client: ApiClient, world: World) -> None:
    application_id = _apply(client, world)
    path = f"{A}/{application_id}/withdrawal"
    body = {"reason": "场景取消 / cancelled"}
    for key in ("enterprise2.admin", "department.admin", "regulator.admin"):
        _error(client.post(path, json=body, headers=bearer(world, key)), 403, "forbidden")
    done = client.post(path, json=body, headers=bearer(world, "enterprise.admin"))
    assert done.status_code == 200, done.text
    assert done.json()["data"]["status"] == "withdrawn"
    again = client.post(path, json=body, headers=bearer(world, "enterprise.admin"))
    _error(again, 409, "invalid_transition")


def test_the_list_filters_and_pages(client: ApiClient, world: World) -> None:
    first, second, third = (_apply(client, world) for _ in range(3))
    _decide(client, world, "department.reviewer", second, "reject").raise_for_status()

    def ids(key: str, **params: Any) -> list[int]:
        response = client.get(A, params=params, headers=bearer(world, key))
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()["data"]]

    assert ids("regulator.auditor") == [first, second, third]
    assert ids("enterprise2.admin") == []
    assert ids("department.reviewer", awaiting="me") == [first, third]
    assert ids("regulator.reviewer", awaiting="me") == []
    assert ids("enterprise.analyst", state="rejected") == [second]
    assert ids("enterprise.analyst", applicant=world.ids["enterprise"], limit=1, offset=1) == [
        second
    ]
    resource = _application_body(world)["resources"][0]["resource_id"]
    assert ids("regulator.admin", resource=resource) == [first, second, third]
    assert ids("regulator.admin", resource=resource + 1000) == []
    for params in ({"awaiting": "you"}, {"state": "lost"}, {"limit": 0}, {"offset": -1}):
        bad = client.get(A, params=params, headers=bearer(world, "regulator.admin"))
        _error(bad, 400, "invalid_input")


def test_the_inbox(client: ApiClient, world: World) -> None:
    application_id = _apply(client, world)
    response = client.get("/api/v1/inbox", headers=bearer(world, "department.reviewer"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 1
    (item,) = body["data"]
    assert item["kind"] == "application.review"
    assert item["id"] == application_id
    assert item["link"] == f"{A}/{application_id}"
    assert item["action"] == f"POST {A}/{application_id}/decisions"
    assert item["turn"] == [
        {
            "party": "holder",
            "participants": [{"id": world.ids["department"], "name": "测试department.admin"}],
        }
    ]
    assert item["title"].startswith("统计各部门人数")
    assert item["since"]
    regulator = client.get("/api/v1/inbox", headers=bearer(world, "regulator.reviewer")).json()
    assert [(i["kind"], i["id"]) for i in regulator["data"]] == [
        ("participant.registration", world.ids["pending"])
    ]
    assert client.get("/api/v1/inbox").status_code == 401
