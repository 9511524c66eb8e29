"""The reviewer's pages on SQLite and PostgreSQL: the inbox, deciding with a reason in the
governance mode's order, the member's own decisions, and access as the API gives it."""

from __future__ import annotations

import re

import pytest

from datacompact.catalog import resources as catalog
from datacompact.catalog.schemas import GradeDecisionIn
from datacompact.policy import applications
from datacompact.policy.schemas import ApplicationCreate
from datacompact.store.models import Event, Participant

from .conftest import HOSTILE_NAME, Browser, Web, csrf_of

SCENARIO = "核验缴费 <b>x</b> / verify contributions"


def _apply(web: Web, scenario: str = SCENARIO) -> int:
    """An application of the enterprise for the department's resource; its id."""
    world = web.world
    steward = world.principal("department.data_steward")
    with web.platform.db.read() as session:
        resource_id = catalog.readable_by_code(session, steward, web.resources["social"]).id
    with web.platform.db.write() as session:
        catalog.decide_grade(
            session=session,
            actor=steward,
            resource_id=resource_id,
            decision=GradeDecisionIn(decision="confirm"),
        )
    data = ApplicationCreate.model_validate(
        {
            "scenario": scenario,
            "purpose": "credit_assessment",
            "resources": [{"resource_id": resource_id, "columns": ["缴费金额"]}],
            "output": {"mode": "aggregates"},
            "duration_days": 30,
            "expected_queries": 10,
        }
    )
    with web.platform.db.write() as session:
        return applications.submit_application(
            session=session, actor=world.principal("enterprise.analyst"), data=data
        ).value.id


def _logged(location: str) -> int:
    found = re.search(r"logged=(\d+)", location)
    assert found is not None, location
    return int(found.group(1))


def _event(web: Web, index: int) -> Event:
    with web.platform.db.read() as session:
        row = session.get(Event, index)
        assert row is not None
        session.expunge(row)
        return row


def test_the_holder_decides_from_the_inbox_and_sees_the_receipt(web: Web) -> None:
    application_id = _apply(web)
    holder = Browser(web.client)
    holder.sign_in("department.admin")
    inbox = holder.get("/review")
    assert inbox.status_code == 200
    assert "待我处理" in inbox.text
    assert f'href="/review/applications/{application_id}"' in inbox.text
    assert "<b>x</b>" not in inbox.text  # escaped
    # The inbox holds exactly what the API's inbox holds for the same member.
    api = web.client.get(
        "/api/v1/inbox",
        headers={"Authorization": f"Bearer {web.world.tokens['department.admin']}"},
    ).json()
    assert f"（{api['total']}）" in inbox.text or f"({api['total']})" in inbox.text
    page = holder.get(f"/review/applications/{application_id}")
    assert page.status_code == 200
    assert "缴费金额" in page.text
    assert 'value="request_changes"' in page.text
    decided = holder.post(
        f"/review/applications/{application_id}/decision",
        {"csrf": csrf_of(page.text), "decision": "approve", "reason": "用途明确 / clear purpose"},
    )
    assert decided.status_code == 303
    index = _logged(decided.headers["location"])
    event = _event(web, index)
    # The same event the API's decision writes, by the member who decided.
    assert event.type == "application.reviewed"
    assert event.actor == f"member:{web.world.members['department.admin']}"
    assert event.payload["decision"] == "approve"
    assert event.payload["reason"] == "用途明确 / clear purpose"
    shown = holder.get(decided.headers["location"])
    assert f'href="/log/entries/{index}"' in shown.text
    # No second decision: the form is gone, and a replayed post is refused as the API refuses it.
    assert 'value="request_changes"' not in shown.text
    again = holder.post(
        f"/review/applications/{application_id}/decision",
        {"csrf": csrf_of(page.text), "decision": "reject", "reason": "再次 / again"},
    )
    assert again.status_code == 409
    history = holder.get("/review", headers={"Accept-Language": "en"})
    assert "My decisions" in history.text
    assert f'href="/log/entries/{index}"' in history.text
    assert "clear purpose" in history.text


def test_out_of_turn_is_refused_by_the_service(web: Web) -> None:
    application_id = _apply(web)
    regulator = Browser(web.client)
    regulator.sign_in("regulator.admin")
    page = regulator.get(f"/review/applications/{application_id}")
    api = web.client.get(
        f"/api/v1/applications/{application_id}",
        headers={"Authorization": f"Bearer {web.world.tokens['regulator.admin']}"},
    )
    assert page.status_code == api.status_code
    if page.status_code != 200:
        return
    assert 'name="decision"' not in page.text  # not its turn: no form
    refused = regulator.post(
        f"/review/applications/{application_id}/decision",
        {"csrf": csrf_of(page.text), "decision": "approve", "reason": "抢先 / ahead of turn"},
    )
    via_api = web.client.post(
        f"/api/v1/applications/{application_id}/decisions",
        headers={"Authorization": f"Bearer {web.world.tokens['regulator.admin']}"},
        json={"decision": "approve", "reason": "抢先 / ahead of turn"},
    )
    assert refused.status_code == via_api.status_code
    assert refused.status_code in (403, 409)


