"""How a contract reads: its KPIs measured against their targets, milestones and reports."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.delivery.schemas import (
    MEASURED_BY_PLATFORM,
    ContractPublic,
    KpiPublic,
    MilestonePublic,
    SlaReportPublic,
)
from datacompact.registry import lookup
from datacompact.store.models import Resource
from datacompact.store.project_models import Contract, Lot, Project, SlaReport

HANDOVER_ITEMS = ("documentation", "credentials", "code_escrow")


def project_of(session: Session, lot_id: int) -> tuple[Lot, Project]:
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise RuntimeError(f"lot {lot_id} is missing")
    project = session.get(Project, lot.project_id)
    if project is None:
        raise RuntimeError(f"the project of lot {lot_id} is missing")
    return lot, project


def measure(session: Session, contract: Contract) -> list[KpiPublic]:
    """Each KPI with its latest measurement: the newest report naming it, or the catalog."""
    reports = session.scalars(
        select(SlaReport)
        .where(SlaReport.contract_id == contract.id)
        .order_by(SlaReport.period.desc())
    ).all()
    out = []
    for k in contract.kpis:
        measured: str | None = None
        measured_in: str | None = None
        if k.name in MEASURED_BY_PLATFORM and k.resource_id is not None:
            resource = session.get(Resource, k.resource_id)
            if resource is not None and resource.versions:
                latest = resource.versions[-1]
                overall = latest.quality.get("overall")
                if isinstance(overall, int | float):
                    measured = str(Decimal(repr(overall)))
                    measured_in = f"resource {resource.code} v{latest.number}"
        else:
            found = next((r for r in reports if k.name in r.values), None)
            if found is not None:
                measured, measured_in = found.values[k.name], found.period
        met = measured is not None and (
            Decimal(measured) >= Decimal(k.target)
            if k.comparator == ">="
            else Decimal(measured) <= Decimal(k.target)
        )
        out.append(
            KpiPublic(
                name=k.name,
                target=k.target,
                comparator=k.comparator,
                unit=k.unit,
                resource_id=k.resource_id,
                measured=measured,
                measured_in=measured_in,
                met=met,
            )
        )
    return out


def view(session: Session, contract: Contract) -> ContractPublic:
    lot, project = project_of(session, contract.lot_id)
    reports = session.scalars(
        select(SlaReport).where(SlaReport.contract_id == contract.id).order_by(SlaReport.period)
    )
    handover = {k: bool(contract.handover.get(k)) for k in HANDOVER_ITEMS}
    return ContractPublic(
        id=contract.id,
        award_id=contract.award_id,
        project_id=project.id,
        lot_id=lot.id,
        owner_id=project.owner_id,
        supplier_id=contract.supplier_id,
        owner_name=lookup.participant_name(session, project.owner_id),
        supplier_name=lookup.participant_name(session, contract.supplier_id),
        value=contract.value,
        starts_on=contract.starts_on,
        ends_on=contract.ends_on,
        status=contract.status,
        handover=handover,
        handover_complete=all(handover.values()),
        kpis=measure(session, contract),
        milestones=[
            MilestonePublic(
                id=m.id,
                title=m.title,
                amount=m.amount,
                due_on=m.due_on,
                kpis=list(m.kpis),
                status=m.status,
                accepted_at=m.accepted_at,
            )
            for m in contract.milestones
        ],
        reports=[
            SlaReportPublic(
                id=r.id, period=r.period, values=r.values, sha256=r.sha256, created_at=r.created_at
            )
            for r in reports
        ],
        created_at=contract.created_at,
    )
