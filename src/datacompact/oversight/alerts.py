"""Supervision alerts of cooperation projects: concentration, lock-in and O&M continuity.

* **Vendor concentration** (数字利维坦, paper §4.1): HHI and top-1/top-3 shares of
  awarded value, city-wide, per owner and per domain, with suppliers under
  common control counted as one group (:func:`~datacompact.procurement.groups.controlling_groups`
  over the shareholdings registered on the platform). An alert fires for a
  group above ``max_share`` (default 30%) and for a market whose HHI exceeds
  ``hhi_threshold`` (default 2,500). Values exactly at a threshold do not alert.
* **Lock-in**: one group holds development, O&M and data hosting of one system
  (``Lot.system``, roles from ``Lot.category``).
* **Continuity** (无人可用, 三不管): an active contract ending within
  ``horizon_days`` (default 90), or already past its end, with neither a
  complete handover package (documentation, credentials and code in escrow)
  nor a successor lot (``Lot.successor_of`` naming the contract's lot).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.clock import today_cst
from datacompact.delivery.contracts import HANDOVER_ITEMS
from datacompact.errors import InvalidInput
from datacompact.oversight import concentration as conc
from datacompact.oversight.schemas import (
    AlertReport,
    ConcentrationAlert,
    ConcentrationPublic,
    ContinuityAlert,
    LockInAlert,
    SupplierSharePublic,
)
from datacompact.permissions import Actions, PartyResource, Principal, authorize
from datacompact.procurement.groups import participant_groups
from datacompact.registry.participants import approved_of_kind
from datacompact.store.models import Participant
from datacompact.store.project_models import Award, Contract, Lot, Project

DEFAULT_MAX_SHARE = Decimal("0.30")
DEFAULT_HHI_THRESHOLD = Decimal("2500")
DEFAULT_HORIZON_DAYS = 90
#: The kinds of participant that supervise projects and so read the alerts.
SUPERVISORS = ("regulator", "auditor")


def supplier_groups(session: Session) -> dict[int, int]:
    """Each participant → its group, named by a participant id.

    The groups are the separation rule's (:func:`~datacompact.procurement.groups.participant_groups`: ultimate
    controllers by USCC, so a parent company that is not on the platform still
    links its subsidiaries). A group is named by its controller when the
    controller is a participant, else by its smallest member's id.
    """
    controller_of = participant_groups(session)
    participant_of = dict(session.execute(select(Participant.uscc, Participant.id)).all())
    names: dict[str, int] = {}
    for pid, group in sorted(controller_of.items()):
        names.setdefault(group, participant_of.get(group, pid))
    return {pid: names[group] for pid, group in controller_of.items()}


def awarded(session: Session) -> list[conc.Award]:
    """Every award, as the pure concentration library reads it."""
    groups = supplier_groups(session)
    rows = session.execute(
        select(Award, Lot, Project)
        .join(Lot, Lot.id == Award.lot_id)
        .join(Project, Project.id == Lot.project_id)
        .order_by(Award.id)
    ).all()
    return [
        conc.Award(
            award_id=str(award.id),
            supplier_id=str(award.supplier_id),
            group_id=str(groups.get(award.supplier_id, award.supplier_id)),
            owner_id=str(project.owner_id),
            domain=project.domain,
            value=Decimal(award.value),
            system_id=lot.system,
            lot_category=lot.category,  # type: ignore[arg-type]
        )
        for award, lot, project in rows
    ]


def participant_names(session: Session) -> dict[int, str]:
    """Every participant's name by id: alerts name the firms and owners they count."""
    return {row.id: row.name for row in session.execute(select(Participant.id, Participant.name))}


def _key_name(scope: str, key: str, names: dict[int, str]) -> str | None:
    return names.get(int(key)) if scope == "owner" and key.isdigit() else None


def _concentration_view(c: conc.Concentration, names: dict[int, str]) -> ConcentrationPublic:
    return ConcentrationPublic(
        scope=c.scope,
        key=c.key,
        key_name=_key_name(c.scope, c.key, names),
        total_value=str(c.total_value),
        hhi=str(c.hhi),
        top1_share=str(c.top1_share),
        top3_share=str(c.top3_share),
        awards=c.awards,
        suppliers=[
            SupplierSharePublic(
                group_id=int(s.supplier_id),
                group_name=names.get(int(s.supplier_id)),
                value=str(s.value),
                share=str(s.share),
            )
            for s in c.suppliers
        ],
    )


