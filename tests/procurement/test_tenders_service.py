"""Tenders, sealed bids, opening, scoring and award, on both backends; bad input refused whole."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from datacompact.clock import utcnow
from datacompact.errors import (
    Forbidden,
    InvalidInput,
    InvalidTransition,
    PolicyViolation,
    VerificationFailed,
)
from datacompact.events import EventType
from datacompact.procurement import lots, tenders
from datacompact.procurement.schemas import TenderCreate
from datacompact.registry.schemas import Decision
from datacompact.store.models import Event, Member, Participant, Shareholder
from datacompact.store.project_models import Award, Bid, BidScore, Lot, Tender

from ..conftest import USCC_ENTERPRISE_2, World, valid_uscc
from ._helpers import (
    HOUR,
    admin_of,
    approve_mode,
    award,
    bid,
    new_lot,
    new_project,
    new_supplier,
    new_tender,
    open_tender,
    qualify,
    score,
    tender_body,
)


def rows(world: World) -> tuple[int, ...]:
    with world.platform.db.read() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(m)) or 0
            for m in (Tender, Bid, BidScore, Award, Event)
        )


def ready_lot(world: World, **extra: Any) -> int:
    project_id = new_project(world)
    approve_mode(world, project_id)
    return new_lot(world, project_id, **extra)


def test_a_lot_is_tendered_bid_opened_scored_and_awarded(world: World) -> None:
    tender_id = new_tender(world, ready_lot(world))
    first = bid(world, tender_id, world.principal("enterprise.admin"), "400000")
    second = bid(world, tender_id, world.principal("enterprise2.admin"), "300000")
    with world.platform.db.read() as session:
        sealed = tenders.get_tender(
            session=session, actor=world.principal("enterprise.analyst"), tender_id=tender_id
        )
        logged = session.scalars(select(Event).where(Event.type == "bid.submitted")).all()
    # Before the opening a bidder sees its own bid only, and nobody the committee.
    assert [b.id for b in sealed.bids] == [first]
    assert sealed.committee is None
    assert sealed.committee_names is None  # names follow the committee's confidentiality
    assert sealed.bids[0].bidder_name == _participant_name(world, "enterprise")
    # The public entries name no bidder and no price; the private payload commits them.
    assert all(e.actor == "sealed-bid-box" and b"price" not in e.entry for e in logged)
    opened = open_tender(world, tender_id)
    assert {b.id for b in opened.bids} == {first, second}
    with world.platform.db.read() as session:
        event = session.scalar(select(Event).where(Event.type == EventType.BIDS_OPENED.value))
    assert event is not None
    assert {b["sha256"] for b in event.payload["bids"]} == {b.sha256 for b in opened.bids}
    score(world, "regulator.reviewer", first, technical=95)
    score(world, "regulator.reviewer", second, technical="60.5")
    awarded = award(world, tender_id)
    assert awarded.status == "awarded"
    assert awarded.award.bid_id == first
    assert awarded.award.evaluation["ranking"][0]["total"] == "87.00"
    assert awarded.award.evaluation["reasons"]
    with world.platform.db.read() as session:
        lot = session.get(Lot, awarded.lot_id)
        assert lot is not None
        assert lot.status == "awarded"
        shown = tenders.get_tender(
            session=session, actor=world.principal("enterprise2.analyst"), tender_id=tender_id
        )
    assert shown.committee == [world.members["regulator.reviewer"]]
    assert shown.committee_names == [_member_name(world, "regulator.reviewer")]
    assert {(b.bidder_id, b.bidder_name) for b in shown.bids} == {
        (world.ids[p], _participant_name(world, p)) for p in ("enterprise", "enterprise2")
    }
    assert shown.award is not None
    assert shown.award.supplier_name == _participant_name(world, "enterprise")


def _participant_name(world: World, key: str) -> str:
    with world.platform.db.read() as session:
        found = session.get(Participant, world.ids[key])
        assert found is not None
        return found.name


def _member_name(world: World, key: str) -> str:
    with world.platform.db.read() as session:
        found = session.get(Member, world.members[key])
        assert found is not None
        return found.display_name


def test_lowest_price_awards_the_cheapest_responsive_bid(world: World) -> None:
    tender_id = new_tender(world, ready_lot(world), method="lowest_price", weights=None)
    bid(world, tender_id, world.principal("enterprise.admin"), "400000")
    cheap = bid(world, tender_id, world.principal("enterprise2.admin"), "350000.50")
    open_tender(world, tender_id)
    with pytest.raises(InvalidInput):
        score(world, "regulator.reviewer", cheap, technical=90)
    assert award(world, tender_id).award.bid_id == cheap


def test_a_bid_after_the_deadline_is_refused(world: World) -> None:
    tender_id = new_tender(world, ready_lot(world))
    before = rows(world)
    with pytest.raises(InvalidTransition) as caught:
        bid(world, tender_id, world.principal("enterprise.admin"), at=utcnow())
    assert caught.value.details["reason"] == "after_deadline"
    with pytest.raises(InvalidTransition) as caught:
        bid(world, tender_id, world.principal("enterprise.admin"), at=utcnow() - 2.5 * HOUR)
    assert caught.value.details["reason"] == "before_opening"
    assert rows(world) == before


def test_bidders_must_be_approved_qualified_enterprises(world: World) -> None:
    tender_id = new_tender(
        world, ready_lot(world, requirements=[{"name": "信息系统服务", "min_level": "CS3"}])
    )
    qualify(world, "enterprise2", "信息系统服务", "CS4")
    new_supplier(world, "suspended", "91330106MA2T00001", decision=Decision.SUSPEND)
    new_supplier(world, "applicant", "91330106MA2P00001", decision=None)
    before = rows(world)
    with pytest.raises(PolicyViolation) as caught:
        bid(world, tender_id, world.principal("enterprise.admin"))
    assert caught.value.details == {"rule": "bidder.unqualified", "missing": ["信息系统服务"]}
    for key in ("suspended", "applicant"):
        with pytest.raises(PolicyViolation) as caught:
            bid(world, tender_id, admin_of(world, key))
        assert caught.value.details["rule"] == "bidder.not_approved"
    for key in ("department.admin", "enterprise2.analyst"):
        with pytest.raises(Forbidden):
            bid(world, tender_id, world.principal(key))
    qualify(world, "enterprise", "信息系统服务", "CS2")  # below the minimum
    with pytest.raises(PolicyViolation):
        bid(world, tender_id, world.principal("enterprise.admin"))
    assert rows(world)[:4] == before[:4]
    bid(world, tender_id, world.principal("enterprise2.admin"))


def test_bidding_twice_or_above_the_budget_is_refused(world: World) -> None:
    tender_id = new_tender(world, ready_lot(world))
    bid(world, tender_id, world.principal("enterprise.admin"))
    before = rows(world)
    with pytest.raises(InvalidTransition) as caught:
        bid(world, tender_id, world.principal("enterprise.admin"), "390000")
    assert caught.value.details["reason"] == "already_bid"
    with pytest.raises(InvalidInput):
        bid(world, tender_id, world.principal("enterprise2.admin"), "500000.01")
    assert rows(world) == before


def _publish(world: World, lot_id: int, **extra: Any) -> None:
    start = utcnow()
    with world.platform.db.write() as session:
        tenders.publish_tender(
            session=session,
            actor=world.principal("department.admin"),
            lot_id=lot_id,
            data=TenderCreate.model_validate(tender_body(world, start=start, **extra)),
        )


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"weights": {"price": 40, "technical": 50}}, "weights_sum"),
        ({"weights": {"price": 60, "technical": 60}}, "weights_sum"),
        ({"method": "lowest_price", "weights": {"price": 50, "technical": 50}}, None),
        ({"committee": [1, 1]}, None),
    ],
)
def test_bad_tenders_are_refused_whole(world: World, extra: dict[str, Any], reason: str) -> None:
    lot_id = ready_lot(world)
    before = rows(world)
    with pytest.raises(InvalidInput) as caught:
        _publish(world, lot_id, **extra)
    if reason:
        assert caught.value.details["reason"] == reason
    assert rows(world) == before


def test_committee_members_come_from_other_participants_with_the_reviewer_role(
    world: World,
) -> None:
    lot_id = ready_lot(world)
    for key, problem in (
        ("department.reviewer", "employed_by_owner"),
        ("regulator.analyst", "needs_reviewer_role"),
    ):
        with pytest.raises(InvalidInput) as caught:
            _publish(world, lot_id, committee=[world.members[key]])
        assert caught.value.details["reason"] == problem


def test_no_tender_before_the_mode_is_approved_or_on_a_cancelled_lot(world: World) -> None:
    lot_id = new_lot(world, new_project(world))
    with pytest.raises(InvalidTransition):
        _publish(world, lot_id)
    cancelled = ready_lot(world)
    with world.platform.db.write() as session:
        found = session.get(Lot, cancelled)
        assert found is not None
        found.status = "cancelled"
    before = rows(world)
    with pytest.raises(InvalidTransition) as caught:
        _publish(world, cancelled)
    assert caught.value.details["status"] == "cancelled"
    assert rows(world) == before


def test_bids_stay_sealed_until_the_deadline(world: World) -> None:
    lot_id = ready_lot(world)
    tender_id = new_tender(world, lot_id, start=utcnow() - 1.5 * HOUR)  # deadline in 30 min
    bid_id = bid(world, tender_id, world.principal("enterprise.admin"), at=utcnow())
    before = rows(world)
    with pytest.raises(InvalidTransition) as caught:
        open_tender(world, tender_id)
    assert caught.value.details["reason"] == "before_deadline"
    with pytest.raises(InvalidTransition):
        score(world, "regulator.reviewer", bid_id, technical=90)  # scoring before opening
    assert rows(world) == before
    with world.platform.db.read() as session:
        stored = session.get(Bid, bid_id)
        assert stored is not None
        assert stored.status == "sealed"


def test_a_tampered_seal_stops_the_opening(world: World) -> None:
    tender_id = new_tender(world, ready_lot(world))
    bid_id = bid(world, tender_id, world.principal("enterprise.admin"))
    with world.platform.db.write() as session:
        stored = session.get(Bid, bid_id)
        assert stored is not None
        stored.ciphertext = bytes([stored.ciphertext[0] ^ 1]) + stored.ciphertext[1:]
    with pytest.raises(VerificationFailed):
        open_tender(world, tender_id)
    with world.platform.db.read() as session:
        found = session.get(Tender, tender_id)
        assert found is not None
        assert found.status == "open"


def test_only_unconflicted_committee_members_score(world: World) -> None:
    # A JV whose shareholder employs a committee member: that member must recuse.
    jv = new_supplier(
        world,
        "jv",
        "91330106MA2J00002",
        shareholders=[(USCC_ENTERPRISE_2, "60"), ("91330106MA27XL6Y1N", "40")],
    )
    committee = [world.members["regulator.reviewer"], world.members["enterprise2.reviewer"]]
    tender_id = new_tender(world, ready_lot(world), committee=committee)
    theirs = bid(world, tender_id, admin_of(world, "jv"))
    ours = bid(world, tender_id, world.principal("enterprise.admin"), "350000")
    opened = open_tender(world, tender_id)
    kinds = {(c.kind, c.member_id) for c in opened.conflicts}
    assert ("member_employer_is_shareholder", world.members["enterprise2.reviewer"]) in kinds
    for conflict in opened.conflicts:
        assert len(conflict.bidder_names) == len(conflict.bidder_ids)
        assert all(conflict.bidder_names)
        if conflict.member_id == world.members["enterprise2.reviewer"]:
            assert conflict.member_name == _member_name(world, "enterprise2.reviewer")
    before = rows(world)
    with pytest.raises(PolicyViolation) as caught:
        score(world, "enterprise2.reviewer", ours, technical=80)
    assert caught.value.details["rule"] == "committee.conflict"
    with pytest.raises(Forbidden):
        score(world, "enterprise.reviewer", theirs, technical=80)  # not on the committee
    with pytest.raises(InvalidInput):
        score(world, "regulator.reviewer", ours, technical=80, qualification=70)
    with pytest.raises(InvalidInput):
        score(world, "regulator.reviewer", ours, technical="100.5")
    assert rows(world) == before
    score(world, "regulator.reviewer", ours, technical=80)
    with pytest.raises(InvalidTransition):
        score(world, "regulator.reviewer", ours, technical=81)
    with pytest.raises(InvalidInput) as missing:
        award(world, tender_id)  # the JV's bid is not scored yet
    assert missing.value.details["reason"] == "missing_score"
    score(world, "regulator.reviewer", theirs, technical=70)
    result = award(world, tender_id).award
    assert result.evaluation["recused"] == [f"member:{world.members['enterprise2.reviewer']}"]
    assert jv in {r["bidder_id"] for r in result.evaluation["ranking"]}


def _awarded_to(world: World, project_id: int, category: str, supplier: str) -> int:
    lot_id = new_lot(world, project_id, category=category, budget="400000")
    tender_id = new_tender(world, lot_id, method="lowest_price", weights=None)
    bid(world, tender_id, admin_of(world, supplier), "300000")
    open_tender(world, tender_id)
    award(world, tender_id)
    return lot_id


def test_development_and_operations_of_one_system_stay_apart(world: World) -> None:
    project_id = new_project(world)
    approve_mode(world, project_id)
    dev = _awarded_to(world, project_id, "module_development", "enterprise")
    ops = new_lot(world, project_id, category="operations", budget="400000")
    tender_id = new_tender(world, ops, method="lowest_price", weights=None)
    same = bid(world, tender_id, world.principal("enterprise.admin"), "200000")
    other = bid(world, tender_id, world.principal("enterprise2.admin"), "250000")
    open_tender(world, tender_id)
    before = rows(world)
    with pytest.raises(PolicyViolation) as caught:
        award(world, tender_id)
    assert caught.value.details == {
        "rule": "separation.dev_ops",
        "supplier_id": world.ids["enterprise"],
        "lot_ids": [dev],
    }
    assert rows(world) == before
    # The runner-up may take it, the barred bid named as passed over.
    result = award(world, tender_id, other).award
    assert result.supplier_id == world.ids["enterprise2"]
    assert [p["bid_id"] for p in result.evaluation["passed_over"]] == [same]


def test_a_regulator_exception_lets_one_supplier_hold_both(world: World) -> None:
    project_id = new_project(world)
    approve_mode(world, project_id)
    _awarded_to(world, project_id, "integration", "enterprise")
    ops = new_lot(world, project_id, category="operations", budget="400000")
    tender_id = new_tender(world, ops, method="lowest_price", weights=None)
    bid(world, tender_id, world.principal("enterprise.admin"), "200000")
    open_tender(world, tender_id)
    with world.platform.db.write() as session:
        exception_id = lots.grant_exception(
            session=session,
            actor=world.principal("regulator.admin"),
            lot_id=ops,
            supplier_id=world.ids["enterprise"],
            rule="separation.dev_ops",
            reason="系统专有技术，唯一可维护方",
        ).value.id
    assert award(world, tender_id).award.exception_id == exception_id
    with world.platform.db.read() as session:
        (shown,) = lots.get_lot(
            session=session, actor=world.principal("regulator.admin"), lot_id=ops
        ).exceptions
    assert (shown.supplier_id, shown.supplier_name) == (
        world.ids["enterprise"],
        _participant_name(world, "enterprise"),
    )
    assert shown.granted_by_name == _participant_name(world, "regulator")


def test_suppliers_under_common_control_count_as_one(world: World) -> None:
    holder = valid_uscc("91330106MA2H00001")
    new_supplier(
        world, "jv1", "91330106MA2K00001", shareholders=[(holder, "60"), (USCC_ENTERPRISE_2, "40")]
    )
    new_supplier(
        world,
        "jv2",
        "91330106MA2L00001",
        shareholders=[(holder, "55"), ("91330106MA27XL6Y1N", "45")],
    )
    project_id = new_project(world)
    approve_mode(world, project_id)
    _awarded_to(world, project_id, "module_development", "jv1")
    ops = new_lot(world, project_id, category="operations", budget="400000")
    tender_id = new_tender(world, ops, method="lowest_price", weights=None)
    bid(world, tender_id, admin_of(world, "jv2"), "200000")
    open_tender(world, tender_id)
    with pytest.raises(PolicyViolation) as caught:
        award(world, tender_id)
    assert caught.value.details["rule"] == "separation.dev_ops"


def _cancel(world: World, lot_id: int, key: str = "department.admin") -> Any:
    with world.platform.db.write() as session:
        return lots.cancel_lot(
            session=session, actor=world.principal(key), lot_id=lot_id, reason="需求调整 / scope"
        )


def test_cancelling_a_lot_closes_its_tender_and_keeps_its_bids_sealed(world: World) -> None:
    lot_id = ready_lot(world)
    tender_id = new_tender(world, lot_id, start=utcnow() - 1.5 * HOUR)
    bid_id = bid(world, tender_id, world.principal("enterprise.admin"), at=utcnow())
    with pytest.raises(Forbidden):
        _cancel(world, lot_id, "enterprise.admin")
    recorded = _cancel(world, lot_id)
    assert recorded.value.status == "cancelled"
    with world.platform.db.read() as session:
        tender = session.get(Tender, tender_id)
        sealed = session.get(Bid, bid_id)
        event = session.get(Event, recorded.log_index)
        assert tender is not None
        assert tender.status == "cancelled"
        assert sealed is not None
        assert sealed.status == "sealed"
        assert event is not None
        assert event.type == EventType.LOT_CANCELLED
    with pytest.raises(InvalidTransition):
        open_tender(world, tender_id)
    before = rows(world)
    with pytest.raises(InvalidTransition) as caught:
        _cancel(world, lot_id)
    assert caught.value.details["status"] == "cancelled"
    assert rows(world) == before


def test_an_awarded_lot_cannot_be_cancelled(world: World) -> None:
    lot_id = ready_lot(world)
    tender_id = new_tender(world, lot_id, method="lowest_price", weights=None)
    bid(world, tender_id, world.principal("enterprise.admin"))
    open_tender(world, tender_id)
    award(world, tender_id)
    with pytest.raises(InvalidTransition) as caught:
        _cancel(world, lot_id)
    assert caught.value.details["status"] == "awarded"


def test_bids_of_a_supplier_and_the_one_controlling_it_are_not_responsive(world: World) -> None:
    with world.platform.db.write() as session:
        session.add(
            Shareholder(
                participant_id=world.ids["enterprise"],
                holder_name="示范控股",
                holder_uscc=USCC_ENTERPRISE_2,
                holder_participant_id=world.ids["enterprise2"],
                stake_bp=6000,
            )
        )
    tender_id = new_tender(world, ready_lot(world), method="lowest_price", weights=None)
    bid(world, tender_id, world.principal("enterprise.admin"), "400000")
    bid(world, tender_id, world.principal("enterprise2.admin"), "390000")
    opened = open_tender(world, tender_id)
    with world.platform.db.read() as session:
        assert [b.responsive for b in session.scalars(select(Bid).order_by(Bid.id))] == [
            False,
            False,
        ]
    assert opened is not None
    with pytest.raises(InvalidTransition) as caught:
        award(world, tender_id)
    assert caught.value.details["reason"] == "no_responsive_bid"


def test_the_log_does_not_name_a_bidder_before_the_opening(world: World) -> None:
    tender_id = new_tender(world, ready_lot(world), start=utcnow() - 1.5 * HOUR)
    bid(world, tender_id, world.principal("enterprise.admin"), at=utcnow())
    with world.platform.db.read() as session:
        event = session.scalar(select(Event).where(Event.type == EventType.BID_SUBMITTED))
        assert event is not None
        assert event.actor == "sealed-bid-box"
        assert event.actor_participant_id is None
        assert event.payload["bidder_id"] == world.ids["enterprise"]
        assert event.payload["price"] == "400000.00"


def test_a_lot_whose_bids_are_opened_cannot_be_cancelled(world: World) -> None:
    lot_id = ready_lot(world)
    tender_id = new_tender(world, lot_id, method="lowest_price", weights=None)
    bid(world, tender_id, world.principal("enterprise.admin"))
    open_tender(world, tender_id)
    with pytest.raises(InvalidTransition) as caught:
        _cancel(world, lot_id)
    assert caught.value.details["tender_status"] == "opened"
