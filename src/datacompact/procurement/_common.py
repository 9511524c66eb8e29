"""Shared pieces of the procurement services: loading rows, money, parties, admission."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.config import GovernanceMode
from datacompact.decimals import parse_decimal
from datacompact.errors import InvalidInput, NotFound, PolicyViolation
from datacompact.governance import rules_for
from datacompact.permissions import ProjectResource
from datacompact.procurement import levels
from datacompact.registry.participants import approved_of_kind
from datacompact.store.base import Base
from datacompact.store.models import Participant, Qualification
from datacompact.store.project_models import Bid, Lot, Project, Tender

M = TypeVar("M", bound=Base)

#: Kinds that may bid for lots and be matched to them.
SUPPLIER_KINDS = ("enterprise", "jv_platform")
_CENT = Decimal("0.01")


def load(session: Session, model: type[M], ident: int, zh: str, *, lock: bool = False) -> M:
    row = session.get(model, ident, with_for_update=lock)
    if row is None:
        en = model.__name__.lower()
        raise NotFound(f"{zh}不存在 / {en} not found", details={f"{en}_id": ident})
    return row


def project(session: Session, project_id: int, *, lock: bool = False) -> Project:
    return load(session, Project, project_id, "项目", lock=lock)


def lot(session: Session, lot_id: int, *, lock: bool = False) -> Lot:
    return load(session, Lot, lot_id, "标段", lock=lock)


def tender(session: Session, tender_id: int, *, lock: bool = False) -> Tender:
    return load(session, Tender, tender_id, "招标", lock=lock)


def bid(session: Session, bid_id: int, *, lock: bool = False) -> Bid:
    return load(session, Bid, bid_id, "投标", lock=lock)


def participant(session: Session, participant_id: int) -> Participant:
    found = session.get(Participant, participant_id)
    if found is None:
        raise NotFound(
            "参与方不存在 / participant not found", details={"participant_id": participant_id}
        )
    return found


def money(value: str, field: str) -> Decimal:
    """A positive amount of CNY with at most two decimals, as ``Decimal``."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        amount = parse_decimal(text, places=2, max_digits=15)
    except ValueError:
        amount = Decimal(0)  # refused below, as a non-positive amount is
    if amount <= 0:
        raise InvalidInput(
            f"{field} 须为正的十进制金额（最多两位小数）/ expected {field} as a positive decimal "
            "string with at most two decimals",
            details={"field": field, "reason": "not_a_positive_decimal"},
        )
    return amount.quantize(_CENT)


def mode_approvers(session: Session, project: Project, governance: GovernanceMode) -> list[int]:
    """Who approves the project's mode under the governance mode: never the owner itself."""
    rules = rules_for(governance)
    found: set[int] = set()
    for party in rules.cooperation_mode_approvers:
        if party == "regulator":
            found |= set(approved_of_kind(session, ("regulator",)))
        elif party == "operator":
            found |= set(approved_of_kind(session, rules.operator_kinds & {"jv_platform"}))
    return sorted(found - {project.owner_id})


def project_ref(project: Project, reviewers: Iterable[int] = ()) -> ProjectResource:
    return ProjectResource(
        participant_id=project.owner_id,
        parties=frozenset({project.owner_id, project.sponsor_id, project.technical_id}),
        reviewers=frozenset(reviewers),
        classified=project.classified,
    )


def valid_qualifications(session: Session, participant_id: int, day: date) -> list[Qualification]:
    return list(
        session.scalars(
            select(Qualification)
            .where(
                Qualification.participant_id == participant_id,
                Qualification.valid_from <= day,
                Qualification.valid_until >= day,
            )
            .order_by(Qualification.id)
        )
    )


def missing_requirements(
    requirements: list[dict[str, Any]], held: list[Qualification]
) -> list[str]:
    """Names of the mandatory requirements that no valid qualification meets."""
    missing = []
    for requirement in requirements:
        if not requirement.get("mandatory", True):
            continue
        if not any(
            levels.name_key(q.name) == levels.name_key(requirement["name"])
            and levels.meets(q.level, requirement["min_level"])
            for q in held
        ):
            missing.append(requirement["name"])
    return missing


def check_supplier(session: Session, supplier: Participant, lot: Lot, day: date) -> None:
    """An approved enterprise holding every mandatory qualification of the lot, valid on ``day``."""
    if supplier.status != "approved":
        raise PolicyViolation(
            f"投标人状态为 {supplier.status}，须为已批准 / the bidder is {supplier.status}, "
            "not approved",
            details={"rule": "bidder.not_approved", "status": supplier.status},
        )
    missing = missing_requirements(
        lot.requirements, valid_qualifications(session, supplier.id, day)
    )
    if missing:
        raise PolicyViolation(
            f"投标人不具备资质要求 / the bidder lacks required qualifications: {', '.join(missing)}",
            details={"rule": "bidder.unqualified", "missing": missing},
        )
