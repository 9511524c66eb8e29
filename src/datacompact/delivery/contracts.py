"""Contracts and result-oriented acceptance (结果导向): KPIs, SLA reports, milestones, handover.

A contract is signed by the project owner from an award. It carries KPIs with
targets (availability, response time, cases handled per day, user
satisfaction, and the catalog's data-quality score of a resource) and payment
milestones, each naming the KPIs that must be met before it is paid. The
supplier reports its O&M figures once per period (``YYYY-MM``), as JSON or
CSV. A KPI's measurement is its value in the newest report that names it;
``data_quality`` is measured by the platform (the ``overall`` quality score of
the resource's latest version, ``ingest.quality``) and never self-reported.

The owner accepts a milestone only when its KPIs are met, and the contract
only once every milestone is accepted, every KPI is met and the deliverables
the lot requires are deposited (:mod:`.deliverables`); a refusal names each
unmet KPI with its measurement and target. Every check runs before the
first write, so a refused call leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.clock import today_cst, utcnow
from datacompact.decimals import parse_decimal_field
from datacompact.delivery._contract_view import HANDOVER_ITEMS, measure, project_of, view
from datacompact.delivery._sla import parse_sla_report
from datacompact.delivery.deliverables import missing_kinds
from datacompact.delivery.schemas import (
    KPI_RULES,
    MEASURED_BY_PLATFORM,
    PERCENT_KPIS,
    ContractCreate,
    ContractPublic,
    HandoverIn,
    KpiPublic,
    SlaReportIn,
)
from datacompact.errors import (
    Conflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PolicyViolation,
)
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.ledger.formats.entry import canonical_json
from datacompact.permissions import Actions, PartyResource, Principal, authorize
from datacompact.store.models import Resource
from datacompact.store.project_models import (
    Award,
    Contract,
    Kpi,
    Lot,
    Milestone,
    Project,
    SlaReport,
)

_KPI_KEY = re.compile(r"[a-z_]{1,32}")

__all__ = ["HANDOVER_ITEMS", "parse_sla_report", "view"]
__all__ += ["accept_contract", "accept_milestone", "get_contract", "list_contracts"]
__all__ += ["report_sla", "sign_contract", "update_handover"]


def _owner_ref(project: Project, contract_supplier: int) -> PartyResource:
    return PartyResource(
        participant_id=project.owner_id, parties=frozenset({project.owner_id, contract_supplier})
    )


def _authorize_owner(session: Session, actor: Principal, contract: Contract) -> None:
    _lot, project = project_of(session, contract.lot_id)
    authorize(
        actor=actor,
        action=Actions.PROJECT_MANAGE,
        resource=_owner_ref(project, contract.supplier_id),
    )


def _load(session: Session, contract_id: int, *, lock: bool = False) -> Contract:
    contract = session.get(Contract, contract_id, with_for_update=lock)
    if contract is None:
        raise NotFound("合同不存在 / contract not found", details={"contract_id": contract_id})
    return contract


def _must_be_active(contract: Contract) -> None:
    if contract.status != "active":
        raise InvalidTransition(
            f"合同已{contract.status} / the contract is {contract.status}, not active",
            details={"status": contract.status},
        )


def _checked_value(name: str, text: str | None, field: str) -> Decimal:
    if text is None:
        raise InvalidInput(
            f"指标 {name} 缺少目标值 / KPI {name} has no target",
            details={"kpi": name, "reason": "missing_target"},
        )
    value = parse_decimal_field(text, field)
    if name in PERCENT_KPIS and value > 100:
        raise InvalidInput(
            f"{field} 须在 0–100 之间 / expected {field} between 0 and 100, got more",
            details={"field": field, "reason": "out_of_range"},
        )
    return value


def sign_contract(
    *, session: Session, actor: Principal, data: ContractCreate
) -> Recorded[ContractPublic]:
    """The project owner signs a contract from an award, with its KPIs and milestones."""
    award = session.get(Award, data.award_id, with_for_update=True)
    if award is None:
        raise NotFound("中标记录不存在 / award not found", details={"award_id": data.award_id})
    lot, project = project_of(session, award.lot_id)
    authorize(
        actor=actor,
        action=Actions.PROJECT_MANAGE,
        resource=_owner_ref(project, award.supplier_id),
    )
    if session.scalar(select(Contract.id).where(Contract.award_id == award.id)) is not None:
        raise Conflict(
            "该中标已签订合同 / a contract was already signed for this award",
            details={"award_id": award.id},
        )
    if data.ends_on <= data.starts_on:
        raise InvalidInput(
            "合同结束日期须晚于开始日期 / expected the contract to end after it starts",
            details={"field": "ends_on", "reason": "end_before_start"},
        )
    value = (
        parse_decimal_field(data.value, "value") if data.value is not None else Decimal(award.value)
    )
    names = [k.name for k in data.kpis]
    if len(set(names)) != len(names):
        raise InvalidInput("指标重复 / expected each KPI once", details={"field": "kpis"})
    kpis = []
    for k in data.kpis:
        target = _checked_value(k.name, k.target, f"kpis.{k.name}.target")
        if (k.name == "data_quality") != (k.resource_id is not None):
            raise InvalidInput(
                "仅数据质量指标关联数据资源，且必须关联 / expected a resource_id for data_quality"
                " and for no other KPI",
                details={"kpi": k.name, "field": "resource_id"},
            )
        if k.resource_id is not None and session.get(Resource, k.resource_id) is None:
            raise NotFound(
                "数据资源不存在 / resource not found", details={"resource_id": k.resource_id}
            )
        comparator, unit = KPI_RULES[k.name]
        kpis.append(
            Kpi(
                name=k.name,
                target=str(target),
                comparator=comparator,
                unit=unit,
                resource_id=k.resource_id,
            )
        )
    milestones = []
    for index, m in enumerate(data.milestones):
        amount = parse_decimal_field(m.amount, f"milestones.{index}.amount")
        if not m.kpis or not set(m.kpis) <= set(names):
            raise InvalidInput(
                "付款节点须列出合同中的指标 / expected each milestone to name KPIs of the contract",
                details={"field": f"milestones.{index}.kpis", "reason": "unknown_kpi"},
            )
        milestones.append(
            Milestone(title=m.title, amount=str(amount), due_on=m.due_on, kpis=list(m.kpis))
        )
    if sum((Decimal(m.amount) for m in milestones), Decimal(0)) > value:
        raise InvalidInput(
            "付款节点合计超过合同金额 / expected the milestones to add up to at most the contract value",
            details={"field": "milestones", "reason": "over_value"},
        )
    contract = Contract(
        award_id=award.id,
        lot_id=lot.id,
        supplier_id=award.supplier_id,
        value=str(value),
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        status="active",
        handover=data.handover.model_dump(),
        kpis=kpis,
        milestones=milestones,
    )
    session.add(contract)
    session.flush()
    payload = {
        "award_id": award.id,
        "lot_id": lot.id,
        "supplier_id": award.supplier_id,
        "value": contract.value,
        "starts_on": contract.starts_on.isoformat(),
        "ends_on": contract.ends_on.isoformat(),
        "kpis": [{"name": k.name, "target": k.target, "comparator": k.comparator} for k in kpis],
        "milestones": [
            {"id": m.id, "amount": m.amount, "due_on": m.due_on.isoformat(), "kpis": m.kpis}
            for m in milestones
        ],
    }
    (event,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.CONTRACT_SIGNED, "contract", contract.id, payload)],
    )
    return Recorded(view(session, contract), event.seq)


def update_handover(
    *, session: Session, actor: Principal, contract_id: int, data: HandoverIn
) -> Recorded[ContractPublic]:
    """The owner records what of the handover package it has received."""
    contract = _load(session, contract_id, lock=True)
    _authorize_owner(session, actor, contract)
    before = dict(contract.handover)
    contract.handover = data.model_dump()
    payload = {
        "from": sorted(k for k in HANDOVER_ITEMS if before.get(k)),
        "to": sorted(k for k in HANDOVER_ITEMS if contract.handover[k]),
    }
    (event,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.CONTRACT_HANDOVER_UPDATED, "contract", contract.id, payload)],
    )
    return Recorded(view(session, contract), event.seq)


def report_sla(
    *,
    session: Session,
    actor: Principal,
    contract_id: int,
    data: SlaReportIn,
    today: date | None = None,
) -> Recorded[ContractPublic]:
    """The supplier reports one period's measured KPI values, once per period."""
    contract = _load(session, contract_id, lock=True)
    authorize(
        actor=actor,
        action=Actions.SLA_REPORT,
        resource=PartyResource(participant_id=contract.supplier_id),
    )
    _must_be_active(contract)
    now = today or today_cst()
    if data.period > f"{now:%Y-%m}":
        raise InvalidInput(
            "报告期间尚未到来 / expected a period that has begun, got one in the future",
            details={"field": "period", "reason": "future_period"},
        )
    if data.period < f"{contract.starts_on:%Y-%m}":
        raise InvalidInput(
            "报告期间早于合同开始 / expected a period within the contract, got one before it",
            details={"field": "period", "reason": "before_contract"},
        )
    known = {k.name: k for k in contract.kpis}
    values: dict[str, str] = {}
    for key, text in sorted(data.values.items()):
        if key in MEASURED_BY_PLATFORM:
            raise InvalidInput(
                f"指标 {key} 由平台测量，不能报送 / KPI {key} is measured by the platform, not reported",
                details={"kpi": key, "reason": "measured_by_platform"},
            )
        if key not in known:
            name = key if _KPI_KEY.fullmatch(key) else "(unnamed)"
            raise InvalidInput(
                f"合同没有指标 {name} / the contract has no KPI {name}",
                details={"kpi": name, "reason": "unknown_kpi"},
            )
        values[key] = str(_checked_value(key, text, f"values.{key}"))
    taken = session.scalar(
        select(SlaReport.id).where(
            SlaReport.contract_id == contract.id, SlaReport.period == data.period
        )
    )
    if taken is not None:
        raise Conflict(
            f"期间 {data.period} 已报送 / a report for {data.period} exists already",
            details={"period": data.period, "reason": "duplicate_period"},
        )
    digest = hashlib.sha256(canonical_json({"period": data.period, "values": values})).hexdigest()
    report = SlaReport(contract_id=contract.id, period=data.period, values=values, sha256=digest)
    session.add(report)
    session.flush()
    payload = {"period": data.period, "sha256": digest, "values": values}
    (event,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.SLA_REPORTED, "contract", contract.id, payload)],
    )
    return Recorded(view(session, contract), event.seq)


