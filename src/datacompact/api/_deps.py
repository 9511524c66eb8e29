"""Request plumbing shared by the routers: the platform, the bearer token, transactions.

A request authenticates inside the same transaction as the work it does, so
a token revoked or a participant suspended a moment earlier is never honoured
by a later write. Reads take the principal from the process's cache of
verified tokens (:mod:`datacompact.api._credentials`), which is checked
against the log in the read's own transaction and so is never stale either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from datacompact import schemas_base
from datacompact.api._access_log import note_principal
from datacompact.api._credentials import VerifiedTokens
from datacompact.api._freshness import Views
from datacompact.errors import InvalidCharacter, Unauthenticated
from datacompact.permissions import Principal
from datacompact.platform import Platform
from datacompact.registry.tokens import authenticate
from datacompact.schemas_base import INVALID_CHARACTER, first_non_character

_bearer = HTTPBearer(auto_error=False, description="API token (dct_...)")

MAX_ID = schemas_base.MAX_ID
MAX_INDEX = schemas_base.MAX_INDEX
# Anything larger than the store's column holds is refused as invalid input
# here instead of overflowing a driver (PostgreSQL ids are 32-bit).
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
LogIndex = Annotated[int, Path(ge=0, le=MAX_INDEX - 1)]

#: The OpenAPI schema of a binary response body (tiles, downloads).
BINARY = {"type": "string", "format": "binary"}
#: The OpenAPI schema of a text response body (keys, checkpoints, Turtle).
TEXT = {"type": "string"}

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
#: ``openapi_extra`` of the routes of :func:`reading_published`: the bearer token is
#: optional (FastAPI lists the bearer scheme; an empty requirement adds "or none").
TOKEN_OPTIONAL: dict[str, Any] = {"security": [{}]}


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def only_characters(request: Request) -> None:
    """Refuse control characters and noncharacters in the path, the query and the token.

    Bodies are checked by their schemas (:class:`datacompact.schemas_base.Strict`);
    this app-wide dependency covers the rest of what can reach the store, all
    single-line text. The error names the parameter, never its value. It is
    ``async`` because it only reads the request: FastAPI would run a plain
    function in the thread pool, a hand-off per request for microseconds of work.
    """
    places: list[tuple[str, str, str]] = [
        ("path", name, value) for name, value in request.path_params.items()
    ]
    for name, value in request.query_params.multi_items():
        places += [("query", name, name), ("query", name, value)]
    authorization = request.headers.get("authorization")
    if authorization is not None:
        places.append(("header", "authorization", authorization))
    refused = [
        {"loc": [where, _printable(name)], "type": INVALID_CHARACTER}
        for where, name, value in places
        if first_non_character(value) is not None
    ]
    if refused:
        names = ", ".join(".".join(p["loc"]) for p in refused)
        raise InvalidCharacter(
            "文本含有控制字符或非字符 / expected text without NUL, control characters, "
            f"surrogates or noncharacters in {names}",
            details={"errors": refused},
        )


def _printable(name: str) -> str:
    # A parameter name is echoed in the error; a refused one is replaced, not quoted.
    return name if first_non_character(name) is None else "?"


def _principal(
    request: Request, session: Session, credentials: Credentials, *, cached: bool = False
) -> Principal:
    mode = platform_of(request).settings.governance_mode
    if credentials is None:
        raise Unauthenticated("需要 Bearer 令牌 / a bearer token is required")
    if cached:
        verified: VerifiedTokens = request.app.state.verified_tokens
        principal = verified.principal(session, token=credentials.credentials, governance=mode)
    else:
        principal = authenticate(session=session, token=credentials.credentials, governance=mode)
    note_principal(request.scope, principal)  # for the access log
    return principal


@contextmanager
def writing(request: Request, credentials: Credentials) -> Iterator[tuple[Session, Principal]]:
    """A write transaction and the authenticated principal."""
    with platform_of(request).db.write() as session:
        yield session, _principal(request, session, credentials)


@contextmanager
def reading(request: Request, credentials: Credentials) -> Iterator[tuple[Session, Principal]]:
    """A read transaction and the authenticated principal."""
    with platform_of(request).db.read() as session:
        yield session, _principal(request, session, credentials, cached=True)


@contextmanager
def reading_published(
    request: Request, credentials: Credentials
) -> Iterator[tuple[Session, Principal]]:
    """A read transaction and the principal: the anonymous one when no token is sent.

    For the routes of published objects (the catalog, public profiles): what
    the anonymous principal may read is decided by ``authorize``. A credential
    that is sent must be a valid bearer token; any other is refused, never
    read as anonymous.
    """
    if credentials is None and request.headers.get("authorization") is not None:
        # Another scheme than Bearer (Basic ...): a credential was meant, and it is refused.
        raise Unauthenticated("需要 Bearer 令牌 / a bearer token is required")
    with platform_of(request).db.read() as session:
        if credentials is None:
            yield session, Principal.anonymous(platform_of(request).settings.governance_mode)
        else:
            yield session, _principal(request, session, credentials, cached=True)


def authenticated(request: Request, credentials: Credentials) -> Principal:
    """The principal, for services that manage their own transactions (long ingestions)."""
    with platform_of(request).db.read() as session:
        return _principal(request, session, credentials, cached=True)


def recheck(request: Request, credentials: Credentials) -> Callable[[Session], Principal]:
    """Authentication again, inside a service's own write transaction (queries, ingestions).

    As every read does, it serves the principal this worker verified while the
    log, read in that very transaction, shows no change but query outcomes
    since; the service authorizes it again.
    """
    return lambda session: _principal(request, session, credentials, cached=True)


def views_of(request: Request) -> Views:
    """What this worker keeps of state read earlier (see :mod:`._freshness`)."""
    views: Views = request.app.state.views
    return views


def receipt(data: Any, log_index: int) -> dict[str, Any]:
    """The body of a state-changing response: the result and its log entry's index."""
    return {"data": data, "receipt": {"log_index": log_index}}
