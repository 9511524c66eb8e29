"""The data user's pages: apply, my applications, my grants, the SQL workbench and its receipt."""

from __future__ import annotations

from sqlalchemy import select

from datacompact.policy.grants import get_grant
from datacompact.store.models import Application, Event

from .conftest import Browser, Web, confirm_grade, csrf_of, granted, resource_id, with_password


def analyst(web: Web, lang: str | None = None, key: str = "enterprise.analyst") -> Browser:
    with_password(web, key)
    browser = Browser(web.client, lang=lang)
    assert browser.sign_in(key.replace("_", "-")).status_code == 303
    return browser


def _table(web: Web, grant_id: int) -> str:
    with web.platform.db.read() as session:
        return get_grant(
            session=session, actor=web.world.principal("enterprise.analyst"), grant_id=grant_id
        ).table


def _last_event(web: Web) -> Event:
    with web.platform.db.read() as session:
        row = session.scalars(select(Event).order_by(Event.seq.desc()).limit(1)).one()
        session.expunge(row)
    return row


def test_the_form_offers_only_what_may_be_asked(web: Web) -> None:
    rid = confirm_grade(web)
    browser = analyst(web, lang="en")
    # The catalog's page of the resource leads there.
    assert f'href="/analyst/apply/{rid}"' in browser.get(web.page("social")).text
    assert "/analyst/apply/" not in Browser(web.client).get(web.page("social")).text
    page = browser.get(f"/analyst/apply/{rid}")
    assert page.status_code == 200
    # The resource's columns, the vocabulary's purposes (never the reserved open-data one).
    for column in ("姓名", "手机号", "缴费金额"):
        assert f'value="{column}"' in page.text
    assert 'value="credit_assessment"' in page.text
    assert 'value="open_data_use"' not in page.text
    # Records are refused for a graded personal resource, with the reason, and not offered.
    assert 'name="mode" value="records"' not in page.text
    assert "is not allowed for" in page.text


def test_an_unconfirmed_grade_is_explained_not_offered(web: Web) -> None:
    rid = resource_id(web, "social")
    browser = analyst(web, lang="en")
    page = browser.get(f"/analyst/apply/{rid}")
    assert "No application can be made for this resource now" in page.text
    assert "is not confirmed by a data steward yet" in page.text
    assert 'name="scenario"' not in page.text


def test_an_analyst_applies_and_sees_the_state_and_whose_turn(web: Web) -> None:
    rid = confirm_grade(web)
    browser = analyst(web)
    form = browser.get(f"/analyst/apply/{rid}")
    token = csrf_of(form.text)
    fields = {
        "csrf": token,
        "scenario": "核验缴费 / verify contributions",
        "purpose": "credit_assessment",
        "mode": "aggregates",
        "duration_days": "30",
        "expected_queries": "10",
    }
    refused = browser.post(f"/analyst/apply/{rid}", {**fields, "mode": "records"})
    assert refused.status_code == 403 or refused.status_code == 400
    assert "申请被拒绝" in refused.text
    sent = browser.client.post(
        f"/analyst/apply/{rid}",
        data={**fields, "columns": ["缴费金额", "姓名"]},
        headers=browser._headers(None),
    )
    assert sent.status_code == 303, sent.text
    event = _last_event(web)
    assert event.type == "application.submitted"
    assert sent.headers["location"] == f"/analyst/applications?logged={event.seq}"
    mine = browser.get(sent.headers["location"])
    assert "审核中" in mine.text
    assert "数据持有方" in mine.text
    assert f'/log/entries/{event.seq}"' in mine.text
    with web.platform.db.read() as session:
        application = session.scalars(select(Application).order_by(Application.id.desc())).first()
        assert application is not None
    # Another enterprise's analyst sees none of it.
    other = analyst(web, key="enterprise2.analyst")
    assert "verify contributions" not in other.get("/analyst/applications").text


def test_my_grants_and_the_workbench_run_a_query_with_its_receipt(web: Web) -> None:
    grant_id = granted(web)
    browser = analyst(web, lang="en")
    grants = browser.get("/analyst/grants")
    assert grants.status_code == 200
    assert f"/analyst/grants/{grant_id}" in grants.text
    assert "10 of 10" in grants.text  # queries left of the grant's terms
    bench = browser.get(f"/analyst/grants/{grant_id}")
    assert bench.status_code == 200
    assert "缴费金额" in bench.text  # the granted schema beside the editor
    table = _table(web, grant_id)
    answer = browser.post(
        f"/analyst/grants/{grant_id}/queries",
        {"csrf": csrf_of(bench.text), "sql": f"SELECT count(*) AS n FROM {table}"},
    )
    assert answer.status_code == 200, answer.text
    event = _last_event(web)
    assert event.type == "query.executed"
    assert f'/log/entries/{event.seq}"' in answer.text
    assert f"/log/verify?index={event.seq}" in answer.text
    assert "Groups describing too few people are suppressed" in answer.text
    assert "9 of 10" in answer.text
    query_id = event.object_id
    page = browser.get(f"/analyst/queries/{query_id}")
    assert page.status_code == 200
    assert "Rows 1–1 of 1" in page.text
    csv = browser.get(f"/analyst/queries/{query_id}/result.csv")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "n"


def test_a_refused_query_is_explained_and_logged(web: Web) -> None:
    grant_id = granted(web)
    browser = analyst(web, lang="en")
    bench = browser.get(f"/analyst/grants/{grant_id}")
    table = _table(web, grant_id)
    sql = f"SELECT 缴费金额 FROM {table} WHERE '<script>alert(1)</script>' = ''"
    answer = browser.post(
        f"/analyst/grants/{grant_id}/queries", {"csrf": csrf_of(bench.text), "sql": sql}
    )
    assert answer.status_code in (400, 403, 422)
    assert "The query was refused" in answer.text
    assert "<script>alert(1)</script>" not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text  # kept in the editor, inert
    assert _last_event(web).type == "query.refused"


def test_other_participants_cannot_use_the_workbench(web: Web) -> None:
    grant_id = granted(web)
    other = analyst(web, key="enterprise2.analyst")
    api = web.client.get(
        f"/api/v1/grants/{grant_id}",
        headers={"Authorization": f"Bearer {web.world.tokens['enterprise2.analyst']}"},
    )
    assert other.get(f"/analyst/grants/{grant_id}").status_code == api.status_code
    # The holder may read the grant, but runs no queries under it.
    with_password(web, "department.data_steward")
    holder = Browser(web.client)
    holder.sign_in("department.data-steward")
    assert holder.get(f"/analyst/grants/{grant_id}").status_code == 403
    assert Browser(web.client).get("/analyst/grants").status_code == 401


def test_a_dp_query_notes_the_noise_and_spends_the_budget(web: Web) -> None:
    grant_id = granted(web, mode="dp_aggregates", epsilon=2.0)
    browser = analyst(web, lang="en")
    grants = browser.get("/analyst/grants")
    assert ">2<" in grants.text  # the whole budget is left
    bench = browser.get(f"/analyst/grants/{grant_id}")
    assert 'name="epsilon"' in bench.text  # a DP grant asks for this query's ε
    table = _table(web, grant_id)
    answer = browser.post(
        f"/analyst/grants/{grant_id}/queries",
        {
            "csrf": csrf_of(bench.text),
            "sql": f"SELECT count(*) AS n FROM {table}",
            "epsilon": "0.5",
        },
    )
    assert answer.status_code == 200, answer.text
    assert "Differential-privacy noise was added" in answer.text
    assert ">1.5<" in answer.text  # ε left beside the editor
    assert ">1.5<" in browser.get("/analyst/grants").text
