"""The data holder's pages: register by upload, grade, dictionary, versions, who uses the data."""

from __future__ import annotations

import contextlib
import io
from urllib.parse import urlencode

import httpx
from sqlalchemy import select

from datacompact.store.models import Event

from ..api.conftest import bearer
from .conftest import Browser, Web, confirm_grade, csrf_of, granted, resource_id, with_password

GBK_CSV = "姓名,手机号,缴费金额\n" + "".join(
    f"张伟,1380013800{i % 10},{100 + i}\n" for i in range(30)
)


def _last_event(web: Web) -> Event:
    with web.platform.db.read() as session:
        row = session.scalars(select(Event).order_by(Event.seq.desc()).limit(1)).one()
        session.expunge(row)
    return row


def _events_after(web: Web, seq: int) -> list[Event]:
    with web.platform.db.read() as session:
        rows = list(session.scalars(select(Event).where(Event.seq > seq).order_by(Event.seq)))
        session.expunge_all()
    return rows


def _inbox(web: Web, participant: str) -> list[str]:
    folder = web.platform.settings.home / "inbox" / str(web.world.ids[participant])
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def steward(web: Web, lang: str | None = None) -> Browser:
    with_password(web, "department.data_steward")
    browser = Browser(web.client, lang=lang)
    assert browser.sign_in("department.data-steward").status_code == 303
    return browser


def upload(
    browser: Browser,
    url: str,
    fields: dict[str, str],
    name: str,
    content: bytes,
    csrf: str | None = None,
) -> httpx.Response:
    page = browser.get("/steward")
    data = {"csrf": csrf if csrf is not None else csrf_of(page.text), **fields}
    return browser.client.post(
        url,
        data=data,
        files={"file": (name, io.BytesIO(content), "text/csv")},
        headers=browser._headers(None),
    )


def test_a_steward_registers_a_gbk_file_and_confirms_its_grade(web: Web) -> None:
    browser = steward(web)
    listing = browser.get("/steward")
    assert listing.status_code == 200
    assert "社会保险缴费明细" in listing.text  # the department's own resource
    assert "内部考勤记录" in listing.text
    before = _last_event(web).seq
    answer = upload(
        browser,
        "/steward/resources",
        {"name": "养老金发放", "name_en": "Pensions", "tags": "社保, 养老"},
        "pensions.csv",
        GBK_CSV.encode("gbk"),
    )
    assert answer.status_code == 303, answer.text
    target = answer.headers["location"]
    assert target.startswith("/steward/resources/")
    new = _events_after(web, before)
    assert "resource.registered" in [e.type for e in new]
    logged = int(target.rsplit("=", 1)[1])
    assert {e.seq: e.type for e in new}[logged] == "resource.registered"
    page = browser.get(target)
    assert page.status_code == 200
    assert "养老金发放" in page.text
    assert "手机号" in page.text
    assert "13800138000" not in page.text  # personal values are never shown
    assert "待您处理" in page.text  # the grade step awaits the steward
    confirmed = browser.post(
        target.split("?")[0] + "/grade", {"csrf": csrf_of(page.text), "decision": "confirm"}
    )
    assert confirmed.status_code == 303
    event = _last_event(web)
    assert event.type == "resource.grade_confirmed"
    after = browser.get(confirmed.headers["location"])
    assert f'/log/entries/{event.seq}"' in after.text
    assert "已由持有方确认" in after.text


