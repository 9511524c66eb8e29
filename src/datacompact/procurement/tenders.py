"""Tenders (招标), sealed bids (投标), opening (开标), scoring (评标) and award (中标).

A lot of a project whose mode is approved is tendered once: evaluation
method and weights, tender period and committee. Approved enterprises that
hold the lot's qualifications bid during the period; each document is hashed
and sealed (:mod:`datacompact.procurement.sealing`) and only its hash reaches
the log. At or after the deadline the owner opens the bids: every seal is
checked and each bid's hash and price are logged. Committee members score
the opened bids unless they have a conflict of interest (回避), and the owner
awards the lot to the first-ranked bid, subject to the separation rule.

Nothing here is half-written: every check runs before the first row changes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.clock import cst_date, utcnow
from datacompact.errors import Forbidden, InvalidInput, InvalidTransition, PolicyViolation
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.permissions import Actions, PartyResource, Principal, Role, authorize
from datacompact.procurement import _common, _evaluate, sealing
from datacompact.procurement._tender_view import bid_view, view
from datacompact.procurement.award import award_tender
from datacompact.procurement.schemas import (
    BidPublic,
    BidScorePublic,
    ScoreIn,
    TenderCreate,
    TenderPublic,
)
from datacompact.store.models import Member
from datacompact.store.project_models import Bid, BidScore, Tender

_PROJECT = Actions.PROJECT_MANAGE


def _committee(session: Session, owner_id: int, member_ids: list[int]) -> list[dict[str, object]]:
    if len(set(member_ids)) != len(member_ids):
        raise InvalidInput(
            "评委重复 / expected each committee member once", details={"field": "committee"}
        )
    out: list[dict[str, object]] = []
    for member_id in member_ids:
        member = session.get(Member, member_id)
        problem = None
        if member is None or not member.active or member.participant.status != "approved":
            problem = "not_an_active_member"
        elif member.participant_id == owner_id:
            # The reviewer scope of bid.score excludes the owner: its staff could never score.
            problem = "employed_by_owner"
        elif not {Role.ADMIN, Role.REVIEWER} & set(member.roles):
            problem = "needs_reviewer_role"
        if problem:
            raise InvalidInput(
                "评委须为其他参与方在职的管理员或审核员 / expected committee members who are "
                "active admins or reviewers of another approved participant",
                details={"field": "committee", "member_id": member_id, "reason": problem},
            )
        assert member is not None  # noqa: S101 - a missing member raised above
        out.append(
            {
                "person_id": _evaluate.person(member.id),
                "member_id": member.id,
                "employer_id": member.participant_id,
            }
        )
    return out


def publish_tender(
    *,
    session: Session,
    actor: Principal,
    lot_id: int,
    data: TenderCreate,
    now: datetime | None = None,
) -> Recorded[TenderPublic]:
    lot = _common.lot(session, lot_id, lock=True)
    project = _common.project(session, lot.project_id)
    authorize(actor=actor, action=_PROJECT, resource=_common.project_ref(project))
    if lot.status != "planned":
        raise InvalidTransition(
            f"标段状态为 {lot.status}，不能招标 / the lot is {lot.status}, not planned",
            details={"status": lot.status},
        )
    if project.mode_status != "approved":
        raise InvalidTransition(
            "合作模式尚未批准 / the project's cooperation mode is not approved yet",
            details={"mode_status": project.mode_status},
        )
    moment = now or utcnow()
    if data.deadline <= data.opens_at or data.deadline <= moment:
        raise InvalidInput(
            "截止时间须晚于开始时间且在将来 / expected a deadline after opens_at and in the future",
            details={"field": "deadline"},
        )
    weights = (
        data.weights.model_dump()
        if data.weights
        else {
            "price": 100,
            "technical": 0,
            "qualification": 0,
            "past_performance": 0,
            "sme_local": 0,
        }
    )
    _evaluate.criteria(weights)  # the weights must sum to 100
    if data.method == "lowest_price" and weights["price"] != 100:
        raise InvalidInput(
            "最低评标价法只看价格 / expected a price weight of 100 for lowest_price",
            details={"field": "weights", "reason": "lowest_price_weights"},
        )
    tender = Tender(
        lot_id=lot.id,
        method=data.method.value,
        weights=weights,
        opens_at=data.opens_at,
        deadline=data.deadline,
        committee=_committee(session, project.owner_id, data.committee),
        status="open",
    )
    session.add(tender)
    lot.status = "tendering"
    session.flush()
    payload = {
        "lot_id": lot.id,
        "method": tender.method,
        "weights": weights,
        "requirements": lot.requirements,
        "opens_at": data.opens_at.isoformat(),
        "deadline": data.deadline.isoformat(),
        # 评标委员会名单在中标结果确定前保密: only its size goes on the log.
        "committee_size": len(tender.committee),
    }
    (event,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.TENDER_PUBLISHED, "tender", tender.id, payload)],
    )
    return Recorded(view(session, tender, actor), event.seq)


def get_tender(*, session: Session, actor: Principal, tender_id: int) -> TenderPublic:
    tender = _common.tender(session, tender_id)
    lot = _common.lot(session, tender.lot_id)
    project = _common.project(session, lot.project_id)
    authorize(actor=actor, action=Actions.PROJECT_READ, resource=_common.project_ref(project))
    return view(session, tender, actor)


def submit_bid(
    *,
    session: Session,
    actor: Principal,
    secret: bytes,
    tender_id: int,
    price: str,
    document: bytes,
    bidder_id: int | None = None,
    now: datetime | None = None,
) -> Recorded[BidPublic]:
    """Seal a bid: only approved, qualified enterprises, once each, within the tender period."""
    tender = _common.tender(session, tender_id, lock=True)
    bidder_id = bidder_id if bidder_id is not None else actor.participant_id
    authorize(actor=actor, action=Actions.BID_SUBMIT, resource=PartyResource(bidder_id))
    if bidder_id is None:
        raise Forbidden(
            "须以参与方成员身份操作 / expected an actor acting for a participant, got one without"
        )
    bidder = _common.participant(session, bidder_id)
    if bidder.kind not in _common.SUPPLIER_KINDS:
        reason = "只有企业可以投标 / only enterprises bid"
        raise Forbidden(
            f"无权执行 bid.submit / not allowed to bid.submit: {reason}",
            details={"action": Actions.BID_SUBMIT.name, "reason": reason},
        )
    lot = _common.lot(session, tender.lot_id)
    moment = now or utcnow()
    if tender.status != "open" or lot.status != "tendering":
        raise InvalidTransition(
            f"招标已{tender.status} / the tender is {tender.status}",
            details={"status": tender.status, "lot_status": lot.status},
        )
    if moment < tender.opens_at:
        raise InvalidTransition(
            "投标尚未开始 / the tender period has not begun",
            details={"reason": "before_opening", "opens_at": tender.opens_at.isoformat()},
        )
    if moment >= tender.deadline:
        raise InvalidTransition(
            "投标截止时间已过 / the deadline for bids has passed",
            details={"reason": "after_deadline", "deadline": tender.deadline.isoformat()},
        )
    _common.check_supplier(session, bidder, lot, cst_date(moment))
    amount = _common.money(price, "price")
    if amount > _common.money(lot.budget, "budget"):
        raise InvalidInput(
            "投标报价超过标段预算 / expected a price within the lot budget",
            details={"field": "price", "reason": "above_budget"},
        )
    if not document:
        raise InvalidInput("投标文件为空 / expected a bid document", details={"field": "document"})
    previous = session.scalar(
        select(Bid.id).where(Bid.tender_id == tender.id, Bid.bidder_id == bidder_id)
    )
    if previous is not None:
        raise InvalidTransition(
            "已投标，不能重复投标 / the bidder has already bid in this tender",
            details={"reason": "already_bid", "bid_id": previous},
        )
    sealed = sealing.seal(
        document, secret=secret, tender_id=str(tender.id), bidder_id=str(bidder_id)
    )
    bid = Bid(
        tender_id=tender.id,
        bidder_id=bidder_id,
        price=str(amount),
        sha256=sealed.sha256,
        nonce=sealed.nonce,
        ciphertext=sealed.ciphertext,
        key_id=sealed.key_id,
        status="sealed",
        submitted_at=moment,
    )
    session.add(bid)
    session.flush()
    # The log must not tell competitors who bid before the opening: the entry's
    # actor is the sealed-bid box, and the bidder and its price are only in the
    # salted payload commitment, which binds them from now on. The opening
    # publishes both; an auditor shown this payload can check they did not change.
    payload = {
        "tender_id": tender.id,
        "bidder_id": bidder_id,
        "member_id": actor.member_id,
        "price": bid.price,
        "sha256": sealed.sha256,
    }
    (event,) = record_events(
        session,
        actor=Principal(label="sealed-bid-box", governance=actor.governance),
        events=[NewEvent(EventType.BID_SUBMITTED, "bid", bid.id, payload)],
    )
    return Recorded(bid_view(session, bid, reveal=True), event.seq)


def open_bids(
    *,
    session: Session,
    actor: Principal,
    secret: bytes,
    tender_id: int,
    now: datetime | None = None,
) -> Recorded[TenderPublic]:
    """The owner opens every bid at or after the deadline; each seal must check out."""
    tender = _common.tender(session, tender_id, lock=True)
    lot = _common.lot(session, tender.lot_id)
    project = _common.project(session, lot.project_id)
    authorize(actor=actor, action=_PROJECT, resource=_common.project_ref(project))
    moment = now or utcnow()
    if tender.status != "open":
        raise InvalidTransition(
            f"招标已{tender.status} / the tender is {tender.status}, not open",
            details={"status": tender.status},
        )
    if moment < tender.deadline:
        raise InvalidTransition(
            "开标时间未到 / bids stay sealed until the deadline",
            details={"reason": "before_deadline", "deadline": tender.deadline.isoformat()},
        )
    bids = _evaluate.tender_bids(session, tender)
    for bid in bids:
        sealing.open_sealed(
            sealing.SealedBid(bid.sha256, bid.nonce, bid.ciphertext, bid.key_id),
            secret=secret,
            tender_id=str(tender.id),
            bidder_id=str(bid.bidder_id),
            deadline=tender.deadline,
            now=moment,
        )
    opened = []
    for bid in bids:
        bidder = _common.participant(session, bid.bidder_id)
        try:
            # 资格性审查 again at the opening: a bidder suspended since is not responsive.
            _common.check_supplier(session, bidder, lot, cst_date(moment))
            bid.responsive = True
        except PolicyViolation:
            bid.responsive = False
        bid.status = "opened"
        opened.append(
            {
                "bid_id": bid.id,
                "bidder_id": bid.bidder_id,
                "sha256": bid.sha256,
                "price": bid.price,
                "responsive": bid.responsive,
            }
        )
    tender.status, tender.opened_at = "opened", moment
    found = _evaluate.conflicts(session, tender, bids)
    # Suppliers in a direct controlling relationship (直接控股: one holds more than
    # half of the other) may not bid for the same contract (政府采购法实施条例
    # art. 18): both bids are not responsive. Lesser holdings are reported only.
    linked = _evaluate.controlling_pairs(session, [b.bidder_id for b in bids])
    for entry, bid in zip(opened, bids, strict=True):
        if bid.bidder_id in linked:
            bid.responsive = entry["responsive"] = False
    payload = {
        "lot_id": lot.id,
        "bids": opened,
        "conflicts": _evaluate.conflict_records(found),
    }
    (event,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.BIDS_OPENED, "tender", tender.id, payload)],
    )
    return Recorded(view(session, tender, actor), event.seq)


def score_bid(
    *, session: Session, actor: Principal, bid_id: int, data: ScoreIn
) -> Recorded[BidScorePublic]:
    """A committee member without a conflict scores an opened bid once."""
    bid = _common.bid(session, bid_id)
    tender = _common.tender(session, bid.tender_id, lock=True)
    lot = _common.lot(session, tender.lot_id)
    project = _common.project(session, lot.project_id)
    employers = {int(c["employer_id"]) for c in tender.committee}
    # The bid is the bidder's: the reviewer scope keeps its own staff from scoring it.
    resource = PartyResource(
        participant_id=bid.bidder_id,
        parties=frozenset({bid.bidder_id, project.owner_id}),
        reviewers=frozenset(employers),
    )
    authorize(actor=actor, action=Actions.BID_SCORE, resource=resource)
    person = _evaluate.person(actor.member_id or 0)
    if person not in {c["person_id"] for c in tender.committee}:
        reason = "不是该招标的评委 / not a member of this tender's committee"
        raise Forbidden(
            f"无权执行 bid.score / not allowed to bid.score: {reason}",
            details={"action": Actions.BID_SCORE.name, "reason": reason},
        )
    if tender.method != "comprehensive":
        raise InvalidInput(
            "最低评标价法不打分 / a lowest_price tender is not scored",
            details={"reason": "not_scored"},
        )
    if tender.status != "opened":
        raise InvalidTransition(
            f"招标为 {tender.status}，须开标后评分 / the tender is {tender.status}: scoring "
            "follows the opening and ends at the award",
            details={"status": tender.status},
        )
    if not bid.responsive:
        raise InvalidTransition(
            "无效投标不评分 / a non-responsive bid is not scored",
            details={"reason": "not_responsive"},
        )
    bids = _evaluate.tender_bids(session, tender)
    found = [c for c in _evaluate.conflicts(session, tender, bids) if c.member_id == person]
    if found:
        raise PolicyViolation(
            f"评委须回避 / the member must recuse: {found[0].reason}",
            details={"rule": "committee.conflict", "kinds": sorted({c.kind.value for c in found})},
        )
    given = {k: v for k, v in data.model_dump().items() if v is not None}
    wanted = {k for k in _evaluate.SCORED if tender.weights.get(k, 0) > 0}
    if set(given) != wanted:
        raise InvalidInput(
            f"须对权重非零的各项评分 / expected scores for exactly: {', '.join(sorted(wanted))}",
            details={"field": "scores", "expected": sorted(wanted), "got": sorted(given)},
        )
    scores = {k: str(_evaluate.parse_score(v, k)) for k, v in sorted(given.items())}
    if session.scalar(
        select(BidScore.id).where(BidScore.bid_id == bid.id, BidScore.person_id == person)
    ):
        raise InvalidTransition(
            "已评分，不能重复评分 / the member has already scored this bid",
            details={"reason": "already_scored"},
        )
    row = BidScore(bid_id=bid.id, person_id=person, scores=scores)
    session.add(row)
    session.flush()
    # The log entry carries only the salted payload hash, so the scores stay confidential.
    payload = {"tender_id": tender.id, "person_id": person, "scores": scores}
    (event,) = record_events(
        session, actor=actor, events=[NewEvent(EventType.BID_SCORED, "bid", bid.id, payload)]
    )
    return Recorded(
        BidScorePublic(
            id=row.id, bid_id=bid.id, person_id=person, scores=scores, created_at=row.created_at
        ),
        event.seq,
    )


__all__ = ["award_tender", "get_tender", "open_bids", "publish_tender", "score_bid", "submit_bid"]
