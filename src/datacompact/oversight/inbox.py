"""One inbox per member: what awaits the calling member's decision or answer, oldest first.

It gathers, from each domain, what the member can act on now, as each
domain's own ``authorize`` rule decides (the participant's turn and the
member's roles):

* ``application.review``: applications whose turn it is for the member's
  participant as holder, operator or regulator (a reviewer or an admin);
* ``application.amend``: the participant's applications sent back for
  changes (an analyst or an admin amends or withdraws them);
* ``participant.registration``: pending registrations, for the participants
  that approve registrations under the governance mode;
* ``project.mode``: proposed cooperation modes, for their approvers.

A regulator's exception to a procurement rule has no pending state: the
regulator grants it when it sees fit (``procurement.lots.grant_exception``),
so no item asks for one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datacompact.oversight.schemas import InboxItem, InboxPage, InboxParty, InboxTurn
from datacompact.permissions import Actions, PartyResource, Principal, authorize
from datacompact.policy import applications
from datacompact.procurement import projects
from datacompact.registry import participants
from datacompact.store.models import Event, Participant

API = "/api/v1"
#: The longest title; a longer scenario is cut at a word and marked with "…".
TITLE_LENGTH = 80


def _title(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    if len(first) <= TITLE_LENGTH:
        return first
    return first[: TITLE_LENGTH - 1].rstrip() + "…"


def _latest(session: Session, object_type: str, ids: Iterable[int]) -> dict[int, datetime]:
    """The time of each object's latest event: when it came to its current state."""
    keys = [str(i) for i in ids]
    if not keys:
        return {}
    rows = session.execute(
        select(Event.object_id, func.max(Event.occurred_at))
        .where(Event.object_type == object_type, Event.object_id.in_(keys))
        .group_by(Event.object_id)
    ).all()
    return {int(object_id): when for object_id, when in rows}


def inbox(*, session: Session, actor: Principal, limit: int = 100, offset: int = 0) -> InboxPage:
    """What awaits the calling member, oldest first, one page of it and how many in all."""
    authorize(
        actor=actor,
        action=Actions.INBOX_READ,
        resource=PartyResource(participant_id=actor.participant_id),
    )
    drafts: list[tuple[dict[str, object], list[tuple[str, list[int]]]]] = []

    pending = applications.list_applications(
        session=session, actor=actor, awaiting_me=True, limit=2**31 - 1
    )
    since = _latest(session, "application", (a.id for a in pending))
    for application in pending:
        amend = application.status == "changes_requested"
        path = f"{API}/applications/{application.id}"
        drafts.append(
            (
                {
                    "kind": "application.amend" if amend else "application.review",
                    "id": application.id,
                    "title": _title(application.scenario),
                    "since": since.get(application.id, application.revised_at),
                    "link": path,
                    "action": f"POST {path}/revisions" if amend else f"POST {path}/decisions",
                },
                [(t.party, t.participants) for t in application.awaiting],
            )
        )

    registrations = participants.awaiting_decision(session=session, actor=actor)
    if registrations:
        approvers = participants.registration_approvers(session, actor.governance)
        since = _latest(session, "participant", (p.id for p in registrations))
        for registration in registrations:
            path = f"{API}/participants/{registration.id}"
            drafts.append(
                (
                    {
                        "kind": "participant.registration",
                        "id": registration.id,
                        "title": f"{registration.name}（{registration.kind.value}）",
                        "since": since.get(registration.id, registration.created_at),
                        "link": path,
                        "action": f"POST {path}/decisions",
                    },
                    [("registration_approver", approvers)],
                )
            )

    proposed = projects.awaiting_mode_decision(session=session, actor=actor)
    since = _latest(session, "project", (p.id for p in proposed))
    for project in proposed:
        path = f"{API}/projects/{project.id}"
        drafts.append(
            (
                {
                    "kind": "project.mode",
                    "id": project.id,
                    "title": f"{_title(project.name)}：{project.mode}",
                    "since": since.get(project.id, project.created_at),
                    "link": path,
                    "action": f"POST {path}/mode-decisions",
                },
                [("mode_approver", project.mode_approvers)],
            )
        )

    ids = {p for _item, turns in drafts for _party, members in turns for p in members}
    rows = session.execute(select(Participant.id, Participant.name).where(Participant.id.in_(ids)))
    names = {row.id: row.name for row in rows.all()}
    items = [
        InboxItem.model_validate(
            item
            | {
                "turn": [
                    InboxTurn(
                        party=party,
                        participants=[InboxParty(id=p, name=names.get(p, "")) for p in members],
                    )
                    for party, members in turns
                ]
            }
        )
        for item, turns in drafts
    ]
    items.sort(key=lambda i: (i.since, i.kind, i.id))
    return InboxPage(items=items[offset : offset + limit], total=len(items))


__all__ = ["inbox"]
