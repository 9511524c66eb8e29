"""The console's pages over the store, on SQLite and PostgreSQL, without a browser."""

from __future__ import annotations

import html
import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datacompact.cli import app as cli
from datacompact.console.app import create_console

from .conftest import Browser, Web


def test_root_opens_the_catalog(web: Web) -> None:
    response = Browser(web.client).get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/catalog"


def test_the_public_sees_what_the_api_gives_the_anonymous(web: Web) -> None:
    api = web.client.get("/api/v1/resources")
    assert api.status_code == 200
    published = {r["name"] for r in api.json()["data"]}
    assert "社会保险缴费明细" in published
    assert "内部考勤记录" not in published
    page = Browser(web.client).get("/catalog")
    assert page.status_code == 200
    assert f"共找到 {len(published)} 个资源" in page.text
    assert "社会保险缴费明细" in page.text
    assert "内部考勤记录" not in page.text
    # An entry the anonymous may not read does not exist for them, as in the API.
    internal = web.resources["internal"]
    assert web.client.get(f"/resources/{internal}").status_code == 404  # the dataset URI
    hidden = Browser(web.client).get(web.page("internal"))
    assert hidden.status_code == 404
    assert "内部考勤记录" not in hidden.text
    assert Browser(web.client).get(web.page("social")).status_code == 200
    # A member of its holder sees it.
    holder = Browser(web.client)
    holder.sign_in("department.admin")
    assert "内部考勤记录" in holder.get(web.page("internal")).text


def test_a_browser_following_a_dataset_uri_lands_on_its_page(web: Web) -> None:
    code = web.resources["social"]
    followed = web.client.get(f"/resources/{code}", headers={"Accept": "text/html"})
    assert followed.status_code == 303
    assert followed.headers["location"] == web.page("social")
    page = Browser(web.client).get(followed.headers["location"])
    assert page.status_code == 200
    assert code in page.text