def _unmet(kpis: list[KpiPublic]) -> list[dict[str, str | None]]:
    return [
        {
            "kpi": k.name,
            "measured": k.measured,
            "measured_in": k.measured_in,
            "target": f"{k.comparator} {k.target}",
        }
        for k in kpis
        if not k.met
    ]


def _refuse(unmet: list[dict[str, str | None]], what: str) -> PolicyViolation:
    said = "; ".join(
        f"{u['kpi']} {u['measured'] or 'not measured'} (target {u['target']})" for u in unmet
    )
    return PolicyViolation(
        f"指标未达标，不能验收{what} / cannot accept the {what}: KPI not met: {said}",
        details={"rule": "acceptance.kpis_unmet", "unmet": unmet},
    )


def accept_milestone(
    *, session: Session, actor: Principal, contract_id: int, milestone_id: int
) -> Recorded[ContractPublic]:
    """The owner accepts a milestone (releasing its payment) once its KPIs are met."""
    contract = _load(session, contract_id, lock=True)
    milestone = next((m for m in contract.milestones if m.id == milestone_id), None)
    if milestone is None:
        raise NotFound(
            "付款节点不存在 / milestone not found", details={"milestone_id": milestone_id}
        )
    _authorize_owner(session, actor, contract)
    _must_be_active(contract)
    if milestone.status != "pending":
        raise InvalidTransition(
            "付款节点已验收 / the milestone is accepted already",
            details={"status": milestone.status},
        )
    named = [k for k in measure(session, contract) if k.name in milestone.kpis]
    if unmet := _unmet(named):
        raise _refuse(unmet, "milestone")
    milestone.status = "accepted"
    milestone.accepted_at = utcnow()
    payload = {
        "milestone_id": milestone.id,
        "amount": milestone.amount,
        "kpis": [{"kpi": k.name, "measured": k.measured, "in": k.measured_in} for k in named],
    }
    (event,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.MILESTONE_ACCEPTED, "contract", contract.id, payload)],
    )
    return Recorded(view(session, contract), event.seq)


