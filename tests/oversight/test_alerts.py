"""Concentration, lock-in and continuity alerts over the store, on both backends."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from datacompact.delivery import contracts
from datacompact.delivery.schemas import HandoverIn
from datacompact.errors import Forbidden, InvalidInput
from datacompact.oversight import alerts
from datacompact.oversight.schemas import AlertReport
from datacompact.permissions import Principal
from datacompact.store.models import Participant, Shareholder
from datacompact.store.project_models import Contract

from ..conftest import World
from ..delivery._delivery import build, sign

TODAY = date(2026, 1, 15)  # the contracts of ``_delivery`` end on 2026-02-28: in 44 days


def _alerts(world: World, actor: str = "regulator.auditor", **options: Any) -> AlertReport:
    with world.platform.db.read() as session:
        return alerts.alerts(
            session=session,
            actor=world.principal(actor),
            today=options.pop("today", TODAY),
            **options,
        )


def _award(world: World, supplier: str, value: str, **options: Any) -> int:
    with world.platform.db.write() as session:
        built = build(
            session,
            owner=world.ids[options.pop("owner", "department")],
            supplier=world.ids[supplier],
            bidders=(world.ids[supplier],),
            value=value,
            **options,
        )
    assert built.award_id is not None
    return built.award_id


def _controls(world: World, holder: str, company: str, percent: int) -> None:
    with world.platform.db.write() as session:
        holding = session.get(Participant, world.ids[holder])
        assert holding is not None
        session.add(
            Shareholder(
                participant_id=world.ids[company],
                holder_name="控股股东",
                holder_uscc=holding.uscc,
                holder_participant_id=world.ids[holder],
                stake_bp=percent * 100,
            )
        )


def test_concentration_city_owner_and_domain(world: World) -> None:
    _award(world, "enterprise", "700000.00")
    _award(world, "enterprise2", "300000.00", domain="health")
    report = _alerts(world)
    by_scope = {(c.scope, c.key): c for c in report.concentration}
    city = by_scope[("city", "city")]
    assert (city.hhi, city.top1_share, city.top3_share) == ("5800.00", "0.7000", "1.0000")
    assert city.suppliers[0].group_id == world.ids["enterprise"]
    assert by_scope[("owner", str(world.ids["department"]))].total_value == "1000000.00"
    assert by_scope[("domain", "health")].hhi == "10000.00"
    fired = {(a.kind, a.scope, a.group_id) for a in report.concentration_alerts}
    assert ("supplier_share", "city", world.ids["enterprise"]) in fired
    # Exactly at the 30% limit does not alert.
    assert ("supplier_share", "city", world.ids["enterprise2"]) not in fired
    assert ("hhi", "city", None) in fired
    assert all("/" in a.message for a in report.concentration_alerts)  # zh / en


def test_thresholds_are_parameters(world: World) -> None:
    _award(world, "enterprise", "700000.00")
    _award(world, "enterprise2", "300000.00")
    relaxed = _alerts(world, max_share=Decimal("0.75"), hhi_threshold=Decimal("6000"))
    assert relaxed.concentration_alerts == []
    assert (relaxed.max_share, relaxed.hhi_threshold) == ("0.75", "6000")
    strict = _alerts(world, max_share=Decimal("0.25"))
    assert {a.group_id for a in strict.concentration_alerts if a.scope == "city"} >= {
        world.ids["enterprise"],
        world.ids["enterprise2"],
    }
    for bad in ({"max_share": Decimal("0")}, {"max_share": Decimal("1.5")}, {"horizon_days": -1}):
        with pytest.raises(InvalidInput):
            _alerts(world, **bad)


def test_suppliers_under_common_control_count_as_one(world: World) -> None:
    _award(world, "enterprise", "700000.00")
    _award(world, "enterprise2", "300000.00")
    _controls(world, "enterprise2", "enterprise", 60)
    city = next(c for c in _alerts(world).concentration if c.scope == "city")
    assert city.hhi == "10000.00"
    assert [s.group_id for s in city.suppliers] == [world.ids["enterprise2"]]


def test_lock_in_of_one_system(world: World) -> None:
    dev = _award(world, "enterprise", "500000", category="module_development")
    ops = _award(world, "enterprise2", "200000", category="operations")
    data = _award(world, "enterprise", "100000", category="data_services")
    _award(world, "enterprise", "100000", category="operations", system="另一个系统")
    assert _alerts(world).lock_in == []
    _controls(world, "enterprise", "enterprise2", 51)
    (found,) = _alerts(world).lock_in
    assert found.system == "一网通办平台"
    assert found.group_id == world.ids["enterprise"]
    assert found.award_ids == sorted([dev, ops, data])
    assert found.suppliers == sorted([world.ids["enterprise"], world.ids["enterprise2"]])
    assert "lock-in" in found.message


def _contract(world: World, supplier: str = "enterprise", **overrides: Any) -> int:
    return sign(world, "department", _award(world, supplier, "1000000.00"), **overrides)


def test_continuity_alert_for_a_contract_ending_without_handover(world: World) -> None:
    bare = _contract(world)
    (alert,) = _alerts(world).continuity
    assert alert.contract_id == bare
    assert alert.days_left == 44
    assert alert.missing_handover == ["documentation", "credentials", "code_escrow"]
    assert "successor" in alert.message
    # Ending later than the horizon: no alert yet; exactly on it: an alert.
    assert _alerts(world, today=date(2025, 11, 29)).continuity == []
    assert len(_alerts(world, today=date(2025, 11, 30)).continuity) == 1
    assert _alerts(world, horizon_days=30).continuity == []
    # Past its end and still active: still an alert.
    assert _alerts(world, today=date(2026, 3, 10)).continuity[0].days_left == -10


def test_handover_or_successor_lot_clears_the_alert(world: World) -> None:
    first = _contract(world)
    second = _contract(world, "enterprise2")
    assert {a.contract_id for a in _alerts(world).continuity} == {first, second}
    with world.platform.db.write() as session:
        contracts.update_handover(
            session=session,
            actor=world.principal("department.admin"),
            contract_id=first,
            data=HandoverIn(documentation=True, credentials=True, code_escrow=False),
        )
    # A partial package is not a handover.
    assert {a.contract_id for a in _alerts(world).continuity} == {first, second}
    with world.platform.db.write() as session:
        contracts.update_handover(
            session=session,
            actor=world.principal("department.admin"),
            contract_id=first,
            data=HandoverIn(documentation=True, credentials=True, code_escrow=True),
        )
        successor = session.get(Contract, second)
        assert successor is not None
        build(session, owner=world.ids["department"], supplier=None, successor_of=successor.lot_id)
    assert _alerts(world).continuity == []


def test_only_the_supervising_parties_read_alerts(world: World) -> None:
    for actor in ("regulator.auditor", "regulator.reviewer", "regulator.admin"):
        assert isinstance(_alerts(world, actor), AlertReport)
    for actor in ("enterprise.admin", "department.reviewer", "regulator.analyst"):
        with pytest.raises(Forbidden):
            _alerts(world, actor)
    with world.platform.db.read() as session, pytest.raises(Forbidden):
        alerts.alerts(
            session=session, actor=Principal.anonymous(world.platform.settings.governance_mode)
        )


def test_a_market_of_one_award_alerts_only_when_asked(world: World) -> None:
    _award(world, "enterprise", "700000.00")
    _award(world, "enterprise2", "300000.00")
    _award(world, "enterprise", "50000.00", owner="regulator", domain="health")
    report = _alerts(world)
    single = {(c.scope, c.key): c for c in report.concentration}
    assert single[("domain", "health")].awards == 1
    assert single[("domain", "health")].hhi == "10000.00"  # still measured
    fired = {(a.kind, a.scope, a.key) for a in report.concentration_alerts}
    assert not {f for f in fired if f[2] in ("health", str(world.ids["regulator"]))}
    assert ("hhi", "owner", str(world.ids["department"])) in fired  # two awards: alerts
    asked = _alerts(world, include_single=True)
    assert asked.include_single
    fired = {(a.kind, a.scope, a.key) for a in asked.concentration_alerts}
    assert {("hhi", "domain", "health"), ("hhi", "owner", str(world.ids["regulator"]))} <= fired


def test_alerts_name_the_firms_and_owners_they_count(world: World) -> None:
    _award(world, "enterprise", "700000.00")
    _award(world, "enterprise2", "300000.00")
    report = _alerts(world)
    with world.platform.db.read() as session:
        names = alerts.participant_names(session)
    share = next(a for a in report.concentration_alerts if a.kind == "supplier_share")
    assert share.group_id is not None
    assert share.group_name == names[share.group_id]
    owner = next(c for c in report.concentration if c.scope == "owner")
    assert owner.key_name == names[world.ids["department"]]
    assert all(s.group_name == names[s.group_id] for s in owner.suppliers)
    assert all(c.supplier_name == names[c.supplier_id] for c in report.continuity)
