"""The console in a real browser: Debian's chromium driven by Playwright.

Each scenario goes through the browser only. Screenshots of every page in
both languages go to ``$DATACOMPACT_SCREENS`` (default
``$TMPDIR/datacompact-screens``), a CI artifact, never committed. The
accessibility check runs axe-core (vendored under tests/console/vendor) on
the main pages. Skipped when Playwright or chromium is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from .conftest import HOSTILE_NAME, PASSWORD, Web

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("DATACOMPACT_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.parametrize("backend", ["sqlite"]),  # what a page shows is decided in Python
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="chromium is not installed"),
]


def screens_folder() -> Path:
    folder = Path(
        os.environ.get("DATACOMPACT_SCREENS") or Path(tempfile.gettempdir()) / "datacompact-screens"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Served:
    """The app over a world, served by uvicorn on a free local port in a thread."""

    def __init__(self, app: Any) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def site(web: Web) -> Iterator[tuple[Served, dict[str, str]]]:
    served = Served(web.client.app)
    yield served, web.resources
    served.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class Page:
    """A browser page that records CSP violations and dialogs, and takes screenshots."""

    def __init__(self, chromium: Any, base: str, lang: str = "zh-CN", **options: Any) -> None:
        self.context = chromium.new_context(locale=lang, base_url=base, **options)
        self.page = self.context.new_page()
        self.base = base
        self.violations: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._console)
        self.page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def shot(self, name: str) -> Path:
        path = screens_folder() / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        self.goto("/signin")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("main button[type=submit]")
        self.page.wait_for_url("**/home")

    def close(self) -> None:
        assert self.violations == [], self.violations
        assert self.dialogs == [], self.dialogs
        self.context.close()


def test_public_and_member_browse_the_catalog_in_both_languages(
    site: tuple[Served, dict[str, str]], chromium: Any
) -> None:
    served, resources = site
    view = Page(chromium, served.url, lang="zh-CN")
    view.goto("/")
    # Anonymous: exactly what authorize() gives the anonymous principal.
    heading = view.page.locator("h1").inner_text()
    assert heading in ("开放目录", "需要登录")
    view.shot("catalog-public-zh")
    view.sign_in("enterprise2.admin")
    view.goto("/catalog")
    assert view.page.locator("h1").inner_text() == "开放目录"
    assert "社会保险缴费明细" in view.page.inner_text("#results")
    view.shot("catalog-zh")
    # A facet applies at once (htmx), and the URL follows.
    view.page.select_option("select[name=open_type]", "conditional_open")
    view.page.wait_for_url("**open_type=conditional_open**")
    view.page.wait_for_function(
        "document.querySelector('#results .count').textContent.includes('1')"
    )
    assert "共找到 1 个资源" in view.page.inner_text("#results")
    # Search in Chinese, without JavaScript's help too (a plain GET form).
    view.goto("/catalog")
    view.page.fill("#q", "社保")
    view.page.press("#q", "Enter")
    view.page.wait_for_url("**q=**")
    view.page.wait_for_function(
        "document.querySelector('#results .count').textContent.includes('1')"
    )
    view.page.click("#results h2 a")
    view.page.wait_for_url(f"**/catalog/resources/{resources['social']}")
    assert "数据字典" in view.page.content()
    view.shot("resource-zh")
    # English is one click away, and stays.
    view.page.click("text=English")
    view.page.wait_for_url(f"**/catalog/resources/{resources['social']}")
    assert view.page.locator("h2", has_text="Data dictionary").count() == 1
    view.shot("resource-en")
    view.goto("/catalog")
    assert view.page.locator("h1").inner_text() == "Open catalog"
    assert "Social insurance contributions" in view.page.inner_text("#results")
    view.shot("catalog-en")
    view.page.click("text=中文")
    assert view.page.locator("h1").inner_text() == "开放目录"
    view.close()


def test_a_receipt_is_verified_in_the_browser(
    site: tuple[Served, dict[str, str]], chromium: Any
) -> None:
    served, _ = site
    for lang, done in (("zh-CN", "回执验证通过"), ("en", "The receipt is verified")):
        view = Page(chromium, served.url, lang=lang)
        view.goto("/log")
        view.shot(f"log-{lang}")
        view.page.fill("#index", "3")
        view.page.click("main form.inline button")
        view.page.wait_for_url("**/log/verify?index=3")
        view.page.click("#verify-button")
        view.page.wait_for_selector("#verify-steps li.verified")
        assert done in view.page.inner_text("#verify-steps")
        assert view.page.locator("#verify-steps li.fail").count() == 0
        view.shot(f"verify-{lang}")
        # A tampered receipt fails, and says at which step.
        receipt = json.loads(view.page.input_value("#receipt"))
        receipt["index"] = receipt["index"] + 1
        view.page.fill("#receipt", json.dumps(receipt))
        view.page.click("#verify-button")
        view.page.wait_for_selector("#verify-steps li.fail")
        assert view.page.locator("#verify-steps li.verified").count() == 0
        # Another log's key is refused at the signature.
        receipt["index"] -= 1
        view.page.fill("#receipt", json.dumps(receipt))
        key = view.page.input_value("#log-key")
        view.page.fill("#log-key", "other" + key[key.index("+") :])
        view.page.click("#verify-button")
        view.page.wait_for_selector("#verify-steps li.fail")
        view.goto("/log/entries/3")
        view.shot(f"entry-{lang}")
        view.close()


def test_sign_in_and_out(site: tuple[Served, dict[str, str]], chromium: Any) -> None:
    served, _ = site
    view = Page(chromium, served.url, lang="en")
    view.goto("/signin")
    view.shot("signin-en")
    view.page.fill("#username", "enterprise.admin")
    view.page.fill("#password", "wrong password here")
    view.page.click("main button[type=submit]")
    assert "Wrong username or password." in view.page.inner_text("main")
    time.sleep(1.1)  # the account's back-off after one failure
    view.sign_in("enterprise.admin")
    assert "Welcome" in view.page.inner_text("h1")
    view.shot("home-en")
    cookies = {c["name"]: c for c in view.context.cookies()}
    session = cookies["dc_session"]
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"
    assert view.page.evaluate("document.cookie") == ""  # nothing readable by scripts
    view.page.click("header button[type=submit]")
    view.page.wait_for_url("**/catalog")
    assert "dc_session" not in {c["name"] for c in view.context.cookies()}
    # The signed-out cookie, put back, is dead.
    view.context.add_cookies([{"name": "dc_session", "value": session["value"], "url": served.url}])
    view.goto("/home")
    assert view.page.locator("h1").inner_text() == "Sign in required"
    view.close()


def test_hostile_text_is_inert_and_forms_need_their_token(
    site: tuple[Served, dict[str, str]], chromium: Any
) -> None:
    served, resources = site
    view = Page(chromium, served.url, lang="zh-CN")
    view.sign_in("enterprise2.admin")
    view.goto(f"/catalog/resources/{resources['hostile']}")
    assert view.page.locator("main h1").inner_text().startswith(HOSTILE_NAME)
    assert view.page.locator("main img").count() == 0
    assert view.page.locator("a[href^='javascript:']").count() == 0
    view.goto("/catalog")
    view.shot("catalog-hostile-zh")
    # A made-up session id is no session.
    other = Page(chromium, served.url, lang="zh-CN")
    other.context.add_cookies(
        [{"name": "dc_session", "value": "dcs_" + "A" * 43, "url": served.url}]
    )
    other.goto("/home")
    assert other.page.locator("h1").inner_text() == "需要登录"
    other.close()
    # A form without its CSRF token is refused (the field removed by hand).
    view.goto("/home")
    view.page.evaluate("document.querySelector('header input[name=csrf]').remove()")
    view.page.click("header button[type=submit]")
    assert view.page.locator("h1").inner_text() == "表单已失效"
    view.goto("/home")
    assert view.page.locator("h1").inner_text().startswith("欢迎")  # still signed in
    view.close()


def test_error_pages_and_screens_in_both_languages(
    site: tuple[Served, dict[str, str]], chromium: Any
) -> None:
    served, _ = site
    for lang, title in (("zh-CN", "未找到"), ("en", "Not found")):
        view = Page(chromium, served.url, lang=lang)
        response = view.goto("/no/such/page")
        assert response.status == 404
        assert view.page.locator("h1").inner_text() == title
        view.shot(f"not-found-{lang}")
        view.goto("/signin")
        view.shot(f"signin-{lang}")
        view.close()


def test_main_pages_have_no_serious_accessibility_violations(
    site: tuple[Served, dict[str, str]], chromium: Any
) -> None:
    served, resources = site
    axe = AXE.read_text(encoding="utf-8")
    # Only this context bypasses the CSP, to inject the test-only axe-core.
    view = Page(chromium, served.url, lang="zh-CN", bypass_csp=True)
    view.sign_in("enterprise2.admin")
    found: dict[str, list[str]] = {}
    for lang in ("zh-CN", "en"):
        view.goto(f"/lang/{lang}?next=/catalog")
        for path in (
            "/catalog",
            f"/catalog/resources/{resources['social']}",
            "/log",
            "/log/verify?index=2",
            "/log/entries/2",
            "/home",
            "/nope",
        ):
            view.goto(path)
            view.page.add_script_tag(content=axe)
            result = view.page.evaluate(
                "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
                ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
            )
            if result:
                found[f"{lang} {path}"] = result
    view.context.clear_cookies()
    view.goto("/signin")
    view.page.add_script_tag(content=axe)
    assert not view.page.evaluate(
        "async () => (await axe.run()).violations.filter(v => v.impact === 'serious'"
        " || v.impact === 'critical').map(v => v.id)"
    )
    view.close()
    assert found == {}