def test_override_needs_a_reason_and_the_dictionary_is_edited(web: Web) -> None:
    browser = steward(web, lang="en")
    rid = resource_id(web, "social")
    page = browser.get(f"/steward/resources/{rid}")
    assert page.status_code == 200
    assert "Who uses my data" in page.text
    token = csrf_of(page.text)
    refused = browser.post(
        f"/steward/resources/{rid}/grade",
        {"csrf": token, "decision": "override", "grade": "general-4", "reason": ""},
    )
    assert refused.status_code == 400
    assert "an override needs a grade and a reason" in refused.text
    done = browser.post(
        f"/steward/resources/{rid}/grade",
        {"csrf": token, "decision": "override", "grade": "general-4", "reason": "含个人信息"},
    )
    assert done.status_code == 303
    assert _last_event(web).type == "resource.grade_overridden"
    assert _last_event(web).payload["reason"] == "含个人信息"
    form = [
        ("csrf", token),
        *[
            pair
            for name in ("姓名", "手机号", "缴费金额")
            for pair in (("column", name), ("description", f"{name}说明"), ("unit", ""))
        ],
    ]
    edited = browser.client.post(
        f"/steward/resources/{rid}/dictionary",
        content=urlencode(form).encode(),
        headers={**browser._headers(None), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert edited.status_code == 303, edited.text
    event = _last_event(web)
    assert event.type == "resource.dictionary_updated"
    assert "缴费金额说明" in browser.get(f"/steward/resources/{rid}").text


def test_a_new_version_is_published_from_the_browser(web: Web) -> None:
    browser = steward(web)
    rid = resource_id(web, "social")
    before = _last_event(web).seq
    answer = upload(
        browser,
        f"/steward/resources/{rid}/versions",
        {"encoding": "gbk"},
        "social-v2.csv",
        GBK_CSV.encode("gbk"),
    )
    assert answer.status_code == 303, answer.text
    assert "resource.version_ingested" in [e.type for e in _events_after(web, before)]
    page = browser.get(f"/steward/resources/{rid}")
    assert "版本" in page.text


def test_who_uses_my_data_shows_grants_queries_and_refusals(web: Web) -> None:
    grant_id = granted(web)
    from datacompact.errors import DataCompactError
    from datacompact.policy import queries

    platform = web.platform
    for sql in ("SELECT count(*) AS n FROM {t}", "SELECT 姓名 FROM {t}"):
        with web.platform.db.read() as session:
            from datacompact.policy.grants import get_grant

            table = get_grant(
                session=session, actor=web.world.principal("enterprise.analyst"), grant_id=grant_id
            ).table
        with contextlib.suppress(DataCompactError):  # the second one is refused, on purpose
            queries.run_query(
                db=platform.db,
                home=platform.settings.home,
                secret=platform.secret,
                actor=web.world.principal("enterprise.analyst"),
                grant_id=grant_id,
                sql=sql.format(t=table),
            )
    browser = steward(web, lang="en")
    page = browser.get(f"/steward/resources/{resource_id(web, 'social')}")
    assert f"Grant #{grant_id}" in page.text
    assert "Refused queries" in page.text
    assert "Queries per day (CST)" in page.text


def test_another_participants_steward_gets_not_found(web: Web) -> None:
    with_password(web, "enterprise.data_steward")
    browser = Browser(web.client)
    browser.sign_in("enterprise.data-steward")
    rid = confirm_grade(web)
    # As the API answers the same member: another holder's resource is not theirs to curate.
    assert browser.get(f"/steward/resources/{rid}").status_code == 403
    internal = resource_id(web, "internal")
    api = web.client.post(
        f"/api/v1/resources/{internal}/grade",
        json={"decision": "confirm"},
        headers=bearer(web.world, "enterprise.data_steward"),
    )
    assert api.status_code == 403
    assert browser.get(f"/steward/resources/{internal}").status_code == 403
    assert browser.get("/steward/resources/999999").status_code == 404
    listing = browser.get("/steward")
    assert "社会保险缴费明细" not in listing.text
    token = csrf_of(listing.text)
    refused = browser.post(
        f"/steward/resources/{rid}/grade", {"csrf": token, "decision": "confirm"}
    )
    assert refused.status_code == 403
    # An analyst may not register at all, as the API says.
    with_password(web, "enterprise.analyst")
    analyst = Browser(web.client)
    analyst.sign_in("enterprise.analyst")
    assert analyst.get("/steward").status_code == 403
    # Signed out: the sign-in page.
    assert Browser(web.client).get("/steward").status_code == 401


def test_inbox_keeps_only_what_was_registered(web: Web) -> None:
    browser = steward(web)
    before = _inbox(web, "department")
    upload(browser, "/steward/resources", {"name": "好"}, "good.csv", GBK_CSV.encode("gbk"))
    assert _inbox(web, "department") == sorted([*before, "good.csv"])
