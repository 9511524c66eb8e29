"""The regulator's supervision dashboard and grant page on SQLite and PostgreSQL: usage figures
that match the query records, alerts that link to where they are acted on, charts that are
tables too, and access as the API gives it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from datacompact.catalog import resources as catalog
from datacompact.catalog.schemas import GradeDecisionIn
from datacompact.errors import PolicyViolation
from datacompact.policy import applications, queries
from datacompact.policy.schemas import ApplicationCreate
from datacompact.store.models import Event, Grant

from ..procurement._helpers import approve_mode, award, bid, new_lot, new_project, open_tender
from ..procurement._helpers import new_tender as tender_for
from .conftest import Browser, Web, csrf_of


def _grant(web: Web) -> tuple[int, str]:
    """A masked-records grant of the enterprise on the department's resource: (id, table)."""
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
    body: dict[str, Any] = {
        "scenario": "缴费核验 / verify contributions",
        "purpose": "public_service",
        "resources": [{"resource_id": resource_id, "columns": ["缴费金额"]}],
        "output": {"mode": "masked_records"},
        "duration_days": 30,
        "expected_queries": 10,
    }
    with web.platform.db.write() as session:
        application_id = applications.submit_application(
            session=session,
            actor=world.principal("enterprise.analyst"),
            data=ApplicationCreate.model_validate(body),
        ).value.id
    for reviewer in ("department.reviewer", "regulator.reviewer"):
        with web.platform.db.write() as session:
            applications.review_application(
                session=session,
                actor=world.principal(reviewer),
                application_id=application_id,
                decision="approve",
                reason="材料齐全 / documents complete",
            )
    with web.platform.db.read() as session:
        grant = session.scalars(select(Grant).where(Grant.application_id == application_id)).one()
        return grant.id, str(grant.agreement.get("table") or "")


def _query(web: Web, grant_id: int, sql: str) -> None:
    queries.run_query(
        db=web.platform.db,
        home=web.platform.settings.home,
        secret=web.platform.secret,
        actor=web.world.principal("enterprise.analyst"),
        grant_id=grant_id,
        sql=sql,
    )


def _table_of(web: Web, grant_id: int) -> str:
    from datacompact.policy import grants

    with web.platform.db.read() as session:
        return grants.get_grant(
            session=session, actor=web.world.principal("enterprise.analyst"), grant_id=grant_id
        ).table


def _row(html: str, table_id: str, name: str) -> list[str]:
    """The data-value cells of the row named ``name`` in the table ``table_id``."""
    table = html.split(f'<table id="{table_id}">', 1)[1].split("</table>", 1)[0]
    for row in table.split("<tr>")[1:]:
        if name in row:
            return re.findall(r'data-value="([^"]*)"', row)
    raise AssertionError(f"no row {name} in {table_id}")


def test_the_dashboard_counts_queries_as_the_records_do(web: Web) -> None:
    grant_id, _ = _grant(web)
    table = _table_of(web, grant_id)
    _query(web, grant_id, f'SELECT "缴费金额" FROM {table}')
    with pytest.raises(PolicyViolation):
        _query(web, grant_id, f'SELECT "手机号" FROM {table}')
    regulator = Browser(web.client)
    regulator.sign_in("regulator.admin")
    page = regulator.get("/supervise")
    assert page.status_code == 200, page.text
    assert _row(page.text, "t-resource", "社会保险缴费明细") == ["1", "1", "0"]
    assert _row(page.text, "t-grantee", "测试enterprise.admin") == ["1", "1", "0"]
    assert _row(page.text, "t-holder", "测试department.admin") == ["1", "1", "0"]
    refusals = page.text.split('<table id="t-refusals">', 1)[1].split("</table>", 1)[0]
    assert 'data-value="1"' in refusals
    daily = page.text.split('<table id="t-daily">', 1)[1].split("</table>", 1)[0]
    assert sum(int(v) for v in re.findall(r'data-value="(\d+)"', daily)) == 2
    assert daily.count("<tr>") == 31  # the header and 30 days
    # Every chart is drawn from a table on the page, by a script file (no inline script).
    for figure in re.findall(r'data-table="([^"]+)"', page.text):
        assert f'<table id="{figure}">' in page.text
    assert "<script>" not in page.text
    assert re.search(
        r'<script src="/static/[0-9a-f]{16}/vendor/echarts\.simple\.min\.js"', page.text
    )
    assert re.search(r'<script src="/static/[0-9a-f]{16}/charts\.js"', page.text)
    english = regulator.get("/supervise?days=7", headers={"Accept-Language": "en"}).text
    assert "Refusals by rule" in english
    assert english.split('<table id="t-daily">', 1)[1].split("</table>", 1)[0].count("<tr>") == 8


