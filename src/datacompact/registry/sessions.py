"""Console sessions: sign-in by password, idle and absolute expiry, sign-out.

A session is a row of the token table of kind ``session``: its value
(``dcs_`` and 256 random bits) lives only in the browser's cookie, and only
its SHA-256 is stored. It stands for the member with all their current roles,
like a password login, and is refused wherever a bearer token is expected
(and a bearer token is refused as a session). Starting and ending one are the
same logged events as issuing and revoking a token, with ``kind: session``.

A session ends at the first of: sign-out, its absolute expiry
(``expires_at``), ``idle`` without use, or anything that ends the member's
right to act (deactivation, a suspended participant).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from datacompact.clock import utcnow
from datacompact.config import GovernanceMode
from datacompact.errors import Forbidden, TokenExpired, TokenRevoked, Unauthenticated
from datacompact.events import EventType, Recorded, record_event
from datacompact.permissions import Principal
from datacompact.registry import tokens
from datacompact.store.models import ApiToken, Member
from datacompact.store.session import Database

KIND = "session"
LABEL = "console"
#: A session's last use is written at most this often (a read otherwise stays a read).
TOUCH_EVERY = timedelta(seconds=60)

__all__ = [
    "KIND",
    "ActiveSession",
    "end_session",
    "resume_session",
    "session_principal",
    "start_session",
]


@dataclass(frozen=True)
class ActiveSession:
    """A resumed session: who it stands for, its row and its username."""

    principal: Principal
    token_id: int
    username: str
    display_name: str
    expires_at: datetime


def start_session(
    *, db: Database, governance: GovernanceMode, username: str, password: str, ttl: timedelta
) -> Recorded[str]:
    """Check the password (argon2, as a login) and start a session; the value is for the cookie."""
    recorded = tokens.login(
        db=db,
        governance=governance,
        username=username,
        password=password,
        label=LABEL,
        ttl=ttl,
        kind=KIND,
    )
    _token, value = recorded.value
    return Recorded(value, recorded.log_index)


def _find(session: Session, value: str) -> ApiToken | None:
    prefix = tokens.SESSION_PREFIX
    if len(value) != len(prefix) + 43 or not value.startswith(prefix):
        return None
    digest = tokens.token_digest(value)
    record = session.scalar(
        select(ApiToken)
        .options(joinedload(ApiToken.member).joinedload(Member.participant))
        .where(ApiToken.token_sha256 == digest)
    )
    if record is None or record.kind != KIND:
        return None
    if not hmac.compare_digest(record.token_sha256, digest):
        return None
    return record


def _check(
    session: Session, *, governance: GovernanceMode, value: str, idle: timedelta, now: datetime
) -> tuple[ApiToken, Principal]:
    record = _find(session, value)
    if record is None:
        raise Unauthenticated("会话无效 / unknown session")
    if record.revoked_at is not None:
        raise TokenRevoked("会话已结束 / the session has been signed out")
    if record.expires_at <= now:
        raise TokenExpired("会话已过期 / the session has expired")
    if (record.last_used_at or record.created_at) + idle <= now:
        raise TokenExpired("会话因长时间未操作而过期 / the session has expired after inactivity")
    principal = tokens.principal_for(record.member, scopes=record.scopes, governance=governance)
    return record, principal


def session_principal(
    session: Session, *, governance: GovernanceMode, value: str, idle: timedelta
) -> Principal:
    """The principal of a session, checked inside ``session`` (a write's own transaction)."""
    return _check(session, governance=governance, value=value, idle=idle, now=utcnow())[1]


def resume_session(
    *, db: Database, governance: GovernanceMode, value: str, idle: timedelta
) -> ActiveSession:
    """The session of a cookie's value, or the precise reason it is not one any more.

    Its last use is refreshed (at most every :data:`TOUCH_EVERY`), which
    moves its idle expiry; the absolute expiry never moves.
    """
    now = utcnow()
    with db.read() as session:
        record, principal = _check(session, governance=governance, value=value, idle=idle, now=now)
        found = ActiveSession(
            principal=principal,
            token_id=record.id,
            username=record.member.username,
            display_name=record.member.display_name,
            expires_at=record.expires_at,
        )
        stale = now - (record.last_used_at or record.created_at) >= TOUCH_EVERY
    if stale:
        with db.write() as session:
            row = session.get(ApiToken, found.token_id)
            if row is not None and row.revoked_at is None:
                row.last_used_at = now
    return found


def end_session(*, db: Database, governance: GovernanceMode, value: str) -> int | None:
    """Sign out: revoke the session and log it; the log index, or None if it had already ended."""
    with db.write() as session:
        record = _find(session, value)
        if record is None or record.revoked_at is not None:
            return None
        record.revoked_at = utcnow()
        try:
            actor = tokens.principal_for(record.member, scopes=record.scopes, governance=governance)
        except Forbidden:  # a member who may no longer act still signs out
            actor = Principal.anonymous(governance)
        event = record_event(
            session,
            actor=actor,
            type=EventType.TOKEN_REVOKED,
            object_type="token",
            object_id=record.id,
            payload={"member_id": record.member_id, "kind": KIND},
        )
        return event.seq
