"""What an application looks like from outside: its parties, whose turn it is, its public view.

The order of approval is the governance mode's ``grant_approvers``: every
holder of a requested resource first (unless the mode places the holder
elsewhere), then each party in the order the mode lists them. Within one
stage (several holders) the parties decide in any order; the next stage
opens once each of them has approved.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.config import GovernanceMode
from datacompact.errors import OutOfTurn
from datacompact.governance import rules_for
from datacompact.permissions import PartyResource
from datacompact.policy.schemas import ApplicationPublic, ApplicationRevisionPublic, Turn
from datacompact.registry import lookup
from datacompact.store.models import Application, ApplicationRevision, Grant, Participant

#: How each party is named in messages, zh-CN then English.
PARTY_NAMES = {
    "holder": ("数据持有方", "the holder"),
    "operator": ("运营方", "the operator"),
    "regulator": ("监管方", "the regulator"),
    "applicant": ("申请方", "the applicant"),
}


def stage_order(governance: GovernanceMode) -> tuple[str, ...]:
    """The parties in the order they decide under ``governance``."""
    approvers = rules_for(governance).grant_approvers
    return approvers if "holder" in approvers else ("holder", *approvers)


def current_turn(slots: list[dict[str, Any]], governance: GovernanceMode) -> list[dict[str, Any]]:
    """The undecided slots of the earliest stage that still has one (the same dicts)."""
    order = stage_order(governance)

    def rank(slot: dict[str, Any]) -> int:
        # A party the mode no longer lists (the setting changed) decides last.
        party = slot["party"]
        return order.index(party) if party in order else len(order)

    undecided = [s for s in slots if s["decision"] is None]
    if not undecided:
        return []
    first = min(rank(s) for s in undecided)
    return [s for s in undecided if rank(s) == first]


def awaiting(application: Application, governance: GovernanceMode) -> list[Turn]:
    """Whose turn it is: reviewers while pending, the applicant once sent back for changes."""
    if application.status == "pending":
        return [
            Turn(party=s["party"], participants=list(s["participants"]))
            for s in current_turn(list(application.reviewers), governance)
        ]
    if application.status == "changes_requested":
        return [Turn(party="applicant", participants=[application.applicant_id])]
    return []


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    rows = session.execute(select(Participant.id, Participant.name).where(Participant.id.in_(ids)))
    return {row.id: row.name for row in rows.all()}


def out_of_turn(session: Session, turn: list[dict[str, Any]], order: tuple[str, ...]) -> OutOfTurn:
    """The refusal of a decision out of turn, naming the parties whose turn it is."""
    names = _names(session, {p for slot in turn for p in slot["participants"]})
    zh, en, awaiting = [], [], []
    for slot in turn:
        party_zh, party_en = PARTY_NAMES.get(slot["party"], (slot["party"], slot["party"]))
        who = "、".join(names.get(p, str(p)) for p in slot["participants"])
        zh.append(f"{party_zh}（{who}）")
        en.append(f"{party_en} ({who})")
        awaiting.append(
            {
                "party": slot["party"],
                "participants": [
                    {"id": p, "name": names.get(p, str(p))} for p in slot["participants"]
                ],
            }
        )
    return OutOfTurn(
        f"尚未轮到本方审核，当前轮到{'、'.join(zh)} / not your turn to decide yet: it is the turn "
        f"of {', '.join(en)}",
        details={"awaiting": awaiting, "order": list(order)},
    )


def resource_ref(application: Application) -> PartyResource:
    """The application as ``authorize`` sees it.

    Its parties are the applicant and every reviewer of this revision or an
    earlier one (a holder that reviewed a revision keeps seeing what became
    of it); its reviewers are the parties of this revision, decided or not,
    so that a repeated decision is told as such rather than refused as a
    stranger's.
    """
    current = {p for slot in application.reviewers for p in slot["participants"]}
    earlier = {
        p for kept in application.earlier for slot in kept.reviewers for p in slot["participants"]
    }
    return PartyResource(
        participant_id=application.applicant_id,
        parties=frozenset(current | earlier),
        reviewers=frozenset(current),
    )


def content(application: Application) -> dict[str, Any]:
    """What the current revision asks for, in the shape of an application's body."""
    return {
        "scenario": application.scenario,
        "purpose": application.purpose,
        "purpose_text": application.purpose_text,
        "resources": [dict(r) for r in application.requests],
        "output": dict(application.output),
        "duration_days": application.duration_days,
        "expected_queries": application.expected_queries,
        "epsilon": float(application.epsilon) if application.epsilon else None,
    } | ({"joint": True} if application.joint else {})


def grant_ids(session: Session, application_ids: Iterable[int]) -> dict[int, list[int]]:
    """The grants issued for each application, in one query."""
    ids = list(application_ids)
    found: dict[int, list[int]] = {i: [] for i in ids}
    if ids:
        rows = session.execute(
            select(Grant.application_id, Grant.id)
            .where(Grant.application_id.in_(ids))
            .order_by(Grant.id)
        ).all()
        for application_id, grant_id in rows:
            found[application_id].append(grant_id)
    return found


def view(
    session: Session,
    application: Application,
    governance: GovernanceMode,
    grants: list[int] | None = None,
) -> ApplicationPublic:
    if grants is None:
        grants = grant_ids(session, [application.id])[application.id]
    return ApplicationPublic(
        id=application.id,
        applicant_id=application.applicant_id,
        applicant_name=lookup.participant_name(session, application.applicant_id),
        scenario=application.scenario,
        purpose=application.purpose,
        purpose_text=application.purpose_text,
        requests=application.requests,
        output=application.output,
        duration_days=application.duration_days,
        expected_queries=application.expected_queries,
        epsilon=float(application.epsilon) if application.epsilon else None,
        joint=application.joint,
        reviewers=application.reviewers,
        status=application.status,
        revision=application.revision,
        awaiting=awaiting(application, governance),
        grants=grants,
        created_at=application.created_at,
        revised_at=application.revised_at or application.created_at,
    )


def revision_view(kept: ApplicationRevision) -> ApplicationRevisionPublic:
    return ApplicationRevisionPublic(
        revision=kept.revision,
        member_id=kept.member_id,
        content=kept.content,
        reviewers=kept.reviewers,
        status=kept.status,
        submitted_at=kept.submitted_at,
        superseded_at=kept.superseded_at,
    )
