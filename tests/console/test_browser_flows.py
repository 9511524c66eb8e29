"""The data holder's and data user's flows in a real browser, in both languages.

- A steward uploads a GBK file (with the progress bar's script, and once without
  JavaScript through the plain form) and confirms its grade.
- An analyst applies; the reviewers' approvals are made through the service
  functions in the test's setup; the analyst runs a query in the workbench
  and verifies its receipt in the browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from datacompact.ledger.log import checkpoints
from datacompact.store.models import Application

from .conftest import Web, approve, confirm_grade, granted, people_csv, resource_id, with_password
from .test_browser import AXE, Page, Served, chromium, pytestmark, site

__all__ = ["chromium", "pytestmark", "site"]

TEXTS = {
    "zh-CN": {
        "confirm": "确认此分级",
        "confirmed": "已由持有方确认",
        "awaits": "待您处理",
        "submit": "提交申请",
        "review": "审核中",
        "run": "运行",
        "verify": "验证回执",
        "verified": "回执验证通过",
        "suppressed": "人数过少的分组已隐去",
    },
    "en": {
        "confirm": "Confirm this grade",
        "confirmed": "Confirmed by the holder",
        "awaits": "awaits you",
        "submit": "Submit the application",
        "review": "Under review",
        "run": "Run",
        "verify": "Verify the receipt",
        "verified": "The receipt is verified",
        "suppressed": "Groups describing too few people are suppressed",
    },
}


def test_a_steward_uploads_a_gbk_file_and_confirms_its_grade(
    web: Web, site: tuple[Served, dict[str, str]], chromium: Any, tmp_path: Path
) -> None:
    served, _ = site
    with_password(web, "department.data_steward")
    for lang, script in (("zh-CN", True), ("en", True), ("en", False)):
        words = TEXTS[lang]
        view = Page(chromium, served.url, lang=lang, java_script_enabled=script)
        view.sign_in("department.data-steward")
        view.goto("/steward")
        view.shot(f"steward-{lang}")
        name = f"pensions-{lang}-{'js' if script else 'plain'}.csv"
        file = people_csv(tmp_path / name)  # GBK, with names and phone numbers
        view.page.fill("#name", f"养老金发放 {lang}")
        view.page.fill("#name_en", f"Pensions {lang}")
        view.page.select_option("#update_frequency", "monthly")
        view.page.set_input_files("#file", str(file))
        view.page.click("form.upload button[type=submit]")
        view.page.wait_for_url("**/steward/resources/*?logged=*")
        main = view.page.inner_text("main")
        assert words["awaits"] in main  # the grade step waits for the steward
        assert "手机号" in main  # the dictionary read from the GBK file
        assert "13800138000" not in view.page.content()
        view.shot(f"steward-registered-{lang}")
        view.page.click(f"button:has-text('{words['confirm']}')")
        view.page.wait_for_url("**?logged=*")
        assert words["confirmed"] in view.page.inner_text("main")
        assert view.page.locator(".notice a[href^='/log/entries/']").count() == 1
        view.close()


def test_an_analyst_applies_runs_a_query_and_verifies_the_receipt(
    web: Web, site: tuple[Served, dict[str, str]], chromium: Any
) -> None:
    served, _ = site
    rid = confirm_grade(web)
    with_password(web, "enterprise.analyst")
    for lang in ("zh-CN", "en"):
        words = TEXTS[lang]
        view = Page(chromium, served.url, lang=lang)
        view.sign_in("enterprise.analyst")
        view.goto(f"/analyst/apply/{rid}")
        view.shot(f"apply-{lang}")
        # Only what may be asked is offered: no radio for records on personal data.
        assert view.page.locator("input[name=mode][value=records]").count() == 0
        view.page.fill("#scenario", f"核验缴费 {lang} / verify contributions")
        view.page.select_option("#purpose", "credit_assessment")
        view.page.check("input[name=columns][value=缴费金额]")
        view.page.check("input[name=mode][value=aggregates]")
        view.page.click(f"button:has-text('{words['submit']}')")
        view.page.wait_for_url("**/analyst/applications?logged=*")
        assert words["review"] in view.page.inner_text("main")
        view.shot(f"applications-{lang}")
        with web.platform.db.read() as session:
            application_id = session.scalars(
                select(Application.id).order_by(Application.id.desc())
            ).first()
        assert application_id is not None
        grant_id = approve(web, application_id)
        view.goto("/analyst/grants")
        view.shot(f"grants-{lang}")
        view.page.click(f"a[href='/analyst/grants/{grant_id}']")
        view.page.wait_for_url(f"**/analyst/grants/{grant_id}")
        table = view.page.inner_text(".schema p code")
        view.page.fill("#sql", f"SELECT count(*) AS n FROM {table}")
        view.page.click(f"button:has-text('{words['run']}')")
        view.page.wait_for_selector("section.result")
        assert words["suppressed"] in view.page.inner_text("section.result")
        view.shot(f"workbench-{lang}")
        # A served platform signs checkpoints as it runs; here the test signs the next one.
        checkpoints.checkpoint_now(web.platform.db, signer=web.platform.log_signer, policy=None)
        view.page.click(f"section.receipt a:has-text('{words['verify']}')")
        view.page.wait_for_url("**/log/verify?index=*")
        view.page.click("#verify-button")
        view.page.wait_for_selector("#verify-steps li.verified")
        assert words["verified"] in view.page.inner_text("#verify-steps")
        assert view.page.locator("#verify-steps li.fail").count() == 0
        view.close()


def test_the_holders_and_users_pages_have_no_serious_accessibility_violations(
    web: Web, site: tuple[Served, dict[str, str]], chromium: Any
) -> None:
    served, _ = site
    grant_id = granted(web)  # confirms the grade of the social resource too
    rid = resource_id(web, "social")
    with_password(web, "department.data_steward", "enterprise.analyst")
    axe = AXE.read_text(encoding="utf-8")
    found: dict[str, list[str]] = {}
    for user, paths in (
        ("department.data-steward", ["/steward", f"/steward/resources/{rid}"]),
        (
            "enterprise.analyst",
            [
                f"/analyst/apply/{rid}",
                "/analyst/applications",
                "/analyst/grants",
                f"/analyst/grants/{grant_id}",
            ],
        ),
    ):
        # Only this context bypasses the CSP, to inject the test-only axe-core.
        view = Page(chromium, served.url, lang="zh-CN", bypass_csp=True)
        view.sign_in(user)
        for lang in ("zh-CN", "en"):
            view.goto(f"/lang/{lang}?next=/home")
            for path in paths:
                view.goto(path)
                view.page.add_script_tag(content=axe)
                result = view.page.evaluate(
                    "async () => (await axe.run(document, {resultTypes: ['violations']}))"
                    ".violations.filter(v => v.impact === 'serious' || v.impact === 'critical')"
                    ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
                )
                if result:
                    found[f"{lang} {path}"] = result
        view.close()
    assert found == {}
