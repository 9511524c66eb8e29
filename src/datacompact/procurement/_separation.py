"""开发与运维分离: development and O&M of one system never go to one supplier or group.

A lot's category decides its part in its system's life
(:data:`~datacompact.procurement.groups.ROLE_OF_CATEGORY`): module
development and integration build the system, operations run it. Awarding
one of the two parts to a supplier is refused while the other part of the
same system is held by that supplier or by a supplier under common control
with it (:func:`~datacompact.procurement.groups.controlling_groups` over
the registered shareholders), unless the regulator granted a logged
:class:`~datacompact.store.project_models.RuleException` for that lot and
supplier. A system is named within its owner's projects: two departments'
"门户网站" are two systems.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.procurement._modes import DEFAULT_RULES, ModeRules
from datacompact.procurement.groups import ROLE_OF_CATEGORY, participant_groups
from datacompact.store.project_models import Award, Lot, Project, RuleException

RULE = "separation.dev_ops"
_OPPOSITE = {"development": "operations", "operations": "development"}


@dataclass(frozen=True, slots=True)
class Clash:
    """Lots of the same system whose other part the supplier's group already holds."""

    supplier_id: int
    lot_ids: tuple[int, ...]
    exception_id: int | None

    @property
    def barred(self) -> bool:
        return bool(self.lot_ids) and self.exception_id is None

    @property
    def message(self) -> str:
        lots = ", ".join(str(i) for i in self.lot_ids)
        return (
            f"同一系统的开发与运维不得授予同一供应商或同一控制下的供应商（标段 {lots}）"
            f" / development and O&M of one system may not go to one supplier or group"
            f" (lots {lots}); only a regulator's exception allows it"
        )


def _system_key(system: str) -> str:
    return " ".join(system.casefold().split())


def clash(
    session: Session,
    lot: Lot,
    supplier_id: int,
    *,
    rules: ModeRules = DEFAULT_RULES,
    groups: dict[int, str] | None = None,
) -> Clash:
    """The lots that would put both parts of ``lot``'s system into ``supplier_id``'s group."""
    role = ROLE_OF_CATEGORY.get(lot.category)  # type: ignore[call-overload]
    if not rules.separate_development_and_operations or role not in _OPPOSITE:
        return Clash(supplier_id, (), None)
    owner = session.scalar(select(Project.owner_id).where(Project.id == lot.project_id))
    groups = groups if groups is not None else participant_groups(session)
    mine = groups.get(supplier_id)
    held = session.execute(
        select(Lot.id, Lot.category, Lot.system, Award.supplier_id)
        .join(Award, Award.lot_id == Lot.id)
        .join(Project, Project.id == Lot.project_id)
        .where(Project.owner_id == owner, Lot.id != lot.id)
        .order_by(Lot.id)
    ).all()
    lot_ids = tuple(
        lot_id
        for lot_id, category, system, holder in held
        if _system_key(system) == _system_key(lot.system)
        and ROLE_OF_CATEGORY.get(category) == _OPPOSITE[role]  # type: ignore[call-overload]
        and (holder == supplier_id or groups.get(holder) == mine)
    )
    exception_id = None
    if lot_ids:
        exception_id = session.scalar(
            select(RuleException.id)
            .where(
                RuleException.lot_id == lot.id,
                RuleException.supplier_id == supplier_id,
                RuleException.rule == RULE,
            )
            .order_by(RuleException.id)
            .limit(1)
        )
    return Clash(supplier_id, lot_ids, exception_id)
