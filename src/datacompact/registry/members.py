"""Members: the people who act for a participant, their roles and passwords.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second
recommended parameter set); only the hash is stored.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.errors import DuplicateRegistration, InvalidInput, InvalidTransition
from datacompact.events import EventType, Recorded, record_event
from datacompact.permissions import Actions, MemberResource, Principal, Role, authorize
from datacompact.registry import lookup
from datacompact.registry.schemas import MemberCreate, ParticipantStatus
from datacompact.store.models import Member, Participant

_hasher = PasswordHasher()

#: For passwords drawn at random with at least 128 bits (the demo city's
#: derived ones). The memory-hard cost of the default parameters slows the
#: guessing of passwords people choose; against 2**128 candidates it buys
#: nothing, so these hash in about a millisecond instead of a tenth of a
#: second. Verification reads the parameters from the stored hash, so both
#: kinds are checked alike at sign-in.
_random_secret_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; a missing or corrupt hash never matches."""
    if not password_hash:
        # Spend the same time as a real check so that a missing account is not revealed.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def add_member(
    session: Session,
    *,
    participant: Participant,
    username: str,
    display_name: str,
    password_hash: str | None,
    roles: list[Role],
) -> Member:
    """Insert a member; the caller authorizes and records the event.

    Callers hash the password before their first query: on SQLite that query
    takes the write lock, and argon2 must not run while it is held.
    """
    if session.scalar(select(Member.id).where(Member.username == username)) is not None:
        raise DuplicateRegistration(
            "用户名已被使用 / the username is already taken", details={"field": "username"}
        )
    member = Member(
        participant_id=participant.id,
        username=username,
        display_name=display_name,
        password_hash=password_hash,
        roles=sorted({r.value for r in roles}),
        active=True,
    )
    session.add(member)
    session.flush()
    return member


def create_member(
    *, session: Session, actor: Principal, participant_id: int, data: MemberCreate
) -> Recorded[Member]:
    password_hash = hash_password(data.password) if data.password else None
    participant = lookup.participant(session, participant_id)
    authorize(
        actor=actor,
        action=Actions.MEMBER_MANAGE,
        resource=MemberResource(participant_id=participant.id),
    )
    if participant.status != ParticipantStatus.APPROVED:
        raise InvalidTransition(
            "参与方未获批准 / members can only be added to an approved participant",
            details={"status": participant.status},
        )
    member = add_member(
        session,
        participant=participant,
        username=data.username,
        display_name=data.display_name,
        password_hash=password_hash,
        roles=data.roles,
    )
    event = record_event(
        session,
        actor=actor,
        type=EventType.MEMBER_CREATED,
        object_type="member",
        object_id=member.id,
        payload={"participant_id": participant.id, "roles": member.roles},
    )
    return Recorded(member, event.seq)


def set_password(
    *,
    session: Session,
    actor: Principal,
    member_id: int,
    password: str,
    random_secret: bool = False,
) -> Recorded[Member]:
    """An admin sets a member's password; ``random_secret`` for one of ≥ 128 random bits.

    The password is hashed before the first query, as :func:`add_member` asks.
    """
    if not 12 <= len(password) <= 256:
        raise InvalidInput(
            "密码长度须为 12 至 256 个字符 / a password has 12 to 256 characters",
            details={"field": "password"},
        )
    password_hash = (_random_secret_hasher if random_secret else _hasher).hash(password)
    member = lookup.member(session, member_id, lock=True)
    authorize(
        actor=actor,
        action=Actions.MEMBER_MANAGE,
        resource=MemberResource(participant_id=member.participant_id, member_id=member.id),
    )
    member.password_hash = password_hash
    event = record_event(
        session,
        actor=actor,
        type=EventType.MEMBER_PASSWORD_SET,
        object_type="member",
        object_id=member.id,
        payload={
            "participant_id": member.participant_id,
            "hash_cost": "random_secret" if random_secret else "default",
        },
    )
    return Recorded(member, event.seq)


def set_member_roles(
    *, session: Session, actor: Principal, member_id: int, roles: list[Role]
) -> Recorded[Member]:
    member = lookup.member(session, member_id, lock=True)
    authorize(
        actor=actor,
        action=Actions.MEMBER_MANAGE,
        resource=MemberResource(participant_id=member.participant_id, member_id=member.id),
    )
    new_roles = sorted({r.value for r in roles})
    if member.id == actor.member_id and Role.ADMIN.value not in new_roles:
        raise InvalidTransition(
            "管理员不能移除自己的管理员角色 / an admin cannot remove their own admin role",
            details={"member_id": member.id},
        )
    previous = member.roles
    member.roles = new_roles
    event = record_event(
        session,
        actor=actor,
        type=EventType.MEMBER_ROLES_CHANGED,
        object_type="member",
        object_id=member.id,
        payload={"from": previous, "to": new_roles},
    )
    return Recorded(member, event.seq)


def deactivate_member(*, session: Session, actor: Principal, member_id: int) -> Recorded[Member]:
    member = lookup.member(session, member_id, lock=True)
    authorize(
        actor=actor,
        action=Actions.MEMBER_MANAGE,
        resource=MemberResource(participant_id=member.participant_id, member_id=member.id),
    )
    if member.id == actor.member_id:
        raise InvalidTransition(
            "不能停用自己 / you cannot deactivate yourself", details={"member_id": member.id}
        )
    if not member.active:
        raise InvalidTransition(
            "成员已停用 / the member is already inactive", details={"member_id": member.id}
        )
    member.active = False
    event = record_event(
        session,
        actor=actor,
        type=EventType.MEMBER_DEACTIVATED,
        object_type="member",
        object_id=member.id,
        payload={"participant_id": member.participant_id},
    )
    return Recorded(member, event.seq)


def list_members(*, session: Session, actor: Principal, participant_id: int) -> list[Member]:
    participant = lookup.participant(session, participant_id)
    authorize(
        actor=actor,
        action=Actions.MEMBER_MANAGE,
        resource=MemberResource(participant_id=participant.id),
    )
    return list(
        session.scalars(
            select(Member).where(Member.participant_id == participant.id).order_by(Member.id)
        )
    )
