"""Loading registry rows by id, with one NotFound per kind of object.

``lock=True`` loads the row ``FOR UPDATE``: a service that checks a status and
then changes it must hold the row, or two concurrent decisions (approve and
reject) would both pass the check and both commit.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from datacompact.errors import NotFound
from datacompact.permissions import Principal
from datacompact.store.base import Base
from datacompact.store.models import ApiToken, Member, Participant

M = TypeVar("M", bound=Base)


def _get(
    session: Session,
    model: type[M],
    ident: int | None,
    zh: str,
    en: str,
    field: str,
    *,
    lock: bool = False,
) -> M:
    row = session.get(model, ident, with_for_update=lock) if ident is not None else None
    if row is None:
        raise missing(ident, zh, en, field)
    return row


def missing(ident: int | None, zh: str, en: str, field: str) -> NotFound:
    """The error of an object that does not exist (or that the actor may not know exists)."""
    return NotFound(f"{zh}不存在 / {en} not found", details={field: ident})


def missing_participant(participant_id: int) -> NotFound:
    return missing(participant_id, "参与方", "participant", "participant_id")


def participant(session: Session, participant_id: int, *, lock: bool = False) -> Participant:
    return _get(
        session, Participant, participant_id, "参与方", "participant", "participant_id", lock=lock
    )


def member(session: Session, member_id: int | None, *, lock: bool = False) -> Member:
    return _get(session, Member, member_id, "成员", "member", "member_id", lock=lock)


def token(session: Session, token_id: int, *, lock: bool = False) -> ApiToken:
    return _get(session, ApiToken, token_id, "令牌", "token", "token_id", lock=lock)


def member_or_self(session: Session, actor: Principal, member_id: int | None) -> Member:
    """The member named, or the acting member when none is."""
    return member(session, member_id if member_id is not None else actor.member_id)


def participant_name(session: Session, participant_id: int | None) -> str | None:
    """The name shown beside a participant id in lists and views; None for none or unknown.

    ``session.get`` reads the identity map first, so a list naming one
    participant many times loads it once.
    """
    if participant_id is None:
        return None
    found = session.get(Participant, participant_id)
    return None if found is None else found.name


def member_name(session: Session, member_id: int | None) -> str | None:
    """The display name shown beside a member id; None for none or unknown."""
    if member_id is None:
        return None
    found = session.get(Member, member_id)
    return None if found is None else found.display_name
