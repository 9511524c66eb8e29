"""From stored tenders, bids and scores to :mod:`datacompact.procurement.evaluation` and back.

Ids cross into the pure library as namespaced strings, ``participant:<id>``
and ``member:<id>``, because a bidder's shareholders and staff mix
organisations and people in one set.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.errors import InvalidInput
from datacompact.procurement import evaluation
from datacompact.procurement.schemas import ConflictPublic
from datacompact.registry import lookup
from datacompact.store.models import Member, Participant, Shareholder
from datacompact.store.project_models import Bid, BidScore, Tender

SCORED = evaluation.SCORED


def person(member_id: int) -> str:
    return f"member:{member_id}"


def _party(participant_id: int) -> str:
    return f"participant:{participant_id}"


def _number(text: str) -> int:
    return int(text.split(":", 1)[1])


def criteria(weights: dict[str, int]) -> evaluation.Criteria:
    return evaluation.Criteria(**{name: weights.get(name, 0) for name in evaluation.CRITERIA})


def controlling_pairs(session: Session, bidder_ids: list[int]) -> set[int]:
    """The bidders of which another bidder holds more than half (both are returned)."""
    id_of_uscc = dict(session.execute(select(Participant.uscc, Participant.id)).all())
    linked: set[int] = set()
    for company, holder_uscc, stake_bp in session.execute(
        select(Shareholder.participant_id, Shareholder.holder_uscc, Shareholder.stake_bp).where(
            Shareholder.participant_id.in_(bidder_ids)
        )
    ).all():
        holder = id_of_uscc.get(holder_uscc)
        if holder in bidder_ids and holder != company and stake_bp > 5000:
            linked |= {company, holder}
    return linked


def tender_bids(session: Session, tender: Tender) -> list[Bid]:
    return list(session.scalars(select(Bid).where(Bid.tender_id == tender.id).order_by(Bid.id)))


def conflicts(session: Session, tender: Tender, bids: list[Bid]) -> tuple[evaluation.Conflict, ...]:
    """Committee–bidder conflicts (recusal) and bidder–bidder links (collusion signals)."""
    bidder_ids = sorted({b.bidder_id for b in bids})
    id_of_uscc = dict(session.execute(select(Participant.uscc, Participant.id)).all())
    owners: dict[int, set[str]] = {b: set() for b in bidder_ids}
    for company, holder in session.execute(
        select(Shareholder.participant_id, Shareholder.holder_uscc).where(
            Shareholder.participant_id.in_(bidder_ids)
        )
    ).all():
        linked = id_of_uscc.get(holder)
        owners[company].add(_party(linked) if linked is not None else f"uscc:{holder}")
    staff: dict[int, set[str]] = {b: set() for b in bidder_ids}
    for member_id, participant_id in session.execute(
        select(Member.id, Member.participant_id).where(Member.participant_id.in_(bidder_ids))
    ).all():
        staff[participant_id].add(person(member_id))
    members = [
        evaluation.CommitteeMember(c["person_id"], _party(c["employer_id"]))
        for c in tender.committee
    ]
    bidders = [
        evaluation.Bidder(_party(b), frozenset(owners[b]), frozenset(staff[b])) for b in bidder_ids
    ]
    return evaluation.find_conflicts(members, bidders)


def recused(found: tuple[evaluation.Conflict, ...]) -> set[str]:
    return {c.member_id for c in found if c.member_id is not None}


def conflict_view(found: tuple[evaluation.Conflict, ...]) -> list[ConflictPublic]:
    """The conflicts by id only: the shape the award's evaluation and events record."""
    return [
        ConflictPublic(
            kind=c.kind.value,
            bidder_ids=[_number(b) for b in c.bidder_ids],
            member_id=_number(c.member_id) if c.member_id else None,
            reason=c.reason,
        )
        for c in found
    ]


def conflict_records(found: tuple[evaluation.Conflict, ...]) -> list[dict[str, Any]]:
    """The conflicts as the award's evaluation and the events record them: by id, no names."""
    return [c.model_dump(exclude={"bidder_names", "member_name"}) for c in conflict_view(found)]


def named(session: Session, conflicts: list[ConflictPublic]) -> list[ConflictPublic]:
    """``conflicts`` with the bidders' and the member's names beside their ids, for views."""
    return [
        c.model_copy(
            update={
                "bidder_names": [lookup.participant_name(session, b) for b in c.bidder_ids],
                "member_name": lookup.member_name(session, c.member_id),
            }
        )
        for c in conflicts
    ]


def parse_score(value: str | int, criterion: str) -> Decimal:
    """A 0–100 score with at most two decimals, from an int or a decimal string."""
    try:
        score = Decimal(value) if isinstance(value, int | str) else None
    except ArithmeticError:
        score = None
    ok = (
        score is not None
        and not isinstance(value, bool)
        and score.is_finite()
        and 0 <= score <= 100
        and -score.as_tuple().exponent <= 2  # type: ignore[operator]
    )
    if not ok or score is None:
        raise InvalidInput(
            f"{criterion} 评分须为 0–100 的数（最多两位小数）/ expected a {criterion} score "
            "from 0 to 100 with at most two decimals",
            details={"field": criterion, "reason": "bad_score"},
        )
    return score


def evaluate(
    session: Session, tender: Tender, bids: list[Bid], found: tuple[evaluation.Conflict, ...]
) -> evaluation.Evaluation:
    """Rank the opened bids by the tender's method; conflicted members' sheets do not count."""
    pure = [
        evaluation.Bid(str(b.id), str(b.bidder_id), Decimal(b.price), bool(b.responsive))
        for b in bids
    ]
    if tender.method == "lowest_price":
        return evaluation.lowest_price(pure)
    out = recused(found)
    committee = [c["person_id"] for c in tender.committee if c["person_id"] not in out]
    sheets = []
    for row in session.scalars(
        select(BidScore).where(BidScore.bid_id.in_([b.id for b in bids])).order_by(BidScore.id)
    ):
        if row.person_id in out:
            continue
        marks: dict[str, Any] = {k: Decimal(v) for k, v in row.scores.items()}
        sheets.append(evaluation.ScoreSheet(row.person_id, str(row.bid_id), **marks))
    return evaluation.comprehensive(
        pure, sheets, criteria=criteria(tender.weights), committee=committee
    )


def evaluation_json(result: evaluation.Evaluation) -> dict[str, Any]:
    """The evaluation as canonical JSON: decimals as strings, ids as integers."""
    award = result.award
    return {
        "method": result.method,
        "benchmark_price": str(result.benchmark_price) if result.benchmark_price else None,
        "ranking": [
            {
                "bid_id": int(r.bid_id),
                "bidder_id": int(r.bidder_id),
                "price": str(r.price),
                "rank": r.rank,
                "total": str(r.total) if r.total is not None else None,
                "breakdown": {k: str(v) for k, v in r.breakdown.items()},
                "abnormally_low": r.abnormally_low,
            }
            for r in result.ranking
        ],
        "excluded": [int(b) for b in result.excluded],
        "reasons": list(award.reasons) if award else [],
    }
