"""``datacompact demo``: a deterministic synthetic city, built through the services.

Every participant is registered, approved, staffed and qualified through the
same service functions (and therefore the same permission checks and log
events) as a real one. Running it again changes nothing: existing
participants, members and tokens are found and kept.

Demo tokens and passwords are derived from the platform secret (HMAC-SHA256),
so that they are the same on every run of one installation, yet unguessable
without the secret. They are written to ``$DATACOMPACT_HOME/demo-credentials.json``
(mode 0600) for people who want to try the API or sign in to the console at
once, each user with the grants it holds (``grants: [{id, resource, mode, grade}]``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.clock import utcnow
from datacompact.errors import Conflict
from datacompact.governance import rules_for
from datacompact.permissions import Principal, Role
from datacompact.platform import Platform
from datacompact.registry import members, participants, qualifications, tokens
from datacompact.registry.schemas import (
    AdminIn,
    ContactIn,
    Decision,
    MemberCreate,
    ParticipantCreate,
    ParticipantKind,
    QualificationCreate,
    ShareholderIn,
)
from datacompact.store.models import Member, Participant, Qualification

from ._catalog import register_datasets
from ._city import Org, build_cast, evidence_hash
from ._grants import ensure_grants
from ._projects import ensure_projects
from ._ratings import ensure_value as ensure_shares_and_ratings
from ._value import ensure_value

__all__ = ["CREDENTIALS_FILE", "build_demo", "demo_token"]

CREDENTIALS_FILE = "demo-credentials.json"
DEMO_TOKEN_DAYS = 365
_QUALIFIED_FROM = date(2025, 1, 1)
_QUALIFIED_UNTIL = date(2028, 12, 31)


def demo_token(secret: bytes, username: str, generation: int = 0) -> str:
    message = f"datacompact/demo-token/{username}/{generation}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return tokens.TOKEN_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def demo_password(secret: bytes, username: str) -> str:
    """A member's demo password: 128 bits derived from the platform secret, as the tokens are."""
    message = f"datacompact/demo-password/{username}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:16]
    return base64.b32encode(digest).decode().rstrip("=").lower()


MAX_GENERATIONS = 1000


def _demo_credential(
    platform: Platform, session: Session, member: Member, participant: Participant
) -> str:
    """The member's current demo token: the first derived one not revoked or expired.

    A token revoked or expired since the last run is skipped, and the next
    generation is issued (and logged) in its place.
    """
    now = utcnow()
    for generation in range(MAX_GENERATIONS):
        value = demo_token(platform.secret, member.username, generation)
        found = tokens.find_token(session, value)
        if found is None:
            tokens.issue_known_token(
                session,
                actor=_principal(platform, member, participant),
                member=member,
                value=value,
                label="demo",
                ttl=timedelta(days=DEMO_TOKEN_DAYS),
            )
            return value
        if found.revoked_at is None and found.expires_at > now:
            return value
    raise Conflict(
        "演示令牌已用尽 / every derived demo token of this member is revoked or expired",
        details={"member_id": member.id},
    )


def _principal(platform: Platform, member: Member, participant: Participant) -> Principal:
    return Principal.member(
        member_id=member.id,
        participant_id=participant.id,
        participant_kind=participant.kind,
        roles=frozenset(Role(r) for r in member.roles),
        governance=platform.settings.governance_mode,
    )


def _application(org: Org, by_slug: dict[str, Org], secret: bytes) -> ParticipantCreate:
    admin = org.people[0]
    return ParticipantCreate(
        kind=ParticipantKind(org.kind),
        name=org.name,
        name_en=org.name_en,
        uscc=org.uscc,
        region_code=org.region_code,
        ownership=org.ownership,
        third_party_type=org.third_party_type,
        shareholders=[
            ShareholderIn(
                holder_name=by_slug[slug].name, holder_uscc=by_slug[slug].uscc, stake_percent=pct
            )
            for slug, pct in org.shareholders
        ],
        contacts=[ContactIn(name=admin.display_name, title="数据专员 / data officer")],
        # Demo members sign in with derived passwords and act with derived tokens.
        admin=AdminIn(
            username=admin.username,
            display_name=admin.display_name,
            password=demo_password(secret, admin.username),
        ),
    )


def _admin_of(session: Session, participant: Participant) -> Member:
    member = session.scalar(
        select(Member)
        .where(Member.participant_id == participant.id, Member.active.is_(True))
        .order_by(Member.id)
    )
    if member is None:
        raise RuntimeError(f"participant {participant.id} has no active member")
    if Role.ADMIN.value not in member.roles:
        raise RuntimeError(f"member {member.id} is not an admin")
    return member


def _ensure_participant(
    platform: Platform,
    session: Session,
    org: Org,
    by_slug: dict[str, Org],
    approver: Principal | None,
) -> Participant:
    existing = session.scalar(select(Participant).where(Participant.uscc == org.uscc))
    if existing is not None:
        return existing
    application = _application(org, by_slug, platform.secret)
    if approver is None:
        return participants.bootstrap_platform(
            session=session,
            secret=platform.secret,
            governance=platform.settings.governance_mode,
            data=application,
        ).value.participant
    registered = participants.register_participant(
        session=session,
        actor=Principal.anonymous(platform.settings.governance_mode),
        secret=platform.secret,
        data=application,
    ).value
    participants.decide_participant(
        session=session,
        actor=approver,
        participant_id=registered.id,
        decision=Decision.APPROVE,
        reason="演示城市资料核验通过 / demo city documents checked",
    )
    return registered


