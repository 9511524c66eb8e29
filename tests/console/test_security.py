"""The console's security: sessions, CSRF, escaping and headers, on both backends."""

from __future__ import annotations

from datetime import timedelta

import anyio
import httpx
from markupsafe import escape
from sqlalchemy import select

from datacompact.clock import utcnow
from datacompact.console._web import CSP, SESSION_COOKIE
from datacompact.store.models import ApiToken, Event

from .conftest import HOSTILE_DESCRIPTION, HOSTILE_NAME, PASSWORD, Browser, Web, csrf_of


def _events(web: Web, kind: str) -> list[Event]:
    with web.platform.db.read() as session:
        rows = list(session.scalars(select(Event).where(Event.type == kind).order_by(Event.seq)))
        session.expunge_all()
    return rows


def _session_row(web: Web, token_id: int) -> ApiToken:
    with web.platform.db.read() as session:
        row = session.get_one(ApiToken, token_id)
        session.expunge(row)
    return row


def test_sign_in_makes_a_logged_session_and_sign_out_revokes_it(web: Web) -> None:
    browser = Browser(web.client)
    issued_before = len(_events(web, "token.issued"))
    signed_in = browser.sign_in("enterprise.admin")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/home"
    cookie = next(
        c for c in signed_in.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    issued = _events(web, "token.issued")
    assert len(issued) == issued_before + 1
    assert issued[-1].payload["kind"] == "session"
    value = browser.cookies[SESSION_COOKIE]
    assert value.startswith("dcs_")
    home = browser.get("/home")
    assert home.status_code == 200
    assert "控制台会话" in home.text
    assert "您的角色： 管理员" in home.text

    out = browser.post("/signout", {"csrf": csrf_of(home.text)})
    assert out.status_code == 303
    assert SESSION_COOKIE not in browser.cookies
    revoked = _events(web, "token.revoked")
    assert revoked[-1].payload == {
        "member_id": web.world.members["enterprise.admin"],
        "kind": "session",
    }
    # The old cookie is dead: replaying it is a signed-out visitor.
    replay = Browser(web.client)
    replay.cookies[SESSION_COOKIE] = value
    again = replay.get("/home")
    assert again.status_code == 401
    assert "需要登录" in again.text
    assert SESSION_COOKIE not in replay.cookies  # and the browser is told to drop it


def test_wrong_password_is_one_answer_and_backs_off_like_the_api(web: Web) -> None:
    browser = Browser(web.client, lang="en")
    wrong = browser.sign_in("enterprise.admin", password="not the password")
    assert wrong.status_code == 401
    assert "Wrong username or password." in wrong.text
    assert SESSION_COOKIE not in browser.cookies
    unknown = Browser(web.client, lang="en").sign_in("nobody.here", password="whatever it is")
    # The account's back-off is the API's too: the same rules and keys.
    assert unknown.status_code in (401, 429)
    at_once = browser.sign_in("enterprise.admin", password=PASSWORD)
    assert at_once.status_code == 429
    assert "Too many attempts" in at_once.text
    assert int(at_once.headers["retry-after"]) >= 1
    api = web.client.post(
        "/api/v1/auth/token",
        json={"username": "enterprise.admin", "password": PASSWORD, "label": "x"},
    )
    assert api.status_code == 429


def test_a_made_up_session_id_is_not_accepted(web: Web) -> None:
    browser = Browser(web.client)
    planted = "dcs_" + "A" * 43
    browser.cookies[SESSION_COOKIE] = planted
    assert browser.get("/home").status_code == 401
    assert SESSION_COOKIE not in browser.cookies
    # Signing in never adopts an id the browser brought.
    browser.cookies[SESSION_COOKIE] = planted
    browser.sign_in("enterprise.admin")
    assert browser.cookies[SESSION_COOKIE] != planted
    assert browser.get("/home").status_code == 200


def test_sessions_and_bearer_tokens_are_not_interchangeable(web: Web) -> None:
    browser = Browser(web.client)
    browser.sign_in("enterprise.admin")
    session_value = browser.cookies[SESSION_COOKIE]
    as_bearer = web.client.get("/api/v1/me", headers={"Authorization": f"Bearer {session_value}"})
    assert as_bearer.status_code == 401
    api_token = Browser(web.client)
    api_token.cookies[SESSION_COOKIE] = web.world.tokens["enterprise.admin"]
    assert api_token.get("/home").status_code == 401


def test_idle_and_absolute_expiry(web: Web) -> None:
    browser = Browser(web.client)
    browser.sign_in("enterprise.admin")
    home = browser.get("/home")
    assert home.status_code == 200
    with web.platform.db.write() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.kind == "session")).one()
        row.last_used_at = utcnow() - timedelta(minutes=31)
        row.created_at = utcnow() - timedelta(minutes=31)
        token_id = row.id
    assert browser.get("/home").status_code == 401

    other = Browser(web.client)
    other.sign_in("enterprise.admin")
    assert other.get("/home").status_code == 200
    with web.platform.db.write() as session:
        row = session.scalars(
            select(ApiToken).where(ApiToken.kind == "session", ApiToken.id != token_id)
        ).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert other.get("/home").status_code == 401