def test_catalog_in_chinese_by_default_and_in_english(web: Web) -> None:
    browser = Browser(web.client)
    browser.sign_in("enterprise2.admin")
    zh = browser.get("/catalog")
    assert zh.status_code == 200
    assert '<html lang="zh-CN">' in zh.text
    assert "开放目录" in zh.text
    assert "社会保险缴费明细" in zh.text
    assert "共找到 3 个资源" in zh.text
    english = browser.get("/catalog", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in english.text
    assert "3 resources found" in english.text
    assert "Social insurance contributions" in english.text  # the English name, in English


def test_search_and_facets(web: Web) -> None:
    browser = Browser(web.client)
    browser.sign_in("enterprise2.admin")
    found = browser.get("/catalog?q=社保")
    assert "共找到 1 个资源" in found.text
    assert "社会保险缴费明细" in found.text
    opened = browser.get("/catalog?open_type=open")
    assert "共找到 1 个资源" in opened.text
    assert "社会保险缴费明细" not in opened.text
    monthly = browser.get("/catalog?update_frequency=monthly&share_type=conditional")
    assert "共找到 1 个资源" in monthly.text
    holder = web.world.ids["department"]
    by_holder = browser.get(f"/catalog?holder={holder}")
    assert "共找到 2 个资源" in by_holder.text
    # Each facet lists the values present, with their counts, in the page's language.
    assert "有条件开放 (1)" in browser.get("/catalog").text
    assert "每月 (1)" in browser.get("/catalog").text


@pytest.mark.parametrize(
    "query", ["grade=secret", "holder=abc", "page=0", "open_type=<x>", "q=" + "长" * 201]
)
def test_bad_filters_are_an_error_page_in_the_language(web: Web, query: str) -> None:
    browser = Browser(web.client, lang="en")
    browser.sign_in("enterprise2.admin")
    response = browser.get(f"/catalog?{query}")
    assert response.status_code == 400
    assert "Invalid request" in response.text
    assert '"error"' not in response.text


def test_pagination_past_the_end_shows_the_last_page(web: Web) -> None:
    browser = Browser(web.client)
    browser.sign_in("enterprise2.admin")
    response = browser.get("/catalog?page=9")
    assert response.status_code == 200
    assert "共找到 3 个资源" in response.text


def test_resource_page_names_personal_columns_without_values(web: Web) -> None:
    browser = Browser(web.client)
    browser.sign_in("enterprise2.admin")
    response = browser.get(web.page("social"))
    assert response.status_code == 200
    text = response.text
    assert "登记编码" in text
    assert "数据字典" in text
    assert "分级依据" in text
    rows = dict(re.findall(r"<tr><td><code>(.*?)</code></td>.*?<td>([^<]*)</td></tr>", text, re.S))
    assert rows["手机号"] == "个人信息"
    assert rows["姓名"] == "个人信息"
    assert rows["缴费金额"] == "否"
    assert "13800138000" not in text
    assert "张伟" not in text
    assert "/api/v1/catalog.ttl" in text
    assert "（北京时间）" in text


def test_missing_resource_is_a_not_found_page(web: Web) -> None:
    browser = Browser(web.client, lang="en")
    browser.sign_in("enterprise2.admin")
    for path in (
        "/catalog/resources/330106MB0000009999999X",
        "/catalog/resources/x",
        "/catalog/resources/" + "9" * 41,
    ):
        response = browser.get(path)
        assert response.status_code in (400, 404), path
        assert response.headers["content-type"].startswith("text/html")
        assert "Traceback" not in response.text


def test_unknown_pages_are_pages_and_api_paths_stay_json(web: Web) -> None:
    browser = Browser(web.client)
    page = browser.get("/nope")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "未找到" in page.text
    english = browser.get("/nope", headers={"Accept-Language": "en"})
    assert "Not found" in english.text
    api = browser.get("/api/v1/nope")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"
    wrong_method = web.client.request("PUT", "/api/v1/resources")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/json"
    assert web.client.get("/healthz").json()["status"] == "ok"
    assert web.client.get("/ledger/checkpoint").status_code == 200
    posted = web.client.post("/catalog")
    assert posted.status_code == 405
    assert posted.headers["content-type"].startswith("text/html")


def test_control_characters_in_the_query_are_refused(web: Web) -> None:
    response = Browser(web.client).get("/catalog?q=%00")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")


def test_language_switch_sets_a_cookie_and_returns(web: Web) -> None:
    browser = Browser(web.client)
    switched = browser.get("/lang/en?next=/log")
    assert switched.status_code == 303
    assert switched.headers["location"] == "/log"
    assert browser.cookies["dc_lang"] == "en"
    assert "Transparency log" in browser.get("/log", headers={"Accept-Language": "zh-CN"}).text
    for target in ("//evil.example/", "https://evil.example/", "javascript:alert(1)"):
        away = browser.get(f"/lang/zh-CN?next={target}")
        assert away.headers["location"] == "/"
    assert browser.get("/lang/fr").status_code == 404


def test_log_pages(web: Web, tmp_path: Path) -> None:
    browser = Browser(web.client)
    log = browser.get("/log")
    assert log.status_code == 200
    assert "最新检查点" in log.text
    assert "日志签名" in log.text
    entry = browser.get("/log/entries/3")
    assert entry.status_code == 200
    assert "包含证明" in entry.text
    bundle = browser.get("/log/entries/3/receipt.json")
    assert bundle.headers["content-disposition"] == 'attachment; filename="receipt-3.json"'
    assert json.loads(bundle.text) == web.client.get("/ledger/bundle/3").json()
    note = browser.get("/log/entries/3/checkpoint.txt").text
    assert note == web.client.get("/ledger/proof/3").json()["checkpoint"]
    verify = browser.get("/log/verify?index=3")
    assert verify.status_code == 200
    shown = re.search(r'<pre class="command">(.*?)</pre>', verify.text, re.S)
    assert shown is not None
    # The command shown is the one that verifies the downloaded receipt offline.
    (tmp_path / "receipt-3.json").write_text(bundle.text, encoding="utf-8")
    args = shlex.split(html.unescape(shown[1]))
    assert args[:4] == ["datacompact", "verify", "receipt", "receipt-3.json"]
    args = [str(tmp_path / a) if a == "receipt-3.json" else a for a in args[1:]]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert browser.get("/log/entries/99999").status_code == 404
    assert browser.get("/log/verify?index=abc").status_code == 400


def test_static_files_are_hashed_and_immutable(web: Web) -> None:
    page = Browser(web.client).get("/log/verify")
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    assert any(u.endswith("/verify.js") for u in urls)
    for url in urls:
        response = web.client.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    css = next(u for u in urls if u.endswith(".css"))
    assert web.client.get(css.replace("/static/", "/static/0", 1)).status_code == 404
    assert web.client.get("/static/x/../../app.py").status_code == 404


def test_every_vendored_file_matches_its_record() -> None:
    from datacompact.console.assets import STATIC_DIR

    folder = STATIC_DIR / "vendor"
    record = json.loads((folder / "VENDORED.json").read_text(encoding="utf-8"))
    import hashlib

    for name, entry in record.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == entry["sha256"]
        assert entry["license"]
        assert entry["version"]
        assert entry["source"].startswith("https://")
    assert {p.name for p in folder.iterdir()} == {*record, "VENDORED.json"}


def test_the_console_needs_only_the_platform(web: Web) -> None:
    app = create_console(web.platform, client_address=lambda scope: "127.0.0.1")
    assert app.state.console.platform is web.platform


def test_an_unexpected_error_is_a_page_without_detail(
    web: Web, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from datacompact.catalog import resources

    def broken(**_kwargs: object) -> None:
        raise RuntimeError("boom with a value 13800138000")

    browser = Browser(web.client, lang="en")
    browser.sign_in("enterprise2.admin")
    monkeypatch.setattr(resources, "list_catalog", broken)
    response = browser.get("/catalog")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in response.text
    for leak in ("Traceback", "RuntimeError", "13800138000", '"error"'):
        assert leak not in response.text
    assert any("console page /catalog failed" in r.getMessage() for r in caplog.records)


def test_console_pages_have_one_route_label_in_the_access_log(
    web: Web, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="datacompact.access"):
        Browser(web.client).get("/log")
        web.client.get("/api/v1/nothing-here")
    routes = [
        json.loads(r.getMessage())["route"]
        for r in caplog.records
        if r.name == "datacompact.access"
    ]
    assert routes == ["(console)", "(unmatched)"]


def test_home_lists_my_applications_with_state_and_turn(web: Web) -> None:
    from datacompact.catalog import resources as catalog
    from datacompact.catalog.schemas import GradeDecisionIn
    from datacompact.policy import applications
    from datacompact.policy.schemas import ApplicationCreate

    world = web.world
    steward = world.principal("department.data_steward")
    with web.platform.db.read() as session:
        found = catalog.readable_by_code(session, steward, web.resources["social"])
        resource_id = found.id
    with web.platform.db.write() as session:
        catalog.decide_grade(
            session=session,
            actor=steward,
            resource_id=resource_id,
            decision=GradeDecisionIn(decision="confirm"),
        )
    data = ApplicationCreate.model_validate(
        {
            "scenario": "<b>核验</b> 缴费 / verify contributions",
            "purpose": "credit_assessment",
            "resources": [{"resource_id": resource_id, "columns": ["缴费金额"]}],
            "output": {"mode": "aggregates"},
            "duration_days": 30,
            "expected_queries": 10,
        }
    )
    with web.platform.db.write() as session:
        applications.submit_application(
            session=session, actor=world.principal("enterprise.analyst"), data=data
        )
    analyst = Browser(web.client)
    analyst.sign_in("enterprise.admin")
    zh = analyst.get("/home").text
    assert "我的申请" in zh
    assert "审核中" in zh
    assert "数据持有方" in zh  # whose turn it is
    assert "<b>核验</b>" not in zh
    english = analyst.get("/home", headers={"Accept-Language": "en"}).text
    assert "Under review" in english
    assert "The data holder" in english
    # Another participant's members see none of it.
    other = Browser(web.client)
    other.sign_in("enterprise2.admin")
    assert "verify contributions" not in other.get("/home").text
