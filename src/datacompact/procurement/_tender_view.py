"""What a tender shows to whom: sealed bids and the committee stay confidential.

Before the opening a bidder sees only its own bid, and nobody sees how many
others there are (87号令 art. 32 keeps potential bidders' names and number
confidential). The committee is known to the owner, the regulator and its
members until the award (评标委员会名单在中标结果确定前保密), to everybody
afterwards; the conflicts, which name members, follow the committee.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from datacompact.permissions import Principal
from datacompact.procurement import _common, _evaluate
from datacompact.procurement.schemas import AwardPublic, BidPublic, TenderPublic
from datacompact.registry import lookup
from datacompact.store.project_models import Award, Bid, Tender


def bid_view(session: Session, bid: Bid, *, reveal: bool) -> BidPublic:
    return BidPublic(
        id=bid.id,
        tender_id=bid.tender_id,
        bidder_id=bid.bidder_id,
        bidder_name=lookup.participant_name(session, bid.bidder_id),
        price=bid.price if reveal else None,
        sha256=bid.sha256,
        status=bid.status,
        responsive=bid.responsive,
        submitted_at=bid.submitted_at,
    )


def _name(award: Award) -> str | None:
    session = object_session(award)
    return None if session is None else lookup.participant_name(session, award.supplier_id)


def _award_view(award: Award) -> AwardPublic:
    return AwardPublic(
        id=award.id,
        tender_id=award.tender_id,
        lot_id=award.lot_id,
        bid_id=award.bid_id,
        supplier_id=award.supplier_id,
        supplier_name=_name(award),
        value=award.value,
        evaluation=dict(award.evaluation),
        exception_id=award.exception_id,
        created_at=award.created_at,
    )


def view(session: Session, tender: Tender, actor: Principal) -> TenderPublic:
    lot = _common.lot(session, tender.lot_id)
    owner = _common.project(session, lot.project_id).owner_id
    members = [int(c["member_id"]) for c in tender.committee]
    insider = (
        actor.participant_id == owner
        or actor.participant_kind == "regulator"
        or actor.member_id in members
    )
    reveal_committee = insider or tender.status == "awarded"
    bids = _evaluate.tender_bids(session, tender)
    opened = tender.status in ("opened", "awarded")
    shown = [
        bid_view(session, b, reveal=True)
        for b in bids
        if opened or b.bidder_id == actor.participant_id
    ]
    conflicts = (
        _evaluate.named(
            session, _evaluate.conflict_view(_evaluate.conflicts(session, tender, bids))
        )
        if opened and reveal_committee
        else []
    )
    award = session.scalar(select(Award).where(Award.tender_id == tender.id))
    return TenderPublic(
        id=tender.id,
        lot_id=tender.lot_id,
        method=tender.method,
        weights=dict(tender.weights),
        opens_at=tender.opens_at,
        deadline=tender.deadline,
        committee=members if reveal_committee else None,
        committee_names=[lookup.member_name(session, m) for m in members]
        if reveal_committee
        else None,
        status=tender.status,
        opened_at=tender.opened_at,
        bids=shown,
        conflicts=conflicts,
        award=_award_view(award) if award else None,
        created_at=tender.created_at,
    )
