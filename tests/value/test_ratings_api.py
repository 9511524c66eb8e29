"""Market ratings over HTTP, in process, on both stores."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from datacompact.store.models import Event, Participant, Rating, RatingRevision, Shareholder
from datacompact.store.project_models import Milestone

from ..api.conftest import ApiClient, bearer, last_seq
from ..api.conftest import client as client  # the API client fixture
from ..conftest import World
from ..delivery._delivery import award_for, sign
from ._value import executed, grant, resource

DATA = {"accuracy": 5, "completeness": 4, "timeliness": 3, "usefulness": 4}
WORK = {"quality": 4, "timeliness": 5, "om_response": 3}


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def _ended_grant(
    world: World, *, used: bool = True, ended: bool = True, holder: str = "department"
) -> tuple[int, int]:
    ids = world.ids
    with world.platform.db.write() as session:
        rid = resource(session, ids[holder], f"R-{holder}-{used}-{ended}")
        gid = grant(
            session,
            resource_id=rid,
            holder_id=ids[holder],
            grantee_id=ids["enterprise"],
            ended=ended,
        )
        if used:
            executed(session, world, grant_id=gid, grantee_id=ids["enterprise"])
    return rid, gid


def test_the_user_rates_the_data_the_holder_answers_and_the_history_stays(
    client: ApiClient, world: World
) -> None:
    rid, gid = _ended_grant(world)
    analyst = bearer(world, "enterprise.analyst")
    sent = client.post(
        "/api/v1/ratings/data",
        json={"grant_id": gid, "scores": DATA, "comment": "字段齐全 / complete"},
        headers=analyst,
    )
    assert sent.status_code == 201, sent.text
    rating = sent.json()["data"]
    assert sent.json()["receipt"]["log_index"] == last_seq(world.platform)
    assert rating["rated_id"] == world.ids["department"]
    assert rating["resource_id"] == rid

    second = client.post(
        "/api/v1/ratings/data", json={"grant_id": gid, "scores": DATA}, headers=analyst
    )
    assert _error(second, 409, "conflict")["details"]["rule"] == "one_rating"

    revised = client.post(
        f"/api/v1/ratings/{rating['id']}/revisions",
        json={"scores": DATA | {"accuracy": 2}, "comment": "发现错误 / errors found"},
        headers=analyst,
    )
    assert revised.status_code == 201, revised.text
    body = revised.json()["data"]
    assert body["revision"] == 2
    assert body["scores"]["accuracy"] == 2
    assert [h["scores"]["accuracy"] for h in body["history"]] == [5, 2]
    wrong = client.post(
        f"/api/v1/ratings/{rating['id']}/revisions",
        json={"scores": {"quality": 3, "timeliness": 3, "om_response": 3}},
        headers=analyst,
    )
    assert _error(wrong, 400, "invalid_input")["details"]["field"] == "scores"
    holder_edit = client.post(
        f"/api/v1/ratings/{rating['id']}/revisions",
        json={"scores": DATA},
        headers=bearer(world, "department.admin"),
    )
    _error(holder_edit, 403, "forbidden")

    answered = client.post(
        f"/api/v1/ratings/{rating['id']}/replies",
        json={"text": "已修正 / fixed in version 2"},
        headers=bearer(world, "department.data_steward"),
    )
    assert answered.status_code == 201, answered.text
    assert answered.json()["data"]["replies"][0]["participant_id"] == world.ids["department"]
    not_rated = client.post(
        f"/api/v1/ratings/{rating['id']}/replies",
        json={"text": "x"},
        headers=bearer(world, "enterprise2.admin"),
    )
    _error(not_rated, 403, "forbidden")

    summary = client.get(
        f"/api/v1/resources/{rid}/rating", headers=bearer(world, "enterprise2.analyst")
    )
    assert summary.json()["data"] == {
        "count": 1,
        "overall": 3.25,
        "dimensions": {"accuracy": 2.0, "completeness": 4.0, "timeliness": 3.0, "usefulness": 4.0},
    }
    with world.platform.db.read() as session:
        types = list(
            session.scalars(
                select(Event.type).where(Event.object_type == "rating").order_by(Event.seq)
            )
        )
        assert types == ["rating.submitted", "rating.revised", "rating.answered"]
        comments = [
            e.payload for e in session.scalars(select(Event).where(Event.object_type == "rating"))
        ]
        assert all("comment" not in p and "text" not in p for p in comments)
        assert session.scalar(select(func.count()).select_from(RatingRevision)) == 2


def test_who_may_not_rate_the_data(client: ApiClient, world: World) -> None:
    analyst = bearer(world, "enterprise.analyst")
    url = "/api/v1/ratings/data"

    _, never_used = _ended_grant(world, used=False)
    refused = client.post(url, json={"grant_id": never_used, "scores": DATA}, headers=analyst)
    assert _error(refused, 403, "policy_violation")["details"]["rule"] == "never_used"

    _, running = _ended_grant(world, ended=False)
    early = client.post(url, json={"grant_id": running, "scores": DATA}, headers=analyst)
    assert _error(early, 409, "invalid_transition")["details"]["rule"] == "grant_not_ended"

    _, gid = _ended_grant(world)
    stranger = client.post(
        url, json={"grant_id": gid, "scores": DATA}, headers=bearer(world, "enterprise2.admin")
    )
    _error(stranger, 403, "forbidden")
    bad = client.post(
        url, json={"grant_id": gid, "scores": DATA | {"accuracy": 6}}, headers=analyst
    )
    _error(bad, 400, "invalid_input")

    # A grant to oneself: its data cannot be rated by its own holder.
    ids = world.ids
    with world.platform.db.write() as session:
        own = resource(session, ids["enterprise"], "R-own")
        self_grant = grant(
            session, resource_id=own, holder_id=ids["enterprise"], grantee_id=ids["enterprise"]
        )
        executed(session, world, grant_id=self_grant, grantee_id=ids["enterprise"])
    selfish = client.post(url, json={"grant_id": self_grant, "scores": DATA}, headers=analyst)
    assert _error(selfish, 403, "policy_violation")["details"]["rule"] == "self_rating"

    # enterprise holds 60% of enterprise2: one group under common control.
    _, sister = _ended_grant(world, holder="enterprise2")
    with world.platform.db.write() as session:
        parent = session.get_one(Participant, ids["enterprise"])
        session.add(
            Shareholder(
                participant_id=ids["enterprise2"],
                holder_name=parent.name,
                holder_uscc=parent.uscc,
                holder_participant_id=parent.id,
                stake_bp=6000,
            )
        )
    grouped = client.post(url, json={"grant_id": sister, "scores": DATA}, headers=analyst)
    assert _error(grouped, 403, "policy_violation")["details"]["rule"] == "group_rating"
    with world.platform.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Rating)) == 0


def test_the_owner_rates_the_contractor_after_a_milestone(client: ApiClient, world: World) -> None:
    award = award_for(world, "department", "enterprise")
    contract_id = sign(world, "department", award)
    owner = bearer(world, "department.admin")
    body = {"contract_id": contract_id, "scores": WORK, "comment": "响应及时"}
    early = client.post("/api/v1/ratings/contractor", json=body, headers=owner)
    assert _error(early, 409, "invalid_transition")["details"]["rule"] == "no_accepted_milestone"
    with world.platform.db.write() as session:
        first = session.scalars(
            select(Milestone).where(Milestone.contract_id == contract_id)
        ).first()
        assert first is not None
        first.status = "accepted"
    supplier = client.post(
        "/api/v1/ratings/contractor", json=body, headers=bearer(world, "enterprise.admin")
    )
    _error(supplier, 403, "forbidden")
    sent = client.post("/api/v1/ratings/contractor", json=body, headers=owner)
    assert sent.status_code == 201, sent.text
    again = client.post("/api/v1/ratings/contractor", json=body, headers=owner)
    _error(again, 409, "conflict")
    summary = client.get(
        f"/api/v1/participants/{world.ids['enterprise']}/rating",
        headers=bearer(world, "regulator.admin"),
    )
    assert summary.json()["data"]["count"] == 1
    assert summary.json()["data"]["overall"] == 4.0
    listed = client.get(
        "/api/v1/ratings", params={"participant_id": world.ids["enterprise"]}, headers=owner
    )
    assert [r["kind"] for r in listed.json()["data"]] == ["contractor"]
