"""Supplier groups and system roles: what the separation rule and the concentration measures count.

* :func:`controlling_groups`: each company's ultimate controller, from
  shareholdings, as pure functions; :func:`participant_groups` reads the
  shareholdings registered on the platform and names each participant's group.
  Suppliers under common control are one group at award (the separation rule,
  :attr:`~datacompact.store.project_models.Award` ``group_id``) and in the
  concentration measures of :mod:`datacompact.oversight.concentration`.
* :data:`ROLE_OF_CATEGORY`: which part of a system's life (development,
  operations, data hosting) a lot of each category holds.

>>> from decimal import Decimal
>>> controlling_groups([Shareholding("parent", "sub", Decimal("60"))])
{'parent': 'parent', 'sub': 'parent'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.decimals import check_decimal
from datacompact.errors import InvalidInput
from datacompact.procurement.matching import LotCategory
from datacompact.store.models import Participant, Shareholder

__all__ = ["ROLE_OF_CATEGORY", "Shareholding", "controlling_groups", "participant_groups"]

# Which part of a system's life a lot category holds. Integration work builds the
# system as much as module development does; data services keep and serve its data.
ROLE_OF_CATEGORY: Mapping[LotCategory, str | None] = MappingProxyType(
    {
        "module_development": "development",
        "integration": "development",
        "operations": "operations",
        "data_services": "data_hosting",
        "security_assessment": None,  # an independent check, not a hold on the system
    }
)


@dataclass(frozen=True)
class Shareholding:
    """``shareholder_id`` holds ``stake`` percent (0 < stake <= 100) of ``company_id``."""

    shareholder_id: str
    company_id: str
    stake: Decimal

    def __post_init__(self) -> None:
        check_decimal(self.stake, "stake", 0, 100, strict=True)
        if self.shareholder_id == self.company_id:
            raise InvalidInput(
                "公司不能持有自身 / expected a shareholder other than the company, got the same id",
                details={"field": "shareholder_id"},
            )


def controlling_groups(
    shareholdings: Iterable[Shareholding], *, de_facto: Decimal | None = Decimal("30")
) -> dict[str, str]:
    """Map every entity named in ``shareholdings`` to its group: its ultimate controller.

    A company is controlled by the group whose stakes, added up across the
    group's members, exceed 50% (控股股东, Company Law 2023 art. 265(2)); with
    ``de_facto`` set, also by a group holding more than ``de_facto`` percent
    that is strictly the largest holder (Measures for the Takeover of Listed
    Companies art. 84(2): over 30% of the votes is control). Control is
    transitive. Suppliers so linked are one group, which is what the
    procurement rule on suppliers under common control or direct holding
    (Government Procurement Law Implementing Regulations art. 18) looks at.

    Majority links are settled first, so that a 30% holder does not take a
    company that a group of its other holders controls. Links are only ever
    added, never moved, so the loop ends: at most one per company. A ring of
    companies controlling each other forms one group named after one member,
    the same one on every run.
    """
    if de_facto is not None:
        check_decimal(de_facto, "de_facto", 0, 50, strict=True)
    holders: dict[str, dict[str, Decimal]] = {}
    entities: dict[str, None] = {}
    for s in shareholdings:
        stakes = holders.setdefault(s.company_id, {})
        if s.shareholder_id in stakes:
            raise InvalidInput(
                "股东重复 / expected one holding per shareholder and company, got a repeat",
                details={"field": "shareholdings"},
            )
        stakes[s.shareholder_id] = s.stake
        entities.update({s.shareholder_id: None, s.company_id: None})
    for stakes in holders.values():
        if sum(stakes.values()) > 100:
            raise InvalidInput(
                "持股合计超过 100% / expected a company's stakes to sum to at most 100%, got more",
                details={"field": "shareholdings"},
            )

    parent: dict[str, str] = {}

    def root(entity: str) -> str:
        # parent is a forest (see below), so this walk ends.
        while entity in parent:
            entity = parent[entity]
        return entity

    def controller(company: str, relative: bool) -> str | None:
        blocks: dict[str, Decimal] = {}
        for holder, stake in holders[company].items():
            group = root(holder)
            # Stakes held by the company's own subsidiaries give no control over it.
            if group != company:
                blocks[group] = blocks.get(group, Decimal(0)) + stake
        ranked = sorted(blocks.items(), key=lambda kv: (-kv[1], kv[0]))
        if not ranked:
            return None
        group, stake = ranked[0]
        if stake > 50:
            return group
        strictly_largest = len(ranked) == 1 or ranked[1][1] < stake
        if relative and de_facto is not None and stake > de_facto and strictly_largest:
            return group
        return None

    # Linking an uncontrolled company to a root other than itself keeps parent a forest.
    order = sorted(holders, reverse=True)
    while True:
        added = True
        while added:
            added = False
            for company in order:
                if company not in parent and (group := controller(company, False)) is not None:
                    parent[company] = group
                    added = True
        relative_added = False
        for company in order:
            if company not in parent and (group := controller(company, True)) is not None:
                parent[company] = group
                relative_added = True
        if not relative_added:
            return {entity: root(entity) for entity in sorted(entities)}


def participant_groups(session: Session) -> dict[int, str]:
    """Each participant's group (its ultimate controller, by USCC) from the shareholder rows."""
    uscc_of = dict(session.execute(select(Participant.id, Participant.uscc)).all())
    holdings = [
        Shareholding(holder, uscc_of[company], Decimal(stake_bp) / 100)
        for company, holder, stake_bp in session.execute(
            select(Shareholder.participant_id, Shareholder.holder_uscc, Shareholder.stake_bp)
        ).all()
        # A company holding its own shares (treasury shares) controls nothing.
        if holder != uscc_of[company]
    ]
    controller = controlling_groups(holdings)
    return {pid: controller.get(uscc, uscc) for pid, uscc in uscc_of.items()}
