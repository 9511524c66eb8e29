"""Contracts, SLA reports and result-oriented acceptance, in the store, on both backends.

Every refused call is checked to leave nothing behind: no contract, KPI,
milestone or report row and no log entry.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from datacompact.catalog import resources
from datacompact.catalog.schemas import ResourceBase
from datacompact.delivery import contracts
from datacompact.delivery.schemas import ContractCreate, HandoverIn, SlaReportIn
from datacompact.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    MalformedInput,
    NotFound,
    PolicyViolation,
)
from datacompact.events import EventType
from datacompact.store.models import Event, Resource
from datacompact.store.project_models import Contract, Kpi, Milestone, SlaReport

from ..conftest import World
from ._delivery import MET, award_for, contract_body, report, sign

TODAY = date(2026, 3, 15)
COUNTED = (Contract, Kpi, Milestone, SlaReport, Event)


def counts(world: World) -> dict[str, int]:
    with world.platform.db.read() as session:
        return {
            m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0
            for m in COUNTED
        }


def _sign(world: World, body: dict[str, Any], actor: str = "department.admin") -> Any:
    with world.platform.db.write() as session:
        return contracts.sign_contract(
            session=session,
            actor=world.principal(actor),
            data=ContractCreate.model_validate(body),
        )


def _report(
    world: World, contract_id: int, body: dict[str, Any], actor: str = "enterprise.admin"
) -> Any:
    with world.platform.db.write() as session:
        return contracts.report_sla(
            session=session,
            actor=world.principal(actor),
            contract_id=contract_id,
            data=SlaReportIn.model_validate(body),
            today=TODAY,
        )


def _accept(world: World, contract_id: int, milestone_id: int | None = None) -> Any:
    with world.platform.db.write() as session:
        actor = world.principal("department.admin")
        if milestone_id is None:
            return contracts.accept_contract(session=session, actor=actor, contract_id=contract_id)
        return contracts.accept_milestone(
            session=session, actor=actor, contract_id=contract_id, milestone_id=milestone_id
        )


@pytest.fixture
def award_id(world: World) -> int:
    return award_for(world, "department", "enterprise")


@pytest.fixture
def contract(world: World, award_id: int) -> int:
    return sign(world, "department", award_id)


def _event(world: World, seq: int) -> Event:
    with world.platform.db.read() as session:
        event = session.get(Event, seq)
        assert event is not None
        return event


# -- signing --------------------------------------------------------------------------------


def test_sign_contract_with_kpis_and_milestones(world: World, award_id: int) -> None:
    recorded = _sign(world, contract_body(award_id))
    signed = recorded.value
    assert signed.status == "active"
    assert signed.value == "1000000.00"
    assert signed.supplier_id == world.ids["enterprise"]
    assert signed.owner_id == world.ids["department"]
    # Names beside ids (the world's participants are named 测试<admin username>).
    assert (signed.owner_name, signed.supplier_name) == (
        "测试department.admin",
        "测试enterprise.admin",
    )
    with world.platform.db.read() as session:
        listed = contracts.list_contracts(
            session=session, actor=world.principal("enterprise.analyst")
        )
    assert [(c.owner_name, c.supplier_name) for c in listed] == [
        ("测试department.admin", "测试enterprise.admin")
    ]
    rules = {k.name: (k.comparator, k.target, k.unit) for k in signed.kpis}
    assert rules["availability"] == (">=", "99.9", "%")
    assert rules["response_time"] == ("<=", "30", "minutes")
    assert not any(k.met for k in signed.kpis)
    assert all(k.measured is None for k in signed.kpis)
    assert [m.amount for m in signed.milestones] == ["300000.00", "700000.00"]
    assert not signed.handover_complete
    event = _event(world, recorded.log_index)
    assert event.type == EventType.CONTRACT_SIGNED
    assert event.object_id == str(signed.id)


@pytest.mark.parametrize(
    ("change", "error", "reason"),
    [
        ({"kpis": [{"name": "availability"}]}, InvalidInput, "missing_target"),
        ({"ends_on": "2025-02-01"}, InvalidInput, "end_before_start"),
        ({"ends_on": "2025-03-01"}, InvalidInput, "end_before_start"),
        ({"value": "1e6"}, InvalidInput, "not_decimal"),
        ({"value": "一百万"}, InvalidInput, "not_decimal"),
        ({"kpis": [{"name": "availability", "target": "high"}]}, InvalidInput, "not_decimal"),
        ({"kpis": [{"name": "satisfaction", "target": "120"}]}, InvalidInput, "out_of_range"),
        (
            {
                "milestones": [
                    {
                        "title": "首付",
                        "amount": "1,000",
                        "due_on": "2025-06-30",
                        "kpis": ["availability"],
                    }
                ]
            },
            InvalidInput,
            "not_decimal",
        ),
        (
            {
                "milestones": [
                    {
                        "title": "首付",
                        "amount": "100",
                        "due_on": "2025-06-30",
                        "kpis": ["data_quality"],
                    }
                ]
            },
            InvalidInput,
            "unknown_kpi",
        ),
        (
            {
                "milestones": [
                    {
                        "title": "超付",
                        "amount": "2000000",
                        "due_on": "2025-06-30",
                        "kpis": ["availability"],
                    }
                ]
            },
            InvalidInput,
            "over_value",
        ),
    ],
)
def test_bad_contracts_are_refused_and_write_nothing(
    world: World, award_id: int, change: dict[str, Any], error: type[Exception], reason: str
) -> None:
    before = counts(world)
    with pytest.raises(error) as caught:
        _sign(world, contract_body(award_id, **change))
    assert caught.value.details["reason"] == reason  # type: ignore[attr-defined]
    assert counts(world) == before


def test_kpi_without_a_target_is_named(world: World, award_id: int) -> None:
    body = contract_body(
        award_id, kpis=[{"name": "availability", "target": "99"}, {"name": "response_time"}]
    )
    with pytest.raises(InvalidInput, match="response_time") as caught:
        _sign(world, body)
    assert caught.value.details == {"kpi": "response_time", "reason": "missing_target"}


def test_data_quality_needs_a_resource_and_only_it(world: World, award_id: int) -> None:
    for kpis in (
        [{"name": "data_quality", "target": "90"}],
        [{"name": "availability", "target": "99", "resource_id": 1}],
    ):
        with pytest.raises(InvalidInput):
            _sign(world, contract_body(award_id, kpis=kpis, milestones=[]))
    with pytest.raises(NotFound):
        _sign(
            world,
            contract_body(
                award_id,
                kpis=[{"name": "data_quality", "target": "90", "resource_id": 999}],
                milestones=[],
            ),
        )


def test_only_the_owner_signs_and_only_once(world: World, award_id: int) -> None:
    before = counts(world)
    for actor in ("enterprise.admin", "regulator.admin", "department.analyst"):
        with pytest.raises(Forbidden):
            _sign(world, contract_body(award_id), actor)
    assert counts(world) == before
    _sign(world, contract_body(award_id))
    with pytest.raises(Conflict):
        _sign(world, contract_body(award_id))
    with pytest.raises(NotFound):
        _sign(world, contract_body(99999))


def test_handover_update_is_logged(world: World, contract: int) -> None:
    with world.platform.db.write() as session:
        recorded = contracts.update_handover(
            session=session,
            actor=world.principal("department.admin"),
            contract_id=contract,
            data=HandoverIn(documentation=True, credentials=True, code_escrow=True),
        )
    assert recorded.value.handover_complete
    assert _event(world, recorded.log_index).type == EventType.CONTRACT_HANDOVER_UPDATED
    with world.platform.db.write() as session, pytest.raises(Forbidden):
        contracts.update_handover(
            session=session,
            actor=world.principal("enterprise.admin"),
            contract_id=contract,
            data=HandoverIn(),
        )


# -- SLA reports ----------------------------------------------------------------------------


def test_sla_report_is_stored_and_measures_kpis(world: World, contract: int) -> None:
    recorded = _report(world, contract, {"period": "2025-04", "values": MET})
    view = recorded.value
    assert [r.period for r in view.reports] == ["2025-04"]
    assert len(view.reports[0].sha256) == 64
    assert all(k.met and k.measured_in == "2025-04" for k in view.kpis)
    assert _event(world, recorded.log_index).type == EventType.SLA_REPORTED
    # The newest report that names a KPI measures it.
    view = _report(world, contract, {"period": "2025-05", "values": {"availability": "98.5"}}).value
    found = {k.name: k for k in view.kpis}
    assert found["availability"].measured == "98.5"
    assert not found["availability"].met
    assert found["response_time"].measured_in == "2025-04"


@pytest.mark.parametrize(
    ("body", "error", "reason"),
    [
        ({"period": "2025-04", "values": {"uptime": "99"}}, InvalidInput, "unknown_kpi"),
        (
            {"period": "2025-04", "values": {"data_quality": "99"}},
            InvalidInput,
            "measured_by_platform",
        ),
        ({"period": "2026-04", "values": {"availability": "99"}}, InvalidInput, "future_period"),
        ({"period": "2025-01", "values": {"availability": "99"}}, InvalidInput, "before_contract"),
        ({"period": "2025-04", "values": {"availability": "NaN"}}, InvalidInput, "not_decimal"),
        ({"period": "2025-04", "values": {"availability": "-1"}}, InvalidInput, "not_decimal"),
        ({"period": "2025-04", "values": {"availability": "101"}}, InvalidInput, "out_of_range"),
    ],
)
def test_bad_sla_reports_are_refused_and_write_nothing(
    world: World, contract: int, body: dict[str, Any], error: type[Exception], reason: str
) -> None:
    before = counts(world)
    with pytest.raises(error) as caught:
        _report(world, contract, body)
    assert caught.value.details["reason"] == reason  # type: ignore[attr-defined]
    assert counts(world) == before


def test_unknown_kpi_names_never_echo_free_text(world: World, contract: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        _report(world, contract, {"period": "2025-04", "values": {"张三 13800138000": "1"}})
    assert "13800138000" not in str(caught.value)
    assert "13800138000" not in str(caught.value.details)


def test_one_report_per_period(world: World, contract: int) -> None:
    _report(world, contract, {"period": "2025-04", "values": MET})
    before = counts(world)
    with pytest.raises(Conflict) as caught:
        _report(world, contract, {"period": "2025-04", "values": {"availability": "100"}})
    assert caught.value.details["reason"] == "duplicate_period"
    assert counts(world) == before


def test_only_the_supplier_reports(world: World, contract: int) -> None:
    for actor in ("department.admin", "enterprise2.admin", "enterprise.analyst"):
        with pytest.raises(Forbidden):
            _report(world, contract, {"period": "2025-04", "values": MET}, actor)


def test_sla_files_json_and_csv() -> None:
    csv = "\ufeffperiod,kpi,value\n2025-04,availability,99.95\n2025-04,response_time,20\n"
    parsed = contracts.parse_sla_report(csv.encode(), "text/csv; charset=utf-8")
    assert parsed == SlaReportIn(
        period="2025-04", values={"availability": "99.95", "response_time": "20"}
    )
    json_body = b'{"period": "2025-04", "values": {"availability": "99.95", "response_time": "20"}}'
    assert contracts.parse_sla_report(json_body, "application/json") == parsed
    for content, media_type, error in [
        (b"kpi,value\navailability,99\n", "text/csv", MalformedInput),
        (
            b"period,kpi,value\n2025-04,availability,99\n2025-05,satisfaction,90\n",
            "text/csv",
            MalformedInput,
        ),
        (
            b"period,kpi,value\n2025-04,availability,99\n2025-04,availability,98\n",
            "text/csv",
            InvalidInput,
        ),
        (b"{not json", "application/json", MalformedInput),
        (
            b'{"period": "2025-13", "values": {"availability": "99"}}',
            "application/json",
            InvalidInput,
        ),
        (
            b'{"period": "2025-04", "values": {"availability": 99.9}}',
            "application/json",
            InvalidInput,
        ),
        (b"\xff\xfe", "text/csv", MalformedInput),
        (b"<xml/>", "application/xml", MalformedInput),
    ]:
        with pytest.raises(error):
            contracts.parse_sla_report(content, media_type)


# -- acceptance -----------------------------------------------------------------------------


def _milestones(world: World, contract_id: int) -> list[int]:
    with world.platform.db.read() as session:
        return list(
            session.scalars(
                select(Milestone.id)
                .where(Milestone.contract_id == contract_id)
                .order_by(Milestone.id)
            )
        )


def test_milestone_refused_until_its_kpis_are_met(world: World, contract: int) -> None:
    first, _last = _milestones(world, contract)
    before = counts(world)
    with pytest.raises(PolicyViolation, match="availability not measured"):
        _accept(world, contract, first)
    assert counts(world) == before
    report(world, "enterprise", contract, "2025-04", {**MET, "response_time": "45"})
    before = counts(world)
    with pytest.raises(PolicyViolation) as caught:
        _accept(world, contract, first)
    assert "response_time 45 (target <= 30)" in caught.value.message
    assert caught.value.details["unmet"] == [
        {"kpi": "response_time", "measured": "45", "measured_in": "2025-04", "target": "<= 30"}
    ]
    assert counts(world) == before
    report(world, "enterprise", contract, "2025-05", {"response_time": "25"})
    recorded = _accept(world, contract, first)
    assert recorded.value.milestones[0].status == "accepted"
    event = _event(world, recorded.log_index)
    assert event.type == EventType.MILESTONE_ACCEPTED
    assert event.object_id == str(contract)
    with pytest.raises(InvalidTransition):
        _accept(world, contract, first)


def test_contract_acceptance_needs_milestones_and_kpis(world: World, contract: int) -> None:
    first, last = _milestones(world, contract)
    report(world, "enterprise", contract, "2025-04", MET)
    with pytest.raises(InvalidTransition) as caught:
        _accept(world, contract)
    assert caught.value.details["pending_milestones"] == [first, last]
    _accept(world, contract, first)
    _accept(world, contract, last)
    report(world, "enterprise", contract, "2025-05", {"cases_per_day": "120"})
    with pytest.raises(PolicyViolation, match="cases_per_day 120"):
        _accept(world, contract)
    report(world, "enterprise", contract, "2025-06", {"cases_per_day": "260"})
    recorded = _accept(world, contract)
    assert recorded.value.status == "accepted"
    assert _event(world, recorded.log_index).type == EventType.CONTRACT_ACCEPTED
    with pytest.raises(InvalidTransition):
        report(world, "enterprise", contract, "2025-07", MET)


def test_milestone_of_another_contract_is_not_found(world: World, contract: int) -> None:
    other = sign(world, "department", award_for(world, "department", "enterprise2"))
    with pytest.raises(NotFound):
        _accept(world, contract, _milestones(world, other)[0])


def test_data_quality_is_measured_from_the_catalog(
    world: World, award_id: int, tmp_path: Path
) -> None:
    file = tmp_path / "roster.csv"
    file.write_text("部门,人数\n综合处,12\n财务处,8\n信息处,15\n", encoding="utf-8")
    resource_id = resources.register_resource(
        db=world.platform.db,
        home=world.platform.settings.home,
        actor=world.principal("department.data_steward"),
        data=ResourceBase.model_validate({"name": "部门人员名册"}),
        file=file,
    ).value.id
    body = contract_body(
        award_id,
        kpis=[{"name": "data_quality", "target": "60", "resource_id": resource_id}],
        milestones=[
            {
                "title": "数据治理款",
                "amount": "100",
                "due_on": "2025-06-30",
                "kpis": ["data_quality"],
            }
        ],
    )
    signed = _sign(world, body).value
    with world.platform.db.read() as session:
        resource = session.get(Resource, resource_id)
        assert resource is not None
        overall = resource.versions[-1].quality["overall"]
    (kpi,) = signed.kpis
    assert kpi.measured is not None
    assert float(kpi.measured) == overall
    assert kpi.measured_in is not None
    assert kpi.measured_in.endswith("v1")
    assert kpi.met == (overall >= 60)
    if kpi.met:
        assert (
            _accept(world, signed.id, signed.milestones[0].id).value.milestones[0].status
            == "accepted"
        )