def test_another_participant_gets_what_the_api_gives(web: Web) -> None:
    application_id = _apply(web)
    other = Browser(web.client)
    other.sign_in("enterprise2.admin")
    page = other.get(f"/review/applications/{application_id}")
    api = web.client.get(
        f"/api/v1/applications/{application_id}",
        headers={"Authorization": f"Bearer {web.world.tokens['enterprise2.admin']}"},
    )
    assert api.status_code in (403, 404)
    assert page.status_code == api.status_code
    assert "verify contributions" not in page.text
    assert "verify contributions" not in other.get("/review").text
    refused = other.post(
        f"/review/applications/{application_id}/decision",
        {"csrf": csrf_of(other.get("/review").text), "decision": "approve", "reason": "越权 / x"},
    )
    assert refused.status_code == api.status_code


@pytest.mark.parametrize(
    ("decision", "reason", "field", "status"),
    [
        ("approve", "", "reason", 400),
        ("approve", "x", "reason", 400),
        ("approve", "y" * 1001, "reason", 400),
        ("maybe", "理由充分", "decision", 400),
        ("approve", "bad\x00reason", "reason", 422),
    ],
)
def test_bad_decisions_are_refused_and_write_nothing(
    web: Web, decision: str, reason: str, field: str, status: int
) -> None:
    application_id = _apply(web)
    holder = Browser(web.client, lang="en")
    holder.sign_in("department.admin")
    page = holder.get(f"/review/applications/{application_id}")
    with web.platform.db.read() as session:
        before = session.query(Event).count()
    refused = holder.post(
        f"/review/applications/{application_id}/decision",
        {"csrf": csrf_of(page.text), "decision": decision, "reason": reason},
    )
    # The status the API gives the same body.
    via_api = web.client.post(
        f"/api/v1/applications/{application_id}/decisions",
        headers={"Authorization": f"Bearer {web.world.tokens['department.admin']}"},
        json={"decision": decision, "reason": reason},
    )
    assert refused.status_code == via_api.status_code == status
    assert field in refused.text
    assert "\x00" not in refused.text
    with web.platform.db.read() as session:
        assert session.query(Event).count() == before


def test_a_decision_without_the_csrf_token_is_refused(web: Web) -> None:
    application_id = _apply(web)
    holder = Browser(web.client)
    holder.sign_in("department.admin")
    refused = holder.post(
        f"/review/applications/{application_id}/decision",
        {"decision": "approve", "reason": "用途明确"},
    )
    assert refused.status_code == 403
    stranger = Browser(web.client)
    stranger.sign_in("department.admin")
    stolen = csrf_of(stranger.get("/review").text)
    refused = holder.post(
        f"/review/applications/{application_id}/decision",
        {"csrf": stolen, "decision": "approve", "reason": "用途明确"},
    )
    assert refused.status_code == 403


def test_signed_out_the_inbox_asks_to_sign_in(web: Web) -> None:
    page = Browser(web.client).get("/review")
    assert page.status_code == 401
    assert "/signin?next=" in page.text
    refused = Browser(web.client).post("/review/participants/1/decision", {"csrf": "x"})
    assert refused.status_code == 403


def test_the_regulator_approves_a_registration_from_the_inbox(web: Web) -> None:
    pending = web.world.ids["pending"]
    regulator = Browser(web.client, lang="en")
    regulator.sign_in("regulator.admin")
    inbox = regulator.get("/review")
    assert "Participant registration" in inbox.text
    assert f'action="/review/participants/{pending}/decision"' in inbox.text
    # Another participant's admin sees no such item and cannot decide it.
    other = Browser(web.client)
    other.sign_in("enterprise.admin")
    assert f"/review/participants/{pending}/decision" not in other.get("/review").text
    refused = other.post(
        f"/review/participants/{pending}/decision",
        {"csrf": csrf_of(other.get("/review").text), "decision": "approve", "reason": "越权操作"},
    )
    assert refused.status_code == 403
    # A pending registration cannot be suspended: the service says so, as to the API.
    odd = regulator.post(
        f"/review/participants/{pending}/decision",
        {"csrf": csrf_of(inbox.text), "decision": "suspend", "reason": "not here"},
    )
    assert odd.status_code == 409
    done = regulator.post(
        f"/review/participants/{pending}/decision",
        {"csrf": csrf_of(inbox.text), "decision": "approve", "reason": "材料齐全 / complete"},
    )
    assert done.status_code == 303
    event = _event(web, _logged(done.headers["location"]))
    assert event.type == "participant.approved"
    with web.platform.db.read() as session:
        participant = session.get(Participant, pending)
        assert participant is not None
        assert participant.status == "approved"
    after = regulator.get(done.headers["location"])
    assert f"/review/participants/{pending}/decision" not in after.text
    assert "Approved" in after.text  # in the history


def test_hostile_titles_are_escaped_in_the_inbox(web: Web) -> None:
    application_id = _apply(web, scenario=HOSTILE_NAME)
    holder = Browser(web.client)
    holder.sign_in("department.admin")
    for path in ("/review", f"/review/applications/{application_id}"):
        text = holder.get(path).text
        assert "<script>alert" not in text
        assert "<img src=x" not in text
        assert "&lt;script&gt;" in text


@pytest.mark.parametrize(
    "path", ["/review/applications/0", "/review/applications/x1", "/review/applications/99999"]
)
def test_bad_or_missing_ids_are_not_found(web: Web, path: str) -> None:
    holder = Browser(web.client)
    holder.sign_in("department.admin")
    assert holder.get(path).status_code == 404