def accept_contract(
    *, session: Session, actor: Principal, contract_id: int
) -> Recorded[ContractPublic]:
    """Final acceptance (终验): every milestone accepted, every KPI met, deliverables in.

    The deliverables the lot requires must have been deposited: open source
    when ``Lot.open_source``, key code in escrow when ``Lot.code_escrow``.

    Recorded as ``contract.accepted`` with the measured KPI values.
    """
    contract = _load(session, contract_id, lock=True)
    _authorize_owner(session, actor, contract)
    _must_be_active(contract)
    pending = [m.id for m in contract.milestones if m.status != "accepted"]
    if pending:
        raise InvalidTransition(
            f"尚有 {len(pending)} 个付款节点未验收 / {len(pending)} milestone(s) not accepted yet",
            details={"pending_milestones": pending},
        )
    kpis = measure(session, contract)
    if unmet := _unmet(kpis):
        raise _refuse(unmet, "contract")
    if missing := missing_kinds(session, contract):
        raise PolicyViolation(
            "标段要求的交付物未交付，不能终验 / cannot accept the contract: the lot requires"
            f" deliverables not yet deposited: {', '.join(missing)}",
            details={"rule": "deliverables.missing", "missing": missing},
        )
    contract.status = "accepted"
    payload = {
        "kpis": [{"kpi": k.name, "measured": k.measured, "in": k.measured_in} for k in kpis],
    }
    (event,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.CONTRACT_ACCEPTED, "contract", contract.id, payload)],
    )
    return Recorded(view(session, contract), event.seq)


def get_contract(*, session: Session, actor: Principal, contract_id: int) -> ContractPublic:
    contract = _load(session, contract_id)
    authorize(actor=actor, action=Actions.PROJECT_READ, resource=PartyResource())
    return view(session, contract)


def list_contracts(
    *, session: Session, actor: Principal, project_id: int | None = None
) -> list[ContractPublic]:
    authorize(actor=actor, action=Actions.PROJECT_READ, resource=PartyResource())
    query = select(Contract).order_by(Contract.id)
    if project_id is not None:
        query = query.join(Lot, Lot.id == Contract.lot_id).where(Lot.project_id == project_id)
    return [view(session, c) for c in session.scalars(query)]
