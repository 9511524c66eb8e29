"""定标: the award of a tender to its first-ranked bid, under the separation rule.

Re-exported by :mod:`datacompact.procurement.tenders`. The evaluation runs on
the opened bids and the scores of the members without a conflict; the
winner is the first-ranked bid unless the separation rule bars it, in which
case the owner may name a lower-ranked bid whose betters are all barred.
"""

from __future__ import annotations

import hashlib

import orjson
from sqlalchemy.orm import Session

from datacompact.errors import InvalidInput, InvalidTransition, PolicyViolation
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.permissions import Actions, Principal, authorize
from datacompact.procurement import _common, _evaluate, _separation
from datacompact.procurement._modes import DEFAULT_RULES, ModeRules
from datacompact.procurement._tender_view import view
from datacompact.procurement.groups import participant_groups
from datacompact.procurement.schemas import TenderPublic
from datacompact.store.project_models import Award


def award_tender(
    *,
    session: Session,
    actor: Principal,
    tender_id: int,
    bid_id: int | None = None,
    rules: ModeRules = DEFAULT_RULES,
) -> Recorded[TenderPublic]:
    """Award to the first-ranked bid, or to ``bid_id`` if every bid above it is barred."""
    tender = _common.tender(session, tender_id, lock=True)
    lot = _common.lot(session, tender.lot_id, lock=True)
    project = _common.project(session, lot.project_id)
    authorize(actor=actor, action=Actions.PROJECT_MANAGE, resource=_common.project_ref(project))
    if tender.status != "opened":
        raise InvalidTransition(
            f"招标为 {tender.status}，须先开标 / the tender is {tender.status}, not opened",
            details={"status": tender.status},
        )
    bids = _evaluate.tender_bids(session, tender)
    found = _evaluate.conflicts(session, tender, bids)
    if tender.method == "comprehensive" and len(_evaluate.recused(found)) == len(tender.committee):
        raise PolicyViolation(
            "评委均须回避，须重新组建评标委员会 / every committee member must recuse",
            details={"rule": "committee.all_conflicted"},
        )
    result = _evaluate.evaluate(session, tender, bids, found)
    if not result.ranking:
        raise InvalidTransition(
            "没有有效投标，标段流标 / no responsive bid: the tender failed",
            details={"reason": "no_responsive_bid"},
        )
    groups = participant_groups(session)
    passed_over: list[dict[str, object]] = []
    chosen = None
    for ranked in result.ranking:
        clash = _separation.clash(session, lot, int(ranked.bidder_id), rules=rules, groups=groups)
        if bid_id is None or int(ranked.bid_id) == bid_id:
            if clash.barred:
                raise PolicyViolation(
                    clash.message,
                    details={
                        "rule": _separation.RULE,
                        "supplier_id": clash.supplier_id,
                        "lot_ids": list(clash.lot_ids),
                    },
                )
            chosen = (ranked, clash)
            break
        if not clash.barred:
            raise PolicyViolation(
                "须授予排名第一的未受限投标 / the award goes to the first-ranked bid not barred "
                "by a rule",
                details={"rule": "award.not_first", "bid_id": int(ranked.bid_id)},
            )
        passed_over.append({"bid_id": int(ranked.bid_id), "reason": clash.message})
    if chosen is None:
        raise InvalidInput(
            "该投标不在有效排名中 / the bid is not among the ranked responsive bids",
            details={"field": "bid_id"},
        )
    ranked, clash = chosen
    evaluation = _evaluate.evaluation_json(result) | {
        "conflicts": _evaluate.conflict_records(found),
        "recused": sorted(_evaluate.recused(found)),
        "passed_over": passed_over,
        "exception_id": clash.exception_id,
    }
    award = Award(
        tender_id=tender.id,
        lot_id=lot.id,
        bid_id=int(ranked.bid_id),
        supplier_id=int(ranked.bidder_id),
        value=str(ranked.price),
        evaluation=evaluation,
        exception_id=clash.exception_id,
    )
    session.add(award)
    tender.status, lot.status = "awarded", "awarded"
    session.flush()
    payload = {
        "tender_id": tender.id,
        "bid_id": award.bid_id,
        "supplier_id": award.supplier_id,
        "value": award.value,
        "method": tender.method,
        "reasons": evaluation["reasons"],
        "passed_over": passed_over,
        "exception_id": award.exception_id,
        "evaluation_sha256": hashlib.sha256(
            orjson.dumps(evaluation, option=orjson.OPT_SORT_KEYS)
        ).hexdigest(),
    }
    (event,) = record_events(
        session, actor=actor, events=[NewEvent(EventType.LOT_AWARDED, "lot", lot.id, payload)]
    )
    return Recorded(view(session, tender, actor), event.seq)