@pytest.mark.parametrize("key", ["enterprise.admin", "department.admin"])
def test_who_may_not_supervise_gets_what_the_api_gives(web: Web, key: str) -> None:
    browser = Browser(web.client)
    browser.sign_in(key)
    page = browser.get("/supervise")
    api = web.client.get(
        "/api/v1/alerts", headers={"Authorization": f"Bearer {web.world.tokens[key]}"}
    )
    assert api.status_code == 403
    assert page.status_code == 403
    assert "t-resource" not in page.text
    assert 'href="/supervise"' not in browser.get("/review").text  # not in their navigation


@pytest.mark.parametrize("days", ["0", "31", "x", "-7", "9999999999"])
def test_bad_periods_are_refused(web: Web, days: str) -> None:
    regulator = Browser(web.client)
    regulator.sign_in("regulator.admin")
    assert regulator.get(f"/supervise?days={days}").status_code == 400


def test_signed_out_the_dashboard_asks_to_sign_in(web: Web) -> None:
    assert Browser(web.client).get("/supervise").status_code == 401


def test_the_regulator_opens_an_alert_and_follows_it_to_the_project(web: Web) -> None:
    world = web.world
    project_id = new_project(world, name="城市大脑一期 <i>x</i>")
    approve_mode(world, project_id)
    tender_id = tender_for(world, new_lot(world, project_id), method="lowest_price", weights=None)
    bid(world, tender_id, world.principal("enterprise.admin"), "400000")
    open_tender(world, tender_id)
    award(world, tender_id)
    regulator = Browser(web.client)
    regulator.sign_in("regulator.admin")
    page = regulator.get("/supervise")
    assert page.status_code == 200
    alerts = page.text.split('<section id="alerts">', 1)[1].split("</section>", 1)[0]
    assert 'class="alert"' in alerts
    links = re.findall(r'href="(/procure/projects[^"]*)"', alerts)
    assert links
    followed = regulator.get(links[0].replace("&amp;", "&"))
    assert followed.status_code == 200
    assert (
        f'href="/procure/projects/{project_id}"' in followed.text or "城市大脑一期" in followed.text
    )
    project = regulator.get(f"/procure/projects/{project_id}")
    assert project.status_code == 200
    assert "&lt;i&gt;x&lt;/i&gt;" in project.text
    assert "<i>x</i>" not in project.text
    # The concentration table has the city-wide market.
    assert "全市" in page.text


def test_the_regulator_suspends_a_grant_with_a_reason(web: Web) -> None:
    grant_id, _ = _grant(web)
    regulator = Browser(web.client, lang="en")
    regulator.sign_in("regulator.admin")
    page = regulator.get(f"/supervise/grants/{grant_id}")
    api = web.client.get(
        f"/api/v1/grants/{grant_id}",
        headers={"Authorization": f"Bearer {web.world.tokens['regulator.admin']}"},
    )
    assert page.status_code == api.status_code == 200
    done = regulator.post(
        f"/supervise/grants/{grant_id}/status",
        {"csrf": csrf_of(page.text), "decision": "suspend", "reason": "疑似差分 / differencing"},
    )
    via_api_status = web.client.get(
        f"/api/v1/grants/{grant_id}",
        headers={"Authorization": f"Bearer {web.world.tokens['regulator.admin']}"},
    ).json()["data"]["status"]
    if done.status_code == 303:
        index = int(done.headers["location"].rsplit("logged=", 1)[1])
        with web.platform.db.read() as session:
            event = session.get(Event, index)
            assert event is not None
            assert event.type == "grant.suspended"
        assert via_api_status == "suspended"
        assert f'href="/log/entries/{index}"' in regulator.get(done.headers["location"]).text
    else:
        # The regulator may not suspend under this mode: the same refusal as the API's.
        via_api = web.client.post(
            f"/api/v1/grants/{grant_id}/status",
            headers={"Authorization": f"Bearer {web.world.tokens['regulator.admin']}"},
            json={"decision": "suspend", "reason": "疑似差分 / differencing"},
        )
        assert done.status_code == via_api.status_code
    other = Browser(web.client)
    other.sign_in("enterprise2.admin")
    hidden = other.get(f"/supervise/grants/{grant_id}")
    api_other = web.client.get(
        f"/api/v1/grants/{grant_id}",
        headers={"Authorization": f"Bearer {web.world.tokens['enterprise2.admin']}"},
    )
    assert hidden.status_code == api_other.status_code
    assert hidden.status_code in (403, 404)
