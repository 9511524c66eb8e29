"""Sign-in, sign-out and the signed-in home page.

Sign-in checks the password as the API's login does (argon2, one answer for
every failure), counts against the same rate limits and back-off as
``POST /api/v1/auth/token`` (the same rules and keys, so neither door is a way
around the other), and logs the new session as an issued token. A new
session id is made at every sign-in, never taken from the browser, so a
fixed id cannot be planted; signing out revokes it in the store.
"""

from __future__ import annotations

import hmac
import math

from starlette.requests import Request
from starlette.responses import Response

from datacompact.console._web import (
    CSRF_FIELD,
    FORM_KEY,
    PRE_COOKIE,
    SESSION_COOKIE,
    SESSION_TTL,
    Console,
    Context,
    csrf_token,
    local_target,
    redirect,
    writing,
)
from datacompact.errors import Forbidden, InvalidInput, RateLimited, Unauthenticated
from datacompact.policy.applications import list_applications
from datacompact.policy.grants import list_grants
from datacompact.ratelimits import key_of
from datacompact.registry.sessions import end_session, start_session
from datacompact.registry.tokens import list_tokens, revoke_token
from datacompact.schemas_base import MAX_ID, first_non_character

#: The most applications the home page lists (oldest first, as the service pages them).
HOME_ROWS = 100


def _form(request: Request) -> dict[str, str]:
    form = request.scope.get(FORM_KEY)
    return form if isinstance(form, dict) else {}


def check_csrf(ctx: Context, form: dict[str, str]) -> None:
    """Refuse a form post whose token is missing or bound to another session or visitor."""
    sent = form.get(CSRF_FIELD, "")
    if not sent or not hmac.compare_digest(sent, csrf_token(ctx.csrf_key, ctx.binding)):
        raise Forbidden(
            "表单已失效或来源不明，请刷新页面后重试 / the form is stale or was not sent from "
            "this site; reload the page and try again",
            details={"reason": "csrf"},
        )


def signin_form(request: Request, ctx: Context, console: Console) -> Response:
    if ctx.session is not None:
        return redirect(local_target(request.query_params.get("next"), "/home"))
    return console.renderer.render(
        ctx, "signin.html", next=local_target(request.query_params.get("next"), "/home"), failed=""
    )


def _backed_off(seconds: float) -> RateLimited:
    return RateLimited(
        "登录失败次数过多，请稍后再试 / too many failed logins; wait before trying again",
        details={"retry_after": max(math.ceil(seconds), 1)},
    )


def signin(request: Request, ctx: Context, console: Console) -> Response:
    form = _form(request)
    check_csrf(ctx, form)
    username = form.get("username", "").strip()
    password = form.get("password", "")
    target = local_target(form.get("next"), "/home")
    if (
        not username
        or not password
        or len(username) > 64
        or len(password) > 1024
        or first_non_character(username) is not None
    ):
        raise InvalidInput(
            "请输入用户名和密码 / enter your username and password",
            details={"field": "username"},
        )
    platform = ctx.platform
    settings = platform.settings
    limits = platform.rate_limits
    address = console.client_address(request.scope)
    account = key_of(username)
    for rule, key in (("login.backoff.address", address), ("login.backoff.account", account)):
        left = limits.backoff_left(rule, key)
        if left > 0:
            raise _backed_off(left)
    limits.hit(
        ("login.address", settings.rate_limit_login_per_address, address),
        ("tokens.address", settings.rate_limit_tokens_per_address, address),
        ("login.account", settings.rate_limit_login_per_account, account),
    )
    backoff = (("login.backoff.address", address), ("login.backoff.account", account))
    try:
        recorded = start_session(
            db=platform.db,
            governance=settings.governance_mode,
            username=username,
            password=password,
            ttl=SESSION_TTL,
        )
    except Unauthenticated:
        for rule, key in backoff:
            limits.failed(
                rule,
                key,
                base=settings.rate_limit_login_backoff_seconds,
                ceiling=settings.rate_limit_login_backoff_max_seconds,
            )
        return console.renderer.render(ctx, "signin.html", status=401, next=target, failed="wrong")
    for rule, key in backoff:
        limits.succeeded(rule, key)
    response = redirect(target)
    ctx.set_cookie(SESSION_COOKIE, recorded.value, max_age=int(SESSION_TTL.total_seconds()))
    ctx.delete_cookie(PRE_COOKIE)
    return response


def signout(request: Request, ctx: Context, console: Console) -> Response:
    if ctx.session is None:
        # Already ended (expired, revoked): nothing to revoke, and no session to check against.
        ctx.delete_cookie(SESSION_COOKIE)
        return redirect("/")
    check_csrf(ctx, _form(request))
    value = request.cookies.get(SESSION_COOKIE)
    if ctx.session is not None and value:
        end_session(
            db=ctx.platform.db, governance=ctx.platform.settings.governance_mode, value=value
        )
    ctx.delete_cookie(SESSION_COOKIE)
    return redirect("/")


def home(request: Request, ctx: Context, console: Console) -> Response:
    if ctx.session is None:
        raise Unauthenticated("请先登录 / sign in first")
    actor = ctx.principal
    with ctx.platform.db.read() as session:
        credentials = list_tokens(session=session, actor=actor)
        try:
            grants = list_grants(session=session, actor=actor)
        except Forbidden:
            grants = []
        try:
            applications = list_applications(session=session, actor=actor, limit=HOME_ROWS)
        except Forbidden:
            applications = []
    logged = request.query_params.get("logged", "")
    return console.renderer.render(
        ctx,
        "home.html",
        logged=int(logged) if logged.isdigit() and len(logged) < 19 else None,
        me=ctx.session,
        roles=sorted(actor.roles),
        credentials=credentials,
        grants=grants,
        applications=applications,
    )


def revoke(request: Request, ctx: Context, console: Console) -> Response:
    """Revoke one of the member's sessions or API tokens (an admin: of their members too)."""
    check_csrf(ctx, _form(request))
    text = str(request.path_params["token_id"])
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise InvalidInput("令牌编号无效 / invalid token id", details={"field": "token_id"})
    with writing(ctx) as (session, actor):
        recorded = revoke_token(session=session, actor=actor, token_id=int(text))
    if ctx.session is not None and recorded.value.id == ctx.session.token_id:
        ctx.delete_cookie(SESSION_COOKIE)
        return redirect("/")
    return redirect(f"/home?logged={recorded.log_index}")
