"""A worker keeps the participants list it read, and never serves it once a change is logged.

Each test reads the list (keeping it), changes a participant through another
path (the service, as the command line does, or a second application on the
same store, as another worker does) and reads again at once.
"""

from __future__ import annotations

from typing import Any

from datacompact.api import create_app
from datacompact.registry import participants
from datacompact.registry.schemas import Decision

from ..conftest import World
from .conftest import ApiClient, bearer, log_query_outcome

LIST = "/api/v1/participants"


def _hits(client: ApiClient) -> int:
    hits: int = client.app.state.views.hits
    return hits


def _status_of(page: dict[str, Any], participant_id: int) -> str:
    (row,) = [p for p in page["data"] if p["id"] == participant_id]
    status: str = row["status"]
    return status


def _suspend(world: World, participant_id: int) -> None:
    with world.platform.db.write() as session:
        participants.decide_participant(
            session=session,
            actor=world.principal("regulator.admin"),
            participant_id=participant_id,
            decision=Decision.SUSPEND,
            reason="audit finding",
        )


def test_the_list_is_kept_between_requests(client: ApiClient, world: World) -> None:
    headers = bearer(world, "enterprise.analyst")
    first = client.get(LIST, headers=headers)
    assert _hits(client) == 0
    second = client.get(LIST, headers=headers)
    assert _hits(client) == 1
    assert second.json() == first.json()


def test_each_page_and_filter_is_kept_apart(client: ApiClient, world: World) -> None:
    headers = bearer(world, "enterprise.analyst")
    everyone = client.get(LIST, headers=headers).json()["data"]
    enterprises = client.get(LIST, params={"kind": "enterprise"}, headers=headers).json()["data"]
    first = client.get(LIST, params={"limit": 1}, headers=headers).json()["data"]
    assert _hits(client) == 0
    assert {p["kind"] for p in enterprises} == {"enterprise"}
    assert len(enterprises) < len(everyone)
    assert first == everyone[:1]


def test_a_change_made_outside_the_api_shows_at_once(client: ApiClient, world: World) -> None:
    headers = bearer(world, "regulator.admin")
    enterprise = world.ids["enterprise"]
    assert _status_of(client.get(LIST, headers=headers).json(), enterprise) == "approved"
    _suspend(world, enterprise)
    assert _status_of(client.get(LIST, headers=headers).json(), enterprise) == "suspended"
    assert _hits(client) == 0


def test_a_change_made_by_another_worker_shows_at_once(client: ApiClient, world: World) -> None:
    other = ApiClient(create_app(world.platform))  # its own views, the same store
    headers = bearer(world, "regulator.admin")
    department = world.ids["department"]
    for app in (client, other):
        assert _status_of(app.get(LIST, headers=headers).json(), department) == "approved"
    suspended = other.post(
        f"{LIST}/{department}/decisions",
        json={"decision": "suspend", "reason": "audit finding"},
        headers=headers,
    )
    assert suspended.status_code == 200, suspended.text
    for app in (client, other):
        assert _status_of(app.get(LIST, headers=headers).json(), department) == "suspended"


def test_query_outcomes_keep_the_list_and_other_events_do_not(
    client: ApiClient, world: World
) -> None:
    headers = bearer(world, "enterprise.analyst")
    assert client.get(LIST, headers=headers).status_code == 200
    log_query_outcome(world)
    assert client.get(LIST, headers=headers).status_code == 200
    assert _hits(client) == 1
    _suspend(world, world.ids["department"])
    page = client.get(LIST, headers=headers).json()
    assert _hits(client) == 1  # read afresh
    assert _status_of(page, world.ids["department"]) == "suspended"
