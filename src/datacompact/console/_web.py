"""What every console page shares: the request's language, session and CSRF token,
rendering, error pages, cookies and the security headers.

A page handler is a plain function ``(request, ctx) -> Response`` wrapped by
:func:`page`, which builds the :class:`Context`, runs the handler in the
thread pool, and turns any error into a page in the user's language: never a
stack trace, never the API's JSON envelope.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datacompact.catalog.dcat import Text
from datacompact.console import i18n
from datacompact.console.assets import Assets
from datacompact.crypto import derive_key
from datacompact.errors import (
    DataCompactError,
    Forbidden,
    InvalidCharacter,
    TokenExpired,
    TokenRevoked,
    Unauthenticated,
)
from datacompact.permissions import Principal
from datacompact.platform import Platform
from datacompact.registry.sessions import ActiveSession, resume_session, session_principal
from datacompact.schemas_base import first_non_character

log = logging.getLogger("datacompact.console")

SESSION_COOKIE = "dc_session"
#: The anonymous visitor's random CSRF binding (the sign-in form's), replaced at sign-in.
PRE_COOKIE = "dc_pre"
CSRF_FIELD = "csrf"
#: Where :func:`page` leaves a post's parsed form fields for its handler.
FORM_KEY = "datacompact.console.form"
#: The same fields as (name, value) pairs in order, for a field sent more than once (checkboxes).
FORM_ITEMS_KEY = "datacompact.console.form.items"
#: A session ends after this long without a request, and at the latest after SESSION_TTL.
SESSION_IDLE = timedelta(minutes=30)
SESSION_TTL = timedelta(hours=12)

#: No inline script or style anywhere; every asset from this origin.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    """Adds the security headers to every console response; pages are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if b"cache-control" not in present:
                    # A page depends on the session and the language; static files
                    # (immutable, by content hash) depend on neither.
                    headers.append((b"cache-control", b"no-store"))
                    headers.append((b"vary", b"Cookie, Accept-Language"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


@dataclass
class Context:
    """One request as a page sees it."""

    request: Request
    platform: Platform
    lang: str
    session: ActiveSession | None
    binding: str  # what the CSRF token is bound to: the session, or the pre-session cookie
    csrf_key: bytes
    cookies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def principal(self) -> Principal:
        if self.session is not None:
            return self.session.principal
        return Principal.anonymous(self.platform.settings.governance_mode)

    @property
    def csrf(self) -> str:
        return csrf_token(self.csrf_key, self.binding)

    @property
    def secure(self) -> bool:
        """Cookies are Secure when the request came over TLS (or the platform is served on https)."""
        return (
            self.request.url.scheme == "https"
            or self.platform.settings.public_base_url.startswith("https://")
        )

    def set_cookie(self, name: str, value: str, *, max_age: int | None = None) -> None:
        self.cookies.append(
            (
                name,
                value,
                {
                    "max_age": max_age,
                    "httponly": True,
                    "samesite": "strict",
                    "secure": self.secure,
                    "path": "/",
                },
            )
        )

    def delete_cookie(self, name: str) -> None:
        self.set_cookie(name, "", max_age=0)


def csrf_token(key: bytes, binding: str) -> str:
    """The form token of one session (or one anonymous visitor): an HMAC of its cookie."""
    mac = hmac.new(key, b"console-csrf\x00" + binding.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


class Renderer:
    """One Jinja environment per language, autoescaping, with its catalog installed."""

    def __init__(self, assets: Assets) -> None:
        self.assets = assets
        self._envs: dict[str, Environment] = {}
        folder = Path(__file__).parent / "templates"
        for code in i18n.LANGUAGES:
            env = Environment(
                loader=FileSystemLoader(folder),
                autoescape=select_autoescape(default=True, default_for_string=True),
                undefined=StrictUndefined,
                extensions=["jinja2.ext.i18n"],
            )
            env.install_gettext_translations(i18n.translations(code), newstyle=True)  # type: ignore[attr-defined]
            self._envs[code] = env

    def render(self, ctx: Context, template: str, status: int = 200, **values: Any) -> Response:
        env = self._envs[ctx.lang]
        html = env.get_template(template).render(
            ctx=ctx,
            lang=ctx.lang,
            html_lang=i18n.LANGUAGES[ctx.lang][1],
            fmt=i18n.Formats(ctx.lang),
            asset=self.assets.url,
            path=_here(ctx.request),
            half=lambda text: half(ctx.lang, str(text)),
            **values,
        )
        return HTMLResponse(html, status_code=status)


def _here(request: Request) -> str:
    """The current path and query, for the language switch to come back to."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def local_target(value: str | None, default: str = "/") -> str:
    """A redirect target only within this site: a path, never another origin.

    >>> local_target("/catalog?q=1")
    '/catalog?q=1'
    >>> local_target("//evil.example/")
    '/'
    >>> local_target("javascript:alert(1)")
    '/'
    """
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ord(ch) < 0x21 for ch in value):
        return default
    return value


def gettext_of(lang: str) -> Callable[[str], str]:
    return i18n.translations(lang).gettext


def half(lang: str, text: str) -> str:
    """The half of a bilingual platform text ("中文 / English") in the page's language.

    >>> half("en", "令牌已过期 / the token has expired")
    'the token has expired'
    >>> half("zh-CN", "令牌已过期 / the token has expired")
    '令牌已过期'
    >>> half("en", "GB/T 43697-2024")
    'GB/T 43697-2024'
    >>> half("en", "路径 a / b 的说明")
    '路径 a / b 的说明'
    """
    if not text.strip():
        return text
    both = Text.bilingual(text)
    return both.zh if lang == "zh-CN" or both.en is None else both.en


def message_for(lang: str, error: DataCompactError) -> str:
    """An error's message in the page's language."""
    return half(lang, error.message)


class Console:
    """What the console keeps per app: the platform, the renderer and the keys."""

    def __init__(
        self, platform: Platform, assets: Assets, client_address: Callable[[Scope], str]
    ) -> None:
        self.platform = platform
        self.renderer = Renderer(assets)
        self.client_address = client_address

    @cached_property
    def csrf_key(self) -> bytes:
        """Derived on first use: an app is built before the secret is checked (readyz)."""
        return derive_key(self.platform.secret, purpose=b"console-csrf")

    def context(self, request: Request) -> Context:
        _check_characters(request)
        lang = i18n.choose(
            switch=None,
            cookie=request.cookies.get(i18n.COOKIE),
            accept=request.headers.get("accept-language"),
        )
        settings = self.platform.settings
        ctx = Context(request, self.platform, lang, None, "", self.csrf_key)
        value = request.cookies.get(SESSION_COOKIE)
        if value:
            try:
                ctx.session = resume_session(
                    db=self.platform.db,
                    governance=settings.governance_mode,
                    value=value,
                    idle=SESSION_IDLE,
                )
                ctx.binding = "session:" + value
            except (Unauthenticated, TokenExpired, TokenRevoked, Forbidden):
                # A made-up, ended or expired session is not one: the cookie goes.
                ctx.delete_cookie(SESSION_COOKIE)
        if ctx.session is None:
            pre = request.cookies.get(PRE_COOKIE, "")
            if len(pre) != 43 or first_non_character(pre) is not None:
                pre = secrets.token_urlsafe(32)
                ctx.set_cookie(PRE_COOKIE, pre)
            ctx.binding = "pre:" + pre
        return ctx

    def error_page(self, ctx: Context, error: DataCompactError) -> Response:
        status = error.status if 400 <= error.status < 600 else 500
        if isinstance(error, Forbidden) and error.details.get("reason") == "csrf":
            return self.renderer.render(
                ctx, "error.html", status=403, kind="stale_form", detail="", next=_here(ctx.request)
            )
        if status == 401 or (isinstance(error, Forbidden) and ctx.session is None):
            # Not signed in: the page says so and offers the sign-in.
            return self.renderer.render(
                ctx,
                "error.html",
                status=status,
                kind="signin",
                detail=message_for(ctx.lang, error),
                next=_here(ctx.request),
            )
        kind = {
            400: "invalid",
            403: "forbidden",
            404: "not_found",
            409: "conflict",
            413: "too_large",
            422: "invalid",
            429: "rate_limited",
        }.get(status, "internal")
        detail = message_for(ctx.lang, error) if status < 500 else ""
        headers = {}
        retry = error.details.get("retry_after")
        if status == 429 and isinstance(retry, int):
            headers["Retry-After"] = str(retry)
        response = self.renderer.render(
            ctx, "error.html", status=status, kind=kind, detail=detail, next=_here(ctx.request)
        )
        response.headers.update(headers)
        return response

    def bare_context(self, request: Request) -> Context:
        """A context for an error page when the request itself was refused."""
        lang = i18n.choose(
            switch=None,
            cookie=request.cookies.get(i18n.COOKIE),
            accept=request.headers.get("accept-language"),
        )
        return Context(request, self.platform, lang, None, "pre:", self.csrf_key)


def _check_characters(request: Request) -> None:
    """Refuse control characters in the path and query, as the API does."""
    places = [("path", k, str(v)) for k, v in request.path_params.items()]
    for name, value in request.query_params.multi_items():
        places += [("query", name, name), ("query", name, value)]
    refused = [name for _, name, value in places if first_non_character(value) is not None]
    if refused:
        raise InvalidCharacter(
            "文本含有控制字符或非字符 / expected text without NUL, control characters, "
            "surrogates or noncharacters",
            details={"errors": [{"loc": ["query"], "type": "invalid_character"}]},
        )


Handler = Callable[[Request, Context], Response]


def page(console: Console, handler: Handler) -> Callable[[Request], Any]:
    """A Starlette endpoint around ``handler``: context, thread pool, error pages, cookies."""

    async def endpoint(request: Request) -> Response:
        if request.method == "POST":
            # Read here, on the loop; the handler runs in the thread pool.
            try:
                form = await request.form(max_files=0, max_fields=20, max_part_size=64 * 1024)
                items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
            except Exception:
                items = []
            request.scope[FORM_KEY] = dict(items)
            request.scope[FORM_ITEMS_KEY] = items

        def run() -> Response:
            try:
                ctx = console.context(request)
            except DataCompactError as exc:
                ctx = console.bare_context(request)
                return console.error_page(ctx, exc)
            try:
                response = handler(request, ctx)
            except DataCompactError as exc:
                response = console.error_page(ctx, exc)
            except Exception:
                log.exception("console page %s failed", request.url.path)
                response = console.error_page(ctx, DataCompactError("内部错误 / internal error"))
            for name, value, options in ctx.cookies:
                response.set_cookie(name, value, **options)
            return response

        return await run_in_threadpool(run)

    return endpoint


@contextmanager
def writing(ctx: Context) -> Iterator[tuple[Session, Principal]]:
    """A write transaction and the session's principal, checked again inside it (as the API does)."""
    value = ctx.request.cookies.get(SESSION_COOKIE)
    if ctx.session is None or not value:
        raise Unauthenticated("请先登录 / sign in first")
    with ctx.platform.db.write() as session:
        principal = session_principal(
            session,
            governance=ctx.platform.settings.governance_mode,
            value=value,
            idle=SESSION_IDLE,
        )
        yield session, principal


def redirect(target: str) -> RedirectResponse:
    """See other (303): after a form post, the browser gets the next page."""
    return RedirectResponse(target, status_code=303)
