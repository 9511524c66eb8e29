"""API tokens: random, stored only as hashes, scoped, expiring and revocable.

A token is ``dct_`` followed by 43 URL-safe characters (256 random bits).
Only its SHA-256 is stored: with that much entropy a fast hash is enough, and
a database leak yields no usable token. A token's scopes narrow the roles it
may exercise; the effective roles are the member's current roles ∩ scopes, so
taking a role from a member also takes it from every token they hold.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from datacompact.clock import utcnow
from datacompact.config import GovernanceMode
from datacompact.errors import (
    Forbidden,
    InvalidInput,
    InvalidTransition,
    TokenExpired,
    TokenRevoked,
    Unauthenticated,
)
from datacompact.events import EventType, Recorded, record_event
from datacompact.permissions import Actions, Principal, Role, TokenResource, authorize
from datacompact.registry import lookup
from datacompact.registry.members import verify_password
from datacompact.registry.schemas import ParticipantStatus
from datacompact.store.models import ApiToken, Member
from datacompact.store.session import Database

TOKEN_PREFIX = "dct_"  # noqa: S105 - a public marker, not a secret
SESSION_PREFIX = "dcs_"  # a console session (registry.sessions), never a bearer token
_TOKEN_LENGTH = len(TOKEN_PREFIX) + 43
#: Each kind of credential stored in the token table, and its prefix.
KIND_PREFIX = {"api": TOKEN_PREFIX, "session": SESSION_PREFIX}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token_value(kind: str = "api") -> str:
    return KIND_PREFIX[kind] + secrets.token_urlsafe(32)


def _store(
    session: Session,
    *,
    member: Member,
    value: str,
    label: str,
    scopes: list[Role] | None,
    ttl: timedelta,
    ceiling: frozenset[Role] | None = None,
    kind: str = "api",
) -> ApiToken:
    # A token never carries more than its member holds, nor more than the
    # credential that issues it: a narrowed token cannot mint a wider one.
    granted = set(member.roles)
    if ceiling is not None:
        granted &= {r.value for r in ceiling}
    wanted = {s.value for s in scopes} if scopes is not None else granted
    if not wanted:
        raise InvalidInput("令牌至少需要一个范围 / a token needs at least one scope")
    if not wanted <= granted:
        raise InvalidInput(
            "令牌范围超出可授予的角色 / token scopes must be a subset of the roles the member "
            "holds and the issuing token may exercise",
            details={"not_held": sorted(wanted - granted)},
        )
    token = ApiToken(
        member_id=member.id,
        token_sha256=token_digest(value),
        label=label,
        scopes=sorted(wanted),
        expires_at=utcnow() + ttl,
        kind=kind,
    )
    session.add(token)
    session.flush()
    return token


def _record_issue(session: Session, actor: Principal, token: ApiToken) -> int:
    return record_event(
        session,
        actor=actor,
        type=EventType.TOKEN_ISSUED,
        object_type="token",
        object_id=token.id,
        payload={
            "member_id": token.member_id,
            "scopes": token.scopes,
            "expires_at": token.expires_at.isoformat(),
            # Bearer tokens keep the payload they always had.
            **({"kind": token.kind} if token.kind != "api" else {}),
        },
    ).seq


def issue_token(
    *,
    session: Session,
    actor: Principal,
    label: str,
    scopes: list[Role] | None,
    ttl: timedelta,
    member_id: int | None = None,
) -> Recorded[tuple[ApiToken, str]]:
    """Issue a token for the actor, or (as admin) for a member of the actor's participant."""
    member = lookup.member_or_self(session, actor, member_id)
    authorize(
        actor=actor,
        action=Actions.TOKEN_MANAGE,
        resource=TokenResource(participant_id=member.participant_id, member_id=member.id),
    )
    if not member.active:
        raise InvalidTransition(
            "成员已停用 / the member is inactive", details={"member_id": member.id}
        )
    value = new_token_value()
    token = _store(
        session,
        member=member,
        value=value,
        label=label,
        scopes=scopes,
        ttl=ttl,
        # For oneself: at most the issuing token's effective roles. For another
        # member (as admin): at most that member's roles.
        ceiling=actor.roles if member.id == actor.member_id else None,
    )
    return Recorded((token, value), _record_issue(session, actor, token))


