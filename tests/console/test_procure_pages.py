"""Procurement pages on SQLite and PostgreSQL: a contractor bids from the browser, the price
stays sealed from everybody else, and the officer opens and awards; access as the API gives it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from datacompact.clock import utcnow
from datacompact.procurement import tenders
from datacompact.store.models import Event

from ..procurement._helpers import approve_mode, new_lot, new_project, new_tender
from .conftest import Browser, Web, csrf_of


def _open_tender(web: Web) -> tuple[int, int]:
    """A project (approved mode), a lot and a lowest-price tender open for an hour more."""
    world = web.world
    project_id = new_project(world)
    approve_mode(world, project_id)
    lot_id = new_lot(world, project_id)
    tender_id = new_tender(
        world,
        lot_id,
        start=utcnow() - timedelta(hours=1.5),
        method="lowest_price",
        weights=None,
    )
    return project_id, tender_id


def _logged(location: str) -> int:
    found = re.search(r"logged=(\d+)", location)
    assert found is not None, location
    return int(found.group(1))


def _event_type(web: Web, index: int) -> str:
    with web.platform.db.read() as session:
        row = session.get(Event, index)
        assert row is not None
        return row.type


def _after_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    later = utcnow() + timedelta(hours=2)

    def moved() -> datetime:
        return later

    monkeypatch.setattr(tenders, "utcnow", moved)


def test_a_contractor_bids_and_the_officer_opens_and_awards(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id, tender_id = _open_tender(web)
    page_path = f"/procure/projects/{project_id}"
    contractor = Browser(web.client)
    contractor.sign_in("enterprise.admin")
    page = contractor.get(page_path)
    assert page.status_code == 200
    assert f'action="/procure/tenders/{tender_id}/bids"' in page.text
    bid = contractor.post(
        f"/procure/tenders/{tender_id}/bids",
        {"csrf": csrf_of(page.text), "price": "412345.00", "document": "技术方案 / technical plan"},
    )
    assert bid.status_code == 303, bid.text
    assert _event_type(web, _logged(bid.headers["location"])) == "bid.submitted"
    mine = contractor.get(bid.headers["location"]).text
    assert "¥412,345.00" in mine  # its own price, to its bidder
    assert f'href="/log/entries/{_logged(bid.headers["location"])}"' in mine
    # The other bidder and the officer see a sealed bid, no price, as the API shows it.
    rival = Browser(web.client, lang="en")
    rival.sign_in("enterprise2.admin")
    sealed = rival.get(page_path).text
    assert "412,345" not in sealed
    officer = Browser(web.client)
    officer.sign_in("department.admin")
    before = officer.get(page_path).text
    assert "412,345" not in before
    api = web.client.get(
        f"/api/v1/tenders/{tender_id}",
        headers={"Authorization": f"Bearer {web.world.tokens['department.admin']}"},
    ).json()["data"]
    assert all(b["price"] is None for b in api["bids"])
    # Opening before the deadline is refused by the service.
    early = officer.post(f"/procure/tenders/{tender_id}/opening", {"csrf": csrf_of(before)})
    assert early.status_code == 409
    _after_deadline(monkeypatch)
    opened = officer.post(f"/procure/tenders/{tender_id}/opening", {"csrf": csrf_of(before)})
    assert opened.status_code == 303, opened.text
    assert _event_type(web, _logged(opened.headers["location"])) == "tender.bids_opened"
    assert "¥412,345.00" in officer.get(page_path).text  # open now
    # A bidder may not award; the officer may.
    refused = rival.post(f"/procure/tenders/{tender_id}/award", {"csrf": csrf_of(sealed)})
    via_api = web.client.post(
        f"/api/v1/tenders/{tender_id}/award",
        headers={"Authorization": f"Bearer {web.world.tokens['enterprise2.admin']}"},
    )
    assert refused.status_code == via_api.status_code == 403
    awarded = officer.post(f"/procure/tenders/{tender_id}/award", {"csrf": csrf_of(before)})
    assert awarded.status_code == 303, awarded.text
    assert _event_type(web, _logged(awarded.headers["location"])) == "lot.awarded"
    final = officer.get(awarded.headers["location"]).text
    assert "已定标" in final


@pytest.mark.parametrize(
    ("price", "document", "status"),
    [
        ("", "方案", 400),
        ("-5", "方案", 400),
        ("12.345", "方案", 400),
        ("1000", "", 400),
        ("1000", "x" * 60_001, 400),
    ],
)
def test_bad_bids_are_refused_and_write_nothing(
    web: Web, price: str, document: str, status: int
) -> None:
    project_id, tender_id = _open_tender(web)
    contractor = Browser(web.client)
    contractor.sign_in("enterprise.admin")
    page = contractor.get(f"/procure/projects/{project_id}")
    with web.platform.db.read() as session:
        before = session.query(Event).count()
    refused = contractor.post(
        f"/procure/tenders/{tender_id}/bids",
        {"csrf": csrf_of(page.text), "price": price, "document": document},
    )
    assert refused.status_code in (status, 413)
    with web.platform.db.read() as session:
        assert session.query(Event).count() == before


def test_a_bid_without_the_csrf_token_is_refused(web: Web) -> None:
    _project_id, tender_id = _open_tender(web)
    contractor = Browser(web.client)
    contractor.sign_in("enterprise.admin")
    refused = contractor.post(
        f"/procure/tenders/{tender_id}/bids", {"price": "1000.00", "document": "方案"}
    )
    assert refused.status_code == 403


def test_a_lot_link_goes_to_its_project(web: Web) -> None:
    project_id, tender_id = _open_tender(web)
    officer = Browser(web.client)
    officer.sign_in("department.admin")
    with web.platform.db.read() as session:
        lot_id = tenders.get_tender(
            session=session, actor=web.world.principal("department.admin"), tender_id=tender_id
        ).lot_id
    moved = officer.get(f"/procure/lots/{lot_id}")
    assert moved.status_code == 303
    assert moved.headers["location"] == f"/procure/projects/{project_id}#lot-{lot_id}"
    listing = officer.get("/procure/projects")
    assert f'href="/procure/projects/{project_id}"' in listing.text
    assert officer.get("/procure/projects?owner=x").status_code == 400
    assert officer.get("/procure/projects/999999").status_code == 404


def test_the_shortlist_shows_what_the_api_ranks(web: Web) -> None:
    project_id, tender_id = _open_tender(web)
    with web.platform.db.read() as session:
        lot_id = tenders.get_tender(
            session=session, actor=web.world.principal("department.admin"), tender_id=tender_id
        ).lot_id
    for key in ("department.admin", "enterprise.admin"):
        browser = Browser(web.client, lang="en")
        browser.sign_in(key)
        page = browser.get(f"/procure/lots/{lot_id}/shortlist")
        api = web.client.get(
            f"/api/v1/lots/{lot_id}/matches",
            headers={"Authorization": f"Bearer {web.world.tokens[key]}"},
        )
        assert page.status_code == api.status_code
        if api.status_code == 200:
            for match in api.json()["data"]["matches"]:
                assert match["name"] in page.text
            assert "Task-matching shortlist" in page.text
    assert Browser(web.client).get(f"/procure/lots/{lot_id}/shortlist").status_code == 401
    assert project_id


def test_the_regulator_grants_an_exception_from_the_lot(web: Web) -> None:
    project_id, tender_id = _open_tender(web)
    with web.platform.db.read() as session:
        lot_id = tenders.get_tender(
            session=session, actor=web.world.principal("department.admin"), tender_id=tender_id
        ).lot_id
    regulator = Browser(web.client)
    regulator.sign_in("regulator.admin")
    page = regulator.get(f"/procure/projects/{project_id}")
    assert f'action="/procure/lots/{lot_id}/exceptions"' in page.text
    supplier = str(web.world.ids["enterprise"])
    bad = regulator.post(
        f"/procure/lots/{lot_id}/exceptions",
        {
            "csrf": csrf_of(page.text),
            "supplier_id": supplier,
            "rule": "other",
            "reason": "理由充分",
        },
    )
    assert bad.status_code == 400
    done = regulator.post(
        f"/procure/lots/{lot_id}/exceptions",
        {
            "csrf": csrf_of(page.text),
            "supplier_id": supplier,
            "rule": "separation.dev_ops",
            "reason": "唯一具备资质 / the only qualified supplier",
        },
    )
    assert done.status_code == 303, done.text
    assert _event_type(web, _logged(done.headers["location"])) == "rule_exception.granted"
    # Not the owner's to grant: the same refusal as the API's.
    officer = Browser(web.client)
    officer.sign_in("department.admin")
    refused = officer.post(
        f"/procure/lots/{lot_id}/exceptions",
        {
            "csrf": csrf_of(officer.get(f"/procure/projects/{project_id}").text),
            "supplier_id": str(web.world.ids["enterprise2"]),
            "rule": "separation.dev_ops",
            "reason": "自行批准 / self-approved",
        },
    )
    via_api = web.client.post(
        f"/api/v1/lots/{lot_id}/exceptions",
        headers={"Authorization": f"Bearer {web.world.tokens['department.admin']}"},
        json={
            "supplier_id": web.world.ids["enterprise2"],
            "rule": "separation.dev_ops",
            "reason": "自行批准 / self-approved",
        },
    )
    assert refused.status_code == via_api.status_code == 403


def test_a_contract_shows_kpis_milestones_reports_and_escrow_as_the_api(web: Web) -> None:
    from ..delivery._delivery import MET, award_for, report, sign

    world = web.world
    contract_id = sign(world, "department", award_for(world, "department", "enterprise"))
    report(world, "enterprise", contract_id, "2026-02", MET)
    officer = Browser(web.client, lang="en")
    officer.sign_in("department.admin")
    page = officer.get(f"/procure/contracts/{contract_id}")
    api = web.client.get(
        f"/api/v1/contracts/{contract_id}",
        headers={"Authorization": f"Bearer {world.tokens['department.admin']}"},
    )
    assert page.status_code == api.status_code == 200
    data = api.json()["data"]
    for kpi in data["kpis"]:
        assert kpi["name"] in page.text
    assert "首期运维款" in page.text
    assert "2026-02" in page.text
    assert "KPI targets" in page.text
    project = officer.get(f"/procure/projects/{data['project_id']}")
    assert f'href="/procure/contracts/{contract_id}"' in project.text
    assert officer.get("/procure/contracts/999999").status_code == 404
