"""Rate limits on logins, self-registrations and token minting, checked before any work.

An ASGI middleware, so that a refused request never reaches a route: no
argon2 hash is computed (logins cost ~0.1 s of CPU each, and that is what
the limits protect), no transaction is opened and no log entry is written.
A refusal is ``429 rate_limited`` in the error envelope with a
``Retry-After`` header.

- ``POST /api/v1/auth/token`` (login): per client address and per account
  (the username of the body), and exponential back-off: each consecutive
  failed login (401) of an account or an address doubles the wait before the
  next attempt, and a successful login (201) resets it. Logins also count
  against the per-address limit on token minting.
- ``POST /api/v1/participants`` (anonymous self-registration): per client
  address; every registration writes a permanent log entry.
- ``POST /api/v1/tokens`` (token minting): per client address and per bearer
  token (keyed by its hash, never the token).
- ``POST /api/v1/uploads`` (a file into an inbox): per bearer token; each
  upload may write up to ``upload_max_bytes`` to the server's disk.

The client address is the socket peer, unless the peer is one of the
``trusted_proxies``: then it is the nearest address in ``X-Forwarded-For``
that is not itself a trusted proxy (:func:`client_address`).
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datacompact.api._errors import envelope
from datacompact.config import Settings
from datacompact.errors import RateLimited
from datacompact.ratelimits import RateLimits, key_of

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: A rule, its rate and the key it counts for.
Limit = tuple[str, str, str]

LOGIN = "/api/v1/auth/token"
REGISTER = "/api/v1/participants"
ISSUE = "/api/v1/tokens"
UPLOAD = "/api/v1/uploads"


def networks(entries: Sequence[str]) -> tuple[Network, ...]:
    """Parsed addresses and networks of a setting (validated when the settings were read)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _within(address: str, among: Sequence[Network]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in network for network in among)


def peer_address(scope: Scope) -> str:
    """The socket peer of the request ("unknown" when the server does not say)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), decoded as Latin-1."""
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def client_address(scope: Scope, trusted: Sequence[Network]) -> str:
    """The client's address: the peer, or what trusted proxies say in ``X-Forwarded-For``.

    Each proxy appends the address it received the request from, so the list
    is read from the right; the first address that is not a trusted proxy is
    the client. Anything to its left was written by the client and is not
    believed. An entry that is not an address stops the walk at the proxy
    that wrote it.
    """
    address = peer_address(scope)
    if not trusted or not _within(address, trusted):
        return address
    forwarded = ",".join(
        bytes(value).decode("latin-1")
        for key, value in scope.get("headers", [])
        if key == b"x-forwarded-for"
    )
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        ip = _ip(hop)
        if ip is None:
            return address
        address = str(ip)
        if not any(ip in network for network in trusted):
            return address
    return address


def _bearer(scope: Scope) -> str | None:
    value = header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _username(body: bytes) -> str | None:
    """The login's username, if the body is a JSON object with one; anything else is the route's 400."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    username = parsed.get("username") if isinstance(parsed, dict) else None
    return username if isinstance(username, str) and username else None


@dataclass(frozen=True)
class Rates:
    """The limits of the settings, read once when the app is built."""

    login_account: str
    login_address: str
    backoff: float
    backoff_max: float
    registration_address: str
    tokens_address: str
    tokens_credential: str
    uploads_credential: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Rates:
        return cls(
            login_account=settings.rate_limit_login_per_account,
            login_address=settings.rate_limit_login_per_address,
            backoff=settings.rate_limit_login_backoff_seconds,
            backoff_max=settings.rate_limit_login_backoff_max_seconds,
            registration_address=settings.rate_limit_registration_per_address,
            tokens_address=settings.rate_limit_tokens_per_address,
            tokens_credential=settings.rate_limit_tokens_per_credential,
            uploads_credential=settings.rate_limit_uploads_per_credential,
        )


def _backed_off(rule: str, seconds: float) -> RateLimited:
    return RateLimited(
        "登录失败次数过多，请稍后再试 / too many failed logins; wait before trying again",
        details={"rule": rule, "retry_after": max(math.ceil(seconds), 1)},
    )


class RateLimit:
    """Refuses a request over a limit before it reaches its route.

    Counters are read and written on the event loop: in memory (the default)
    that takes microseconds; a network storage adds its round trip to each
    limited request, and only to those.
    """

    def __init__(self, app: ASGIApp, *, limits: RateLimits, settings: Settings) -> None:
        self.app = app
        self.limits = limits
        self.rates = Rates.from_settings(settings)
        self.trusted = networks(settings.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path = scope["path"].rstrip("/")
        try:
            if path == LOGIN:
                await self._login(scope, receive, send)
                return
            if path == REGISTER:
                self._registration(scope)
            elif path == ISSUE:
                self._issue(scope)
            elif path == UPLOAD:
                self._upload(scope)
        except RateLimited as exc:
            await envelope(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _registration(self, scope: Scope) -> None:
        address = client_address(scope, self.trusted)
        self.limits.hit(("registration.address", self.rates.registration_address, address))

    def _issue(self, scope: Scope) -> None:
        address = client_address(scope, self.trusted)
        limits: list[Limit] = [("tokens.address", self.rates.tokens_address, address)]
        credential = _bearer(scope)
        if credential is not None:
            limits.append(("tokens.credential", self.rates.tokens_credential, key_of(credential)))
        self.limits.hit(*limits)

    def _upload(self, scope: Scope) -> None:
        # Without a token the route answers 401 before reading the body.
        credential = _bearer(scope)
        if credential is not None:
            self.limits.hit(
                ("uploads.credential", self.rates.uploads_credential, key_of(credential))
            )

    def _check_backoff(self, rule: str, key: str) -> None:
        left = self.limits.backoff_left(rule, key)
        if left > 0:
            raise _backed_off(rule, left)

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        rates, limits = self.rates, self.limits
        address = client_address(scope, self.trusted)
        self._check_backoff("login.backoff.address", address)
        body, complete = await _read_body(receive)
        if not complete:
            return  # the client went away while sending
        username = _username(body)
        account = key_of(username) if username is not None else None
        counted: list[Limit] = [
            ("login.address", rates.login_address, address),
            ("tokens.address", rates.tokens_address, address),
        ]
        if account is not None:
            self._check_backoff("login.backoff.account", account)
            counted.append(("login.account", rates.login_account, account))
        limits.hit(*counted)

        status = 0
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, replay, watched)
        keys = [("login.backoff.address", address)]
        if account is not None:
            keys.append(("login.backoff.account", account))
        for rule, key in keys:
            if status == 201:
                limits.succeeded(rule, key)
            elif status == 401:
                limits.failed(rule, key, base=rates.backoff, ceiling=rates.backoff_max)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body (its size is bounded by ``BodyLimit`` outside), and whether it came."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True