def login(
    *,
    db: Database,
    governance: GovernanceMode,
    username: str,
    password: str,
    label: str,
    ttl: timedelta,
    kind: str = "api",
) -> Recorded[tuple[ApiToken, str]]:
    """Exchange a console password for a token. Failure never says which part was wrong.

    The password is checked in a read transaction, so the ~0.1 s of argon2 never
    holds the write lock; an unknown user costs the same hash as a known one,
    and a member who may not act gets the same answer as a wrong password.
    ``kind="session"`` makes a console session (:mod:`.sessions`) instead of a
    bearer token; both are logged as an issued token.
    """
    wrong = Unauthenticated("用户名或密码错误 / wrong username or password")
    with db.read() as session:
        found = session.scalar(select(Member).where(Member.username == username))
        if not verify_password(found.password_hash if found else None, password):
            raise wrong
        assert found is not None  # noqa: S101 - verify_password() is false without a member
        member_id = found.id
    with db.write() as session:
        member = lookup.member(session, member_id)
        try:
            principal = principal_for(member, scopes=member.roles, governance=governance)
        except Forbidden as exc:
            raise wrong from exc
        value = new_token_value(kind)
        token = _store(
            session, member=member, value=value, label=label, scopes=None, ttl=ttl, kind=kind
        )
        return Recorded((token, value), _record_issue(session, principal, token))


def issue_known_token(
    session: Session,
    *,
    actor: Principal,
    member: Member,
    value: str,
    label: str,
    ttl: timedelta,
) -> Recorded[ApiToken]:
    """Issue a token whose value the caller derived (demo credentials), logged like any other."""
    token = _store(session, member=member, value=value, label=label, scopes=None, ttl=ttl)
    return Recorded(token, _record_issue(session, actor, token))


def find_token(session: Session, value: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.token_sha256 == token_digest(value)))


def list_tokens(
    *, session: Session, actor: Principal, member_id: int | None = None
) -> list[ApiToken]:
    member = lookup.member_or_self(session, actor, member_id)
    authorize(
        actor=actor,
        action=Actions.TOKEN_MANAGE,
        resource=TokenResource(participant_id=member.participant_id, member_id=member.id),
    )
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.member_id == member.id).order_by(ApiToken.id)
        )
    )


def revoke_token(*, session: Session, actor: Principal, token_id: int) -> Recorded[ApiToken]:
    token = lookup.token(session, token_id, lock=True)
    authorize(
        actor=actor,
        action=Actions.TOKEN_MANAGE,
        resource=TokenResource(
            participant_id=token.member.participant_id, member_id=token.member_id
        ),
    )
    if token.revoked_at is not None:
        raise InvalidTransition(
            "令牌已吊销 / the token is already revoked", details={"token_id": token.id}
        )
    token.revoked_at = utcnow()
    event = record_event(
        session,
        actor=actor,
        type=EventType.TOKEN_REVOKED,
        object_type="token",
        object_id=token.id,
        payload={
            "member_id": token.member_id,
            **({"kind": token.kind} if token.kind != "api" else {}),
        },
    )
    return Recorded(token, event.seq)


def principal_for(member: Member, *, scopes: list[str], governance: GovernanceMode) -> Principal:
    participant = member.participant
    if not member.active:
        raise Forbidden(
            "成员已停用 / the member is inactive", details={"reason": "member_inactive"}
        )
    if participant.status != ParticipantStatus.APPROVED:
        raise Forbidden(
            f"所属参与方状态为 {participant.status} / the member's participant is {participant.status}",
            details={"reason": "participant_not_approved", "status": participant.status},
        )
    roles = frozenset(Role(r) for r in set(member.roles) & set(scopes))
    return Principal.member(
        member_id=member.id,
        participant_id=participant.id,
        participant_kind=participant.kind,
        roles=roles,
        governance=governance,
    )


def authenticate(
    *, session: Session, token: str, governance: GovernanceMode, now: datetime | None = None
) -> Principal:
    """The principal a bearer token stands for, or the precise reason it does not."""
    if len(token) != _TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated("令牌格式无效 / the token is not a DataCompact API token")
    record = session.scalar(
        select(ApiToken)
        .options(joinedload(ApiToken.member).joinedload(Member.participant))
        .where(ApiToken.token_sha256 == token_digest(token))
    )
    if (
        record is None
        or not hmac.compare_digest(record.token_sha256, token_digest(token))
        or record.kind != "api"
    ):
        raise Unauthenticated("令牌无效 / unknown token")
    if record.revoked_at is not None:
        raise TokenRevoked("令牌已吊销 / the token has been revoked")
    if record.expires_at <= (now or utcnow()):
        raise TokenExpired("令牌已过期 / the token has expired")
    return principal_for(record.member, scopes=record.scopes, governance=governance)