def test_use_moves_the_idle_expiry(web: Web) -> None:
    browser = Browser(web.client)
    browser.sign_in("enterprise.admin")
    with web.platform.db.write() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.kind == "session")).one()
        row.created_at = row.last_used_at = utcnow() - timedelta(minutes=29)
        token_id = row.id
    assert browser.get("/home").status_code == 200
    assert _session_row(web, token_id).last_used_at > utcnow() - timedelta(minutes=1)  # type: ignore[operator]


def test_a_post_without_a_csrf_token_is_refused(web: Web) -> None:
    browser = Browser(web.client, lang="en")
    browser.get("/signin")
    refused = browser.post("/signin", {"username": "enterprise.admin", "password": PASSWORD})
    assert refused.status_code == 403
    assert "The form has expired" in refused.text
    assert SESSION_COOKIE not in browser.cookies
    browser.sign_in("enterprise.admin")
    out = browser.post("/signout", {})
    assert out.status_code == 403
    assert browser.get("/home").status_code == 200  # still signed in


def test_another_sessions_csrf_token_is_refused(web: Web) -> None:
    alice, mallory = Browser(web.client), Browser(web.client)
    alice.sign_in("enterprise.admin")
    mallory.sign_in("enterprise2.admin")
    foreign = csrf_of(mallory.get("/home").text)
    assert alice.post("/signout", {"csrf": foreign}).status_code == 403
    assert alice.get("/home").status_code == 200
    # Another visitor's sign-in form token does not sign this one in either.
    visitor = Browser(web.client)
    token = csrf_of(Browser(web.client).get("/signin").text)
    visitor.get("/signin")
    response = visitor.post(
        "/signin", {"csrf": token, "username": "enterprise.admin", "password": PASSWORD}
    )
    assert response.status_code == 403


def test_hostile_names_and_descriptions_are_inert(web: Web) -> None:
    browser = Browser(web.client)
    browser.sign_in("enterprise2.admin")
    for path in ("/catalog", web.page("hostile"), "/catalog?q=<script>"):
        for lang in ("zh-CN", "en"):
            text = browser.get(path, headers={"Accept-Language": lang}).text
            assert "<script>alert" not in text
            assert "<img src=x" not in text
            assert 'href="javascript:' not in text
            assert "<b>theme</b>" not in text
    text = browser.get(web.page("hostile")).text
    # Shown as the text it is, escaped (quotes too, so no attribute is broken out of).
    assert str(escape(HOSTILE_NAME)) in text
    assert str(escape(HOSTILE_DESCRIPTION)) in text


def test_security_headers_on_every_console_answer(web: Web) -> None:
    browser = Browser(web.client)
    for path in ("/catalog", "/signin", "/log", "/nope", "/log/verify"):
        response = browser.get(path)
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
    assert "unsafe-inline" not in CSP
    assert "unsafe-eval" not in CSP
    assert "script-src 'self'" in CSP
    assert "frame-ancestors 'none'" in CSP
    page = browser.get("/log/verify").text
    assert "<script>" not in page
    assert " style=" not in page
    assert "<style" not in page


