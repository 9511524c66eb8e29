"""The role pages in a real browser (Debian's chromium driven by Playwright), in both languages:
the regulator opens an alert and follows it to the project; a contractor bids, and the officer
opens and awards. No CSP violation, no dialog; axe-core finds nothing serious."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from datacompact.clock import utcnow
from datacompact.procurement import tenders

from ..conftest import World
from ..procurement._helpers import approve_mode, award, bid, new_lot, new_project, open_tender
from ..procurement._helpers import new_tender as tender_for
from .conftest import Web, build_web
from .test_browser import AXE, CHROMIUM, Page, Served

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.parametrize("backend", ["sqlite"]),  # what a page shows is decided in Python
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed"),
]

LANGS = (("zh-CN", "合作项目", "已定标"), ("en", "Cooperation projects", "Awarded to"))


@pytest.fixture
def roles_site(world: World, tmp_path: Path) -> Iterator[tuple[Served, Web]]:
    web = build_web(world, tmp_path)
    served = Served(web.client.app)
    yield served, web
    served.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def _awarded_project(world: World, name: str) -> int:
    project_id = new_project(world, name=name)
    approve_mode(world, project_id)
    tender_id = tender_for(world, new_lot(world, project_id), method="lowest_price", weights=None)
    bid(world, tender_id, world.principal("enterprise.admin"), "400000")
    open_tender(world, tender_id)
    award(world, tender_id)
    return project_id


def test_the_regulator_opens_an_alert_and_follows_it_to_the_project(
    roles_site: tuple[Served, Web], chromium: Any
) -> None:
    served, web = roles_site
    project_id = _awarded_project(web.world, "城市大脑一期")
    for lang, _projects, _awarded in LANGS:
        view = Page(chromium, served.url, lang=lang)
        view.sign_in("regulator.admin")
        view.goto("/supervise")
        # The charts are drawn (ECharts, from the tables), within the CSP.
        view.page.wait_for_selector("figure.chart[data-table='t-concentration'] canvas")
        assert view.page.locator("#t-concentration tbody tr").count() >= 1
        view.shot(f"supervise-{lang}")
        alert = view.page.locator("#alerts li.alert a[href^='/procure/projects']").first
        alert.click()
        view.page.wait_for_url("**/procure/projects**")
        if f"/procure/projects/{project_id}" not in view.page.url:
            view.page.click(f"a[href='/procure/projects/{project_id}']")
            view.page.wait_for_url(f"**/procure/projects/{project_id}")
        assert view.page.locator("main h1").inner_text() == "城市大脑一期"
        view.shot(f"alert-project-{lang}")
        view.close()


def test_a_contractor_bids_and_the_officer_opens_and_awards(
    roles_site: tuple[Served, Web], chromium: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, web = roles_site
    world = web.world
    for lang, _projects, awarded in LANGS:
        monkeypatch.setattr(tenders, "utcnow", utcnow)
        project_id = new_project(world, name=f"政务云 {lang}")
        approve_mode(world, project_id)
        lot_id = new_lot(world, project_id)
        tender_for(
            world,
            lot_id,
            start=utcnow() - timedelta(hours=1.5),
            method="lowest_price",
            weights=None,
        )
        contractor = Page(chromium, served.url, lang=lang)
        contractor.sign_in("enterprise.admin")
        contractor.goto(f"/procure/projects/{project_id}")
        contractor.page.fill(f"#lot-{lot_id} input[name=price]", "388000.00")
        contractor.page.fill(f"#lot-{lot_id} textarea[name=document]", "技术方案 / technical plan")
        contractor.page.click(f"#lot-{lot_id} form.stack button[type=submit]")
        contractor.page.wait_for_url("**logged=**")
        assert contractor.page.locator("p.notice a[href^='/log/entries/']").count() == 1
        assert "388,000.00" in contractor.page.inner_text(f"#lot-{lot_id}")
        contractor.shot(f"bid-{lang}")
        contractor.close()
        officer = Page(chromium, served.url, lang=lang)
        officer.sign_in("department.admin")
        officer.goto(f"/procure/projects/{project_id}")
        assert "388,000" not in officer.page.inner_text(f"#lot-{lot_id}")  # sealed
        later = utcnow() + timedelta(hours=2)

        def moved(at: datetime = later) -> datetime:
            return at

        monkeypatch.setattr(tenders, "utcnow", moved)
        officer.page.click(f"#lot-{lot_id} form[action$='/opening'] button")
        officer.page.wait_for_url("**logged=**")
        assert "388,000.00" in officer.page.inner_text(f"#lot-{lot_id}")
        officer.page.click(f"#lot-{lot_id} form[action$='/award'] button")
        officer.page.wait_for_url("**logged=**")
        assert awarded in officer.page.inner_text(f"#lot-{lot_id}")
        officer.shot(f"award-{lang}")
        officer.close()


def test_the_role_pages_have_no_serious_accessibility_violations(
    roles_site: tuple[Served, Web], chromium: Any
) -> None:
    served, web = roles_site
    project_id = _awarded_project(web.world, "城市大脑一期")
    axe = AXE.read_text(encoding="utf-8")
    found: dict[str, list[str]] = {}
    for key, paths in (
        ("regulator.admin", ("/supervise", "/review", "/admin")),
        ("department.admin", (f"/procure/projects/{project_id}", "/procure/projects", "/review")),
    ):
        # Only this context bypasses the CSP, to inject the test-only axe-core.
        view = Page(chromium, served.url, lang="zh-CN", bypass_csp=True)
        view.sign_in(key)
        for lang in ("zh-CN", "en"):
            view.goto(f"/lang/{lang}?next=/review")
            for path in paths:
                view.goto(path)
                view.page.add_script_tag(content=axe)
                result = view.page.evaluate(
                    "async () => (await axe.run(document, {resultTypes: ['violations']}))"
                    ".violations.filter(v => v.impact === 'serious' || v.impact === 'critical')"
                    ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
                )
                if result:
                    found[f"{key} {lang} {path}"] = result
        view.close()
    assert found == {}
