"""Lots (标段), the regulator's rule exceptions, and task matching (任务匹配).

A project splits into lots, each of one category, so development and O&M of
one system are always separate lots; the separation rule
(:mod:`datacompact.procurement._separation`) keeps them with different supplier
groups at award. Each lot states its qualification requirements, whether its
code is delivered open source and whether it is kept in escrow.

Task matching ranks the approved enterprises for a lot with
:func:`datacompact.procurement.matching.rank_candidates`, from what the platform
knows of each: its name, its valid qualifications, the lots it was awarded,
its contracts' SLA record (:func:`past_kpi`) and its share of awarded value.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datacompact import clock
from datacompact.errors import Forbidden, InvalidInput, InvalidTransition, PolicyViolation
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.permissions import Actions, Principal, authorize
from datacompact.procurement import _common, levels, matching
from datacompact.procurement._modes import DEFAULT_RULES, ModeRules
from datacompact.procurement.schemas import (
    ExceptionPublic,
    ExcludedPublic,
    LotCreate,
    LotPublic,
    MatchPublic,
    RankingPublic,
)
from datacompact.registry import lookup
from datacompact.registry.participants import approved_of_kind
from datacompact.store.models import Participant
from datacompact.store.project_models import (
    Award,
    Contract,
    Kpi,
    Lot,
    Project,
    RuleException,
    SlaReport,
    Tender,
)
from datacompact.store.ratings import aggregates as rating_aggregates


def _lot_budget_left(session: Session, project: Project) -> Decimal:
    used = session.scalars(
        select(Lot.budget).where(Lot.project_id == project.id, Lot.status != "cancelled")
    )
    return Decimal(project.budget) - sum((Decimal(b) for b in used), Decimal(0))


def create_lot(
    *,
    session: Session,
    actor: Principal,
    project_id: int,
    data: LotCreate,
    rules: ModeRules = DEFAULT_RULES,
) -> Recorded[LotPublic]:
    """Add a lot; the lots of a project never add up to more than its budget."""
    project = _common.project(session, project_id, lock=True)
    authorize(actor=actor, action=Actions.PROJECT_MANAGE, resource=_common.project_ref(project))
    budget = _common.money(data.budget, "budget")
    left = _lot_budget_left(session, project)
    if budget > left:
        raise InvalidInput(
            f"标段预算超出项目剩余预算 {left} / the lot budget exceeds the {left} CNY left "
            "of the project budget",
            details={"field": "budget", "reason": "exceeds_project_budget", "left": str(left)},
        )
    names = [levels.name_key(r.name) for r in data.requirements]
    if len(set(names)) != len(names):
        raise InvalidInput(
            "资质要求重复 / expected each qualification requirement once",
            details={"field": "requirements"},
        )
    if (
        project.mode == "franchise"
        and rules.franchise_requires_levels
        and not any(r.mandatory for r in data.requirements)
    ):
        raise PolicyViolation(
            "特许经营项目的标段须写明必备资质等级 / a lot of a franchise project must state "
            "mandatory qualification levels",
            details={"rule": "mode.franchise_levels"},
        )
    if data.successor_of is not None:
        previous = _common.lot(session, data.successor_of)
        owner = session.scalar(select(Project.owner_id).where(Project.id == previous.project_id))
        if owner != project.owner_id or previous.system != data.system:
            raise InvalidInput(
                "接续的标段须属于同一业主的同一系统 / expected the preceding lot to be of the "
                "same owner and system",
                details={"field": "successor_of"},
            )
    lot = Lot(
        project_id=project.id,
        title=data.title,
        description=data.description,
        category=data.category.value,
        system=data.system,
        budget=str(budget),
        requirements=[r.model_dump() for r in data.requirements],
        open_source=data.open_source,
        code_escrow=data.code_escrow,
        successor_of=data.successor_of,
        status="planned",
    )
    session.add(lot)
    session.flush()
    payload = {
        "project_id": project.id,
        "title": lot.title,
        "category": lot.category,
        "system": lot.system,
        "budget": lot.budget,
        "requirements": lot.requirements,
        "open_source": lot.open_source,
        "code_escrow": lot.code_escrow,
        "successor_of": lot.successor_of,
    }
    (event,) = record_events(
        session, actor=actor, events=[NewEvent(EventType.LOT_CREATED, "lot", lot.id, payload)]
    )
    return Recorded(view(session, lot), event.seq)


def cancel_lot(
    *, session: Session, actor: Principal, lot_id: int, reason: str
) -> Recorded[LotPublic]:
    """The owner cancels a lot not yet awarded; its open tender closes, its bids stay sealed.

    The bids of a cancelled tender are never opened: nobody learns what was
    offered for work that will not be done. The budget the lot held is free again.
    """
    lot = _common.lot(session, lot_id, lock=True)
    project = _common.project(session, lot.project_id)
    authorize(actor=actor, action=Actions.PROJECT_MANAGE, resource=_common.project_ref(project))
    if lot.status not in ("planned", "tendering"):
        raise InvalidTransition(
            f"标段已{'授予' if lot.status == 'awarded' else '取消'}，不能取消 / cannot cancel a "
            f"lot that is {lot.status}",
            details={"status": lot.status},
        )
    tender = session.scalar(select(Tender).where(Tender.lot_id == lot.id).with_for_update())
    if tender is not None and tender.status == "opened":
        raise InvalidTransition(
            "已开标，不能取消标段 / cannot cancel a lot whose bids are opened",
            details={"status": lot.status, "tender_status": tender.status},
        )
    if tender is not None:
        tender.status = "cancelled"
    lot.status = "cancelled"
    payload = {"reason": reason, "tender_id": tender.id if tender is not None else None}
    (event,) = record_events(
        session, actor=actor, events=[NewEvent(EventType.LOT_CANCELLED, "lot", lot.id, payload)]
    )
    return Recorded(view(session, lot), event.seq)


def get_lot(*, session: Session, actor: Principal, lot_id: int) -> LotPublic:
    lot = _common.lot(session, lot_id)
    project = _common.project(session, lot.project_id)
    authorize(actor=actor, action=Actions.PROJECT_READ, resource=_common.project_ref(project))
    return view(session, lot)


def grant_exception(
    *,
    session: Session,
    actor: Principal,
    lot_id: int,
    supplier_id: int,
    rule: str,
    reason: str,
) -> Recorded[ExceptionPublic]:
    """The regulator lets one supplier take a lot despite a procurement rule; logged."""
    lot = _common.lot(session, lot_id, lock=True)
    project = _common.project(session, lot.project_id)
    regulators = approved_of_kind(session, ("regulator",))
    authorize(
        actor=actor,
        action=Actions.PROJECT_DECIDE,
        resource=_common.project_ref(project, regulators),
    )
    supplier = _common.participant(session, supplier_id)
    if supplier.kind not in _common.SUPPLIER_KINDS:
        raise InvalidInput(
            "例外只针对企业供应商 / expected an enterprise supplier",
            details={"field": "supplier_id"},
        )
    if lot.status in ("awarded", "cancelled"):
        raise InvalidTransition(
            f"标段已{lot.status} / the lot is {lot.status}", details={"status": lot.status}
        )
    existing = session.scalar(
        select(RuleException.id).where(
            RuleException.lot_id == lot.id,
            RuleException.supplier_id == supplier_id,
            RuleException.rule == rule,
        )
    )
    if existing is not None:
        raise InvalidTransition(
            "该例外已批准 / the exception is already granted", details={"exception_id": existing}
        )
    if actor.participant_id is None:
        raise Forbidden(
            "须以参与方成员身份操作 / expected an actor acting for a participant, got one without"
        )
    exception = RuleException(
        lot_id=lot.id,
        supplier_id=supplier_id,
        rule=rule,
        reason=reason,
        granted_by=actor.participant_id,
    )
    session.add(exception)
    session.flush()
    payload = {"lot_id": lot.id, "supplier_id": supplier_id, "rule": rule, "reason": reason}
    (event,) = record_events(
        session,
        actor=actor,
        events=[
            NewEvent(EventType.RULE_EXCEPTION_GRANTED, "rule_exception", exception.id, payload)
        ],
    )
    return Recorded(_exception_view(session, exception), event.seq)


def past_kpi(session: Session, participant_id: int) -> float | None:
    """Share of the KPI values in the participant's SLA reports that met their targets.

    Each report value is compared with its contract KPI's target by the KPI's
    comparator; values that do not parse, or name no KPI, are not counted.
    None when the participant has no reported value at all.
    """
    rows = session.execute(
        select(SlaReport.contract_id, SlaReport.values)
        .join(Contract, Contract.id == SlaReport.contract_id)
        .where(Contract.supplier_id == participant_id)
        .order_by(SlaReport.id)
    ).all()
    reports = list(rows)
    if not reports:
        return None
    targets = {
        (kpi.contract_id, kpi.name): (Decimal(kpi.target), kpi.comparator)
        for kpi in session.scalars(select(Kpi).where(Kpi.contract_id.in_({c for c, _ in reports})))
    }
    met = counted = 0
    for contract_id, values in reports:
        for name, value in values.items():
            target = targets.get((contract_id, name))
            try:
                measured = Decimal(str(value))
            except ArithmeticError:
                continue
            if target is None or not measured.is_finite():
                continue
            counted += 1
            met += measured >= target[0] if target[1] == ">=" else measured <= target[0]
    return met / counted if counted else None


def _candidate(
    session: Session, supplier: Participant, lot: Lot, day: date, shares: dict[int, Decimal]
) -> matching.Candidate:
    required = {levels.name_key(r["name"]): r["min_level"] for r in lot.requirements}
    qualifications = []
    for q in _common.valid_qualifications(session, supplier.id, day):
        minimum = required.get(levels.name_key(q.name))
        if minimum is None:
            level = 1
        else:
            # Relative to the requirement: 1 meets it, each level above adds one, 0 falls short.
            steps = levels.steps_above(q.level, minimum)
            level = 0 if steps is None else 1 + min(steps, 2)
        qualifications.append(matching.Qualification(q.name, level))
    past = session.execute(
        select(Lot.title, Lot.description)
        .join(Award, Award.lot_id == Lot.id)
        .where(Award.supplier_id == supplier.id)
        .order_by(Award.id)
    ).all()
    active = session.scalar(
        select(func.count())
        .select_from(Contract)
        .where(Contract.supplier_id == supplier.id, Contract.status == "active")
    )
    rated = rating_aggregates(session, kind="contractor", ids=[supplier.id]).get(supplier.id)
    return matching.Candidate(
        candidate_id=str(supplier.id),
        name=supplier.name,
        qualifications=tuple(qualifications),
        capabilities=" ".join(filter(None, (supplier.name, supplier.name_en))),
        past_lots=tuple(f"{title} {description}" for title, description in past),
        kpi=past_kpi(session, supplier.id),
        rating=None if rated is None or rated.overall is None else (rated.overall - 1) / 4,
        ratings=0 if rated is None else rated.count,
        awarded_share=float(shares.get(supplier.id, Decimal(0))),
        active_contracts=active or 0,
    )


def match_lot(
    *, session: Session, actor: Principal, lot_id: int, today: date | None = None
) -> RankingPublic:
    """Rank the approved enterprises for a lot, best first, with reasons; the others excluded."""
    lot = _common.lot(session, lot_id)
    project = _common.project(session, lot.project_id)
    authorize(actor=actor, action=Actions.PROJECT_READ, resource=_common.project_ref(project))
    day = today or clock.today_cst()
    values: dict[int, Decimal] = {}
    for supplier_id, value in session.execute(select(Award.supplier_id, Award.value)).all():
        values[supplier_id] = values.get(supplier_id, Decimal(0)) + Decimal(value)
    total = sum(values.values(), Decimal(0))
    shares = {k: v / total for k, v in values.items()} if total else {}
    pool = session.scalars(
        select(Participant)
        .where(Participant.kind.in_(_common.SUPPLIER_KINDS), Participant.status == "approved")
        .order_by(Participant.id)
    )
    names: dict[int, str] = {}
    candidates = []
    for supplier in pool:
        names[supplier.id] = supplier.name
        candidates.append(_candidate(session, supplier, lot, day, shares))
    target = matching.Lot(
        lot_id=str(lot.id),
        title=lot.title,
        description=lot.description,
        category=lot.category,  # type: ignore[arg-type]
        requirements=tuple(
            matching.Requirement(r["name"], 1, bool(r.get("mandatory", True)))
            for r in lot.requirements
        ),
    )
    ranking = matching.rank_candidates(target, candidates)
    return RankingPublic(
        lot_id=lot.id,
        matches=[
            MatchPublic(
                participant_id=int(m.candidate_id),
                name=names[int(m.candidate_id)],
                score=m.score,
                components=dict(m.components),
                reasons=list(m.reasons),
            )
            for m in ranking.matches
        ],
        excluded=[
            ExcludedPublic(
                participant_id=int(e.candidate_id),
                name=names[int(e.candidate_id)],
                kind=e.kind,
                reasons=list(e.reasons),
            )
            for e in ranking.excluded
        ],
        empty_reason=ranking.empty_reason,
    )


def _exception_view(session: Session, exception: RuleException) -> ExceptionPublic:
    return ExceptionPublic(
        id=exception.id,
        lot_id=exception.lot_id,
        supplier_id=exception.supplier_id,
        supplier_name=lookup.participant_name(session, exception.supplier_id),
        rule=exception.rule,
        reason=exception.reason,
        granted_by=exception.granted_by,
        granted_by_name=lookup.participant_name(session, exception.granted_by),
        created_at=exception.created_at,
    )


def view(session: Session, lot: Lot) -> LotPublic:
    tender_id = session.scalar(select(Tender.id).where(Tender.lot_id == lot.id))
    exceptions = session.scalars(
        select(RuleException).where(RuleException.lot_id == lot.id).order_by(RuleException.id)
    )
    return LotPublic(
        id=lot.id,
        project_id=lot.project_id,
        title=lot.title,
        description=lot.description,
        category=lot.category,
        system=lot.system,
        budget=lot.budget,
        requirements=list(lot.requirements),
        open_source=lot.open_source,
        code_escrow=lot.code_escrow,
        successor_of=lot.successor_of,
        status=lot.status,
        tender_id=tender_id,
        exceptions=[_exception_view(session, e) for e in exceptions],
        created_at=lot.created_at,
    )
