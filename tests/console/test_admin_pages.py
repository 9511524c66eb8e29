"""The participant admin's page on SQLite and PostgreSQL: members, roles, qualifications and
tokens of the admin's own participant, changes logged as the API logs them."""

from __future__ import annotations

import re

from datacompact.store.models import Event, Member

from .conftest import Browser, Web, csrf_of


def test_the_admin_sees_members_and_changes_roles(web: Web) -> None:
    admin = Browser(web.client)
    admin.sign_in("department.admin")
    page = admin.get("/admin")
    assert page.status_code == 200
    assert "成员与角色" in page.text
    assert "department.analyst" in page.text
    assert "enterprise.analyst" not in page.text  # another participant's member
    # The members listed are the API's list for the same participant.
    api = web.client.get(
        f"/api/v1/participants/{web.world.ids['department']}/members",
        headers={"Authorization": f"Bearer {web.world.tokens['department.admin']}"},
    ).json()["data"]
    assert all(m["username"] in page.text for m in api)
    analyst = web.world.members["department.analyst"]
    done = admin.post(
        f"/admin/members/{analyst}/roles",
        {"csrf": csrf_of(page.text), "roles": "reviewer"},
    )
    assert done.status_code == 303
    found = re.search(r"logged=(\d+)", done.headers["location"])
    assert found is not None
    with web.platform.db.read() as session:
        event = session.get(Event, int(found.group(1)))
        assert event is not None
        assert event.type == "member.roles_changed"
        member = session.get(Member, analyst)
        assert member is not None
        assert member.roles == ["reviewer"]
    english = admin.get(done.headers["location"], headers={"Accept-Language": "en"})
    assert "Members and roles" in english.text
    assert f'href="/log/entries/{found.group(1)}"' in english.text


def test_no_role_and_unknown_roles_are_refused(web: Web) -> None:
    admin = Browser(web.client)
    admin.sign_in("department.admin")
    token = csrf_of(admin.get("/admin").text)
    analyst = web.world.members["department.analyst"]
    with web.platform.db.read() as session:
        before = session.query(Event).count()
    assert admin.post(f"/admin/members/{analyst}/roles", {"csrf": token}).status_code == 400
    refused = admin.post(f"/admin/members/{analyst}/roles", {"csrf": token, "roles": "king"})
    assert refused.status_code == 400
    with web.platform.db.read() as session:
        assert session.query(Event).count() == before


def test_another_participants_member_is_refused_as_by_the_api(web: Web) -> None:
    admin = Browser(web.client)
    admin.sign_in("enterprise.admin")
    token = csrf_of(admin.get("/admin").text)
    theirs = web.world.members["department.analyst"]
    refused = admin.post(f"/admin/members/{theirs}/roles", {"csrf": token, "roles": "analyst"})
    via_api = web.client.put(
        f"/api/v1/members/{theirs}/roles",
        headers={"Authorization": f"Bearer {web.world.tokens['enterprise.admin']}"},
        json={"roles": ["analyst"]},
    )
    assert refused.status_code == via_api.status_code
    assert refused.status_code in (403, 404)
    deactivate = admin.post(f"/admin/members/{theirs}/deactivate", {"csrf": token})
    assert deactivate.status_code == via_api.status_code
    assert admin.post(f"/admin/members/{theirs}/deactivate", {}).status_code == 403  # no token


def test_signed_out_the_admin_page_asks_to_sign_in(web: Web) -> None:
    assert Browser(web.client).get("/admin").status_code == 401
