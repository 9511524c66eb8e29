"""Request plumbing shared by the routers: the platform, the bearer token, transactions.

A request authenticates inside the same transaction as the work it does, so
a token revoked or a participant suspended a moment earlier is never honoured
by a later write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from datacompact.api._access_log import note_principal
from datacompact.errors import Unauthenticated
from datacompact.permissions import Principal
from datacompact.platform import Platform
from datacompact.registry.tokens import authenticate

_bearer = HTTPBearer(auto_error=False, description="API token (dct_...)")

# Every id and index is a signed 64-bit integer in the store; anything larger
# is refused as invalid input here instead of overflowing a driver.
MAX_ID = 2**63 - 1
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
LogIndex = Annotated[int, Path(ge=0, le=MAX_ID - 1)]

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def _principal(request: Request, session: Session, credentials: Credentials) -> Principal:
    mode = platform_of(request).settings.governance_mode
    if credentials is None:
        raise Unauthenticated("需要 Bearer 令牌 / a bearer token is required")
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
        yield session, _principal(request, session, credentials)


def authenticated(request: Request, credentials: Credentials) -> Principal:
    """The principal, for services that manage their own transactions (long ingestions)."""
    with platform_of(request).db.read() as session:
        return _principal(request, session, credentials)


def recheck(request: Request, credentials: Credentials) -> Callable[[Session], Principal]:
    """Authentication again, inside a service's final transaction (long ingestions)."""
    return lambda session: _principal(request, session, credentials)


def receipt(data: Any, log_index: int) -> dict[str, Any]:
    """The body of a state-changing response: the result and its log entry's index."""
    return {"data": data, "receipt": {"log_index": log_index}}