def _ensure_staff(platform: Platform, session: Session, org: Org, participant: Participant) -> None:
    admin = _principal(platform, _admin_of(session, participant), participant)
    for person in org.people[1:]:
        if session.scalar(select(Member.id).where(Member.username == person.username)) is None:
            members.create_member(
                session=session,
                actor=admin,
                participant_id=participant.id,
                data=MemberCreate(
                    username=person.username,
                    display_name=person.display_name,
                    roles=[Role(r) for r in person.roles],
                ),
            )
    held = set(
        session.scalars(
            select(Qualification.name).where(Qualification.participant_id == participant.id)
        )
    )
    for name, level, issuer in org.qualifications:
        if name not in held:
            qualifications.add_qualification(
                session=session,
                actor=admin,
                participant_id=participant.id,
                data=QualificationCreate(
                    name=name,
                    level=level,
                    issuer=issuer,
                    valid_from=_QUALIFIED_FROM,
                    valid_until=_QUALIFIED_UNTIL,
                    evidence_sha256=evidence_hash(org, name),
                ),
            )


def _approver_first(cast: list[Org], platform: Platform) -> list[Org]:
    """Put an organization of an approving kind first, as the governance mode requires."""
    approvers = rules_for(platform.settings.governance_mode).registration_approvers
    first = next(o for o in cast if o.kind in approvers)
    return [first, *(o for o in cast if o is not first)]


def build_demo(
    platform: Platform,
    *,
    datasets_scale: float | None = 1.0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build (or find) the demo city and write the credentials file; returns a summary.

    ``datasets_scale`` sizes the eight demo datasets (1.0: about 1.1 million
    rows, ingested, graded and profiled); ``None`` registers none. ``progress``
    is told each step as it starts (zh-CN / English), for a build that takes
    minutes.
    """
    step = progress or (lambda _message: None)
    step("参与方、成员与令牌 / participants, members and tokens")
    cast = _approver_first(build_cast(), platform)
    by_slug = {o.slug: o for o in cast}
    credentials: list[dict[str, Any]] = []
    with platform.db.write() as session:
        first = session.scalar(select(Participant).where(Participant.uscc == cast[0].uscc))
        if first is None and session.scalar(select(Participant.id).limit(1)) is not None:
            raise Conflict(
                "平台已有非演示数据，演示城市需要空平台 / the demo city needs an empty platform "
                "or its own earlier build",
                details={"home": str(platform.settings.home)},
            )
        approver: Principal | None = None
        for org in cast:
            participant = _ensure_participant(platform, session, org, by_slug, approver)
            if approver is None:
                approver = _principal(platform, _admin_of(session, participant), participant)
            _ensure_staff(platform, session, org, participant)
            for person in org.people:
                member = session.scalar(select(Member).where(Member.username == person.username))
                if member is None:
                    raise RuntimeError(f"demo member {person.username} is missing")
                if member.password_hash is None:
                    members.set_password(
                        session=session,
                        actor=_principal(platform, _admin_of(session, participant), participant),
                        member_id=member.id,
                        password=demo_password(platform.secret, person.username),
                        random_secret=True,
                    )
                value = _demo_credential(platform, session, member, participant)
                credentials.append(
                    {
                        "participant": org.name,
                        "participant_id": participant.id,
                        "participant_kind": org.kind,
                        "member_id": member.id,
                        "user": person.username,
                        "roles": list(person.roles),
                        "password": demo_password(platform.secret, person.username),
                        "token": value,
                    }
                )
    datasets = 0
    held: dict[str, list[dict[str, Any]]] = {}
    built_projects = 0
    if datasets_scale is not None:
        datasets = register_datasets(platform, cast, scale=datasets_scale, progress=step)
        step("数据使用申请与授权 / applications and grants")
        held = ensure_grants(platform, cast)
        step("合作项目、招投标与合同 / projects, tenders and contracts")
        built_projects = ensure_projects(platform, cast)
        ensure_value(platform, cast)  # the operator's price list and metered uses
        ensure_shares_and_ratings(platform, cast)  # holders' shares and market ratings
    for entry in credentials:
        entry["grants"] = held.get(entry["user"], [])
    path = platform.settings.home / CREDENTIALS_FILE
    _write_private_json(path, credentials)
    return {
        "participants": len(cast),
        "datasets": datasets,
        "grants": sum(len(g) for g in held.values()),
        "projects": built_projects,
        "users": len(credentials),
        "credentials_file": str(path.resolve()),
        "governance_mode": platform.settings.governance_mode.value,
    }


def _write_private_json(path: Path, data: Any) -> None:
    """Replace ``path`` atomically with a 0600 file; readers see the old or the new file."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