def test_cookies_are_secure_behind_tls(web: Web) -> None:
    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=web.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            return await c.get("/signin")

    response = anyio.run(fetch)
    cookie = response.headers["set-cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie


def _token_id(web: Web, value: str) -> int:
    from datacompact.registry.tokens import token_digest

    with web.platform.db.read() as session:
        found = session.scalar(
            select(ApiToken.id).where(ApiToken.token_sha256 == token_digest(value))
        )
    assert found is not None
    return found


def test_a_member_revokes_an_api_token_from_the_console(web: Web) -> None:
    browser = Browser(web.client)
    browser.sign_in("enterprise.admin")
    value = web.world.tokens["enterprise.admin"]
    assert (
        web.client.get("/api/v1/me", headers={"Authorization": f"Bearer {value}"}).status_code
        == 200
    )
    token_id = _token_id(web, value)
    home = browser.get("/home")
    assert f'action="/home/credentials/{token_id}/revoke"' in home.text
    refused = browser.post(f"/home/credentials/{token_id}/revoke", {})
    assert refused.status_code == 403
    done = browser.post(f"/home/credentials/{token_id}/revoke", {"csrf": csrf_of(home.text)})
    assert done.status_code == 303
    logged = int(done.headers["location"].split("logged=")[1])
    event = _events(web, "token.revoked")[-1]
    assert event.seq == logged
    assert event.object_id == str(token_id)
    assert event.payload == {"member_id": web.world.members["enterprise.admin"]}
    assert (
        web.client.get("/api/v1/me", headers={"Authorization": f"Bearer {value}"}).status_code
        == 401
    )
    notice = browser.get(done.headers["location"])
    assert f'href="/log/entries/{logged}"' in notice.text


def test_revoking_ones_own_session_signs_out(web: Web) -> None:
    browser = Browser(web.client)
    browser.sign_in("enterprise.admin")
    home = browser.get("/home")
    own = _session_row_of(web, browser.cookies[SESSION_COOKIE])
    done = browser.post(f"/home/credentials/{own}/revoke", {"csrf": csrf_of(home.text)})
    assert done.headers["location"] == "/"
    assert SESSION_COOKIE not in browser.cookies
    assert _events(web, "token.revoked")[-1].payload["kind"] == "session"
    assert browser.get("/home").status_code == 401


def test_another_participants_token_cannot_be_revoked(web: Web) -> None:
    browser = Browser(web.client, lang="en")
    browser.sign_in("enterprise.admin")
    home = browser.get("/home")
    foreign = _token_id(web, web.world.tokens["enterprise2.admin"])
    response = browser.post(f"/home/credentials/{foreign}/revoke", {"csrf": csrf_of(home.text)})
    assert response.status_code in (403, 404)
    assert response.headers["content-type"].startswith("text/html")
    with web.platform.db.read() as session:
        assert session.get_one(ApiToken, foreign).revoked_at is None
    visitor = Browser(web.client)
    form = visitor.get("/signin")
    anonymous = visitor.post(f"/home/credentials/{foreign}/revoke", {"csrf": csrf_of(form.text)})
    assert anonymous.status_code == 401


def _session_row_of(web: Web, value: str) -> int:
    return _token_id(web, value)


def test_sign_in_refuses_bad_input_before_any_work(web: Web) -> None:
    browser = Browser(web.client, lang="en")
    form = browser.get("/signin")
    for username, password in (
        ("", PASSWORD),
        ("enterprise.admin", ""),
        ("a\x00b", PASSWORD),
        ("x" * 65, PASSWORD),
    ):
        response = browser.post(
            "/signin", {"csrf": csrf_of(form.text), "username": username, "password": password}
        )
        assert response.status_code == 400
        assert "Invalid request" in response.text
    assert SESSION_COOKIE not in browser.cookies


def test_signing_out_of_an_expired_session_just_leaves(web: Web) -> None:
    browser = Browser(web.client)
    browser.sign_in("enterprise.admin")
    form = browser.get("/home").text
    with web.platform.db.write() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.kind == "session")).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
    revoked = len(_events(web, "token.revoked"))
    out = browser.post("/signout", {"csrf": csrf_of(form)})
    assert out.status_code == 303
    assert out.headers["location"] == "/"
    assert SESSION_COOKIE not in browser.cookies
    assert len(_events(web, "token.revoked")) == revoked  # nothing was left to revoke