def continuity(session: Session, *, today: date, horizon_days: int) -> list[ContinuityAlert]:
    """Active contracts ending by ``today + horizon_days`` with no handover and no successor."""
    names = participant_names(session)
    succeeded = set(
        session.scalars(
            select(Lot.successor_of).where(Lot.successor_of.is_not(None), Lot.status != "cancelled")
        )
    )
    ending = session.execute(
        select(Contract, Lot)
        .join(Lot, Lot.id == Contract.lot_id)
        .where(
            Contract.status == "active",
            Contract.ends_on <= today + timedelta(days=horizon_days),
        )
        .order_by(Contract.ends_on, Contract.id)
    ).all()
    out = []
    for contract, lot in ending:
        missing = [k for k in HANDOVER_ITEMS if not contract.handover.get(k)]
        if not missing or lot.id in succeeded:
            continue
        days = (contract.ends_on - today).days
        out.append(
            ContinuityAlert(
                contract_id=contract.id,
                lot_id=lot.id,
                system=lot.system,
                supplier_id=contract.supplier_id,
                supplier_name=names.get(contract.supplier_id),
                ends_on=contract.ends_on,
                days_left=days,
                missing_handover=missing,
                message=(
                    f"合同 {contract.id}（系统 {lot.system}）{days} 天后到期，既无完整交接包"
                    f"（缺 {', '.join(missing)}）也无接续标段 / contract {contract.id} for system"
                    f" {lot.system} ends in {days} days with no complete handover package"
                    f" (missing {', '.join(missing)}) and no successor lot"
                ),
            )
        )
    return out


def alerts(
    *,
    session: Session,
    actor: Principal,
    today: date | None = None,
    max_share: Decimal = DEFAULT_MAX_SHARE,
    hhi_threshold: Decimal = DEFAULT_HHI_THRESHOLD,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    include_single: bool = False,
) -> AlertReport:
    """Concentration, lock-in and continuity alerts over every project on the platform.

    For the parties that supervise (regulators and audit bodies). An owner or a
    domain with a single award is measured but does not alert, unless
    ``include_single`` asks for it: one contract is always 100 % and HHI 10,000.
    """
    authorize(
        actor=actor,
        action=Actions.ALERT_READ,
        resource=PartyResource(
            participant_id=None,
            reviewers=frozenset(approved_of_kind(session, SUPERVISORS)),
        ),
    )
    if not 0 <= horizon_days <= 3650:
        raise InvalidInput(
            "预警期限须在 0–3650 天 / expected horizon_days between 0 and 3650",
            details={"field": "horizon_days"},
        )
    now = today or today_cst()
    names = participant_names(session)
    awards = awarded(session)
    markets = [c for by in ("city", "owner", "domain") for c in conc.concentration(awards, by=by)]
    fired = conc.alerts(
        markets,
        max_share=max_share,
        hhi_threshold=hhi_threshold,
        min_awards=1 if include_single else 2,
    )
    return AlertReport(
        today=now,
        max_share=str(max_share),
        hhi_threshold=str(hhi_threshold),
        horizon_days=horizon_days,
        include_single=include_single,
        concentration=[_concentration_view(c, names) for c in markets],
        concentration_alerts=[
            ConcentrationAlert(
                kind=a.kind,
                scope=a.scope,
                key=a.key,
                group_id=int(a.supplier_id) if a.supplier_id is not None else None,
                group_name=names.get(int(a.supplier_id)) if a.supplier_id is not None else None,
                key_name=_key_name(a.scope, a.key, names),
                value=str(a.value),
                threshold=str(a.threshold),
                message=a.message,
            )
            for a in fired
        ],
        lock_in=[
            LockInAlert(
                system=li.system_id,
                group_id=int(li.group_id),
                group_name=names.get(int(li.group_id)),
                suppliers=sorted(int(s) for s in li.suppliers),
                supplier_names=[names.get(int(s), "") for s in sorted(li.suppliers, key=int)],
                award_ids=sorted(int(a) for a in li.award_ids),
                categories=list(li.categories),
                message=li.message,
            )
            for li in conc.lock_in(awards)
        ],
        continuity=continuity(session, today=now, horizon_days=horizon_days),
    )
