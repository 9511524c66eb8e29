"""Transparency: the public listing of projects and the OCDS 1.1.5 release package.

Both are public by design, like the transparency log: they need no token and
take no actor, and show everyone the same. What they show is what a
procurement notice shows anyway, and no more:

* a project is listed only where ``permissions`` publishes it to anyone
  (:data:`~datacompact.permissions.Actions.PROJECT_PUBLIC_READ`): projects
  marked ``classified`` (涉密) are left out entirely;
* a sealed bid shows nothing, not even that it exists: the number of
  tenderers and their names appear only once the bids are opened, and a
  losing bid's price or document never appears at all;
* the evaluation's scores stay inside the platform; the award shows the
  winner and the awarded value.

One contracting process (one ``ocid``) is one tender, i.e. one lot of a
project: ``{prefix}-P{project}-T{tender}``. It has a ``tender`` release, an
``award`` release once awarded, and a ``contract`` release once a contract is
signed (with its payment milestones). Organizations are identified by their
USCC; the buyer is the project owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datacompact.clock import CST, utcnow
from datacompact.errors import NotFound
from datacompact.oversight import ocds
from datacompact.oversight.schemas import (
    PublicAward,
    PublicContract,
    PublicLot,
    PublicProject,
)
from datacompact.permissions import Actions, ProjectResource, published_to_anyone
from datacompact.store.models import Participant
from datacompact.store.project_models import Award, Bid, Contract, Lot, Project, Tender

PUBLISHER = "DataCompact 政企数据协作平台 / DataCompact"
PACKAGE_PATH = "/public/ocds/release-package.json"

_TENDER_STATUS = {
    "open": "active",
    "opened": "active",
    "awarded": "complete",
    "cancelled": "cancelled",
}
_LOT_STATUS = {
    "planned": "planned",
    "tendering": "active",
    "awarded": "complete",
    "cancelled": "cancelled",
}
# OCDS "terminated": in force once, now closed, whether completed or ended early.
_CONTRACT_STATUS = {"active": "active", "accepted": "terminated", "terminated": "terminated"}


def _opened(tender: Tender) -> bool:
    return tender.opened_at is not None or tender.status in ("opened", "awarded")


def _tenderers(session: Session, tender: Tender) -> list[int]:
    """The bidders, once the bids are opened; before, nobody (sealed bids reveal nothing)."""
    if not _opened(tender):
        return []
    return list(
        session.scalars(
            select(Bid.bidder_id).where(Bid.tender_id == tender.id).order_by(Bid.bidder_id)
        )
    )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=CST)


def _published(project: Project) -> bool:
    """Whether anyone may see ``project``'s public record (decided in ``permissions``)."""
    resource = ProjectResource(participant_id=project.owner_id, classified=project.classified)
    return published_to_anyone(action=Actions.PROJECT_PUBLIC_READ, resource=resource)


def _processes(session: Session) -> list[tuple[Project, Lot, Tender]]:
    rows = session.execute(
        select(Project, Lot, Tender)
        .join(Lot, Lot.project_id == Project.id)
        .join(Tender, Tender.lot_id == Lot.id)
        .order_by(Project.id, Lot.id)
    ).all()
    return [(p, lot, t) for p, lot, t in rows if _published(p)]


class _Parties:
    """The organizations of one process, each once, with every role it holds."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.roles: dict[int, list[str]] = {}

    def add(self, participant_id: int, *roles: str) -> None:
        held = self.roles.setdefault(participant_id, [])
        held += [r for r in roles if r not in held]

    def party(self, participant_id: int) -> ocds.OcdsParty:
        p = self.session.get(Participant, participant_id)
        if p is None:
            raise RuntimeError(f"participant {participant_id} is missing")
        return ocds.OcdsParty(
            f"{ocds.USCC_SCHEME}-{p.uscc}", p.name, tuple(self.roles[p.id]), p.uscc
        )

    def all(self) -> list[ocds.OcdsParty]:
        return [self.party(pid) for pid in self.roles]


def _tender(
    project: Project, lot: Lot, tender: Tender, buyer: ocds.OcdsParty, tenderers: Sequence[int]
) -> ocds.OcdsTender:
    budget = ocds.OcdsValue(Decimal(lot.budget))
    return ocds.OcdsTender(
        id=f"T{tender.id}",
        title=f"{project.name}：{lot.title}",
        status=_TENDER_STATUS[tender.status],
        procurement_method="open",
        main_procurement_category="services",
        award_criteria=ocds.AWARD_CRITERIA[tender.method],
        tender_period=ocds.OcdsPeriod(tender.opens_at, tender.deadline),
        lots=(
            ocds.OcdsLot(
                id=f"L{lot.id}",
                title=lot.title,
                value=budget,
                description=lot.description or None,
                status=_LOT_STATUS[lot.status],
            ),
        ),
        description=project.description or None,
        value=budget,
        procuring_entity=buyer,
        number_of_tenderers=len(tenderers) if _opened(tender) else None,
    )


def _releases(
    session: Session, project: Project, lot: Lot, tender: Tender, prefix: str
) -> list[dict[str, Any]]:
    process = f"P{project.id}-T{tender.id}"
    parties = _Parties(session)
    parties.add(project.owner_id, "buyer", "procuringEntity")
    tenderers = _tenderers(session, tender)
    for bidder in tenderers:
        parties.add(bidder, "tenderer")
    buyer = parties.party(project.owner_id)

    def release(tag: str, sequence: int, when: datetime, **sections: Any) -> dict[str, Any]:
        return ocds.release(
            process_id=process,
            tag=tag,
            sequence=sequence,
            date=when,
            parties=parties.all(),
            buyer=buyer,
            ocid_prefix=prefix,
            **sections,
        )

    out = [
        release(
            "tender", 1, tender.created_at, tender=_tender(project, lot, tender, buyer, tenderers)
        )
    ]
    award = session.scalar(select(Award).where(Award.tender_id == tender.id))
    if award is None:
        return out
    parties.add(award.supplier_id, "supplier")
    award_ocds = ocds.OcdsAward(
        id=f"A{award.id}",
        status="active",
        date=award.created_at,
        value=ocds.OcdsValue(Decimal(award.value)),
        suppliers=(parties.party(award.supplier_id),),
        related_lots=(f"L{lot.id}",),
        title=lot.title,
    )
    out.append(release("award", 2, award.created_at, awards=[award_ocds]))
    contract = session.scalar(select(Contract).where(Contract.award_id == award.id))
    if contract is None:
        return out
    contract_ocds = ocds.OcdsContract(
        id=f"C{contract.id}",
        award_id=award_ocds.id,
        status=_CONTRACT_STATUS[contract.status],
        value=ocds.OcdsValue(Decimal(contract.value)),
        period=ocds.OcdsPeriod(_midnight(contract.starts_on), _midnight(contract.ends_on)),
        date_signed=contract.created_at,
        title=lot.title,
        milestones=tuple(
            ocds.OcdsMilestone(
                id=f"M{m.id}",
                title=m.title,
                type="payment",
                due_date=_midnight(m.due_on),
                status="met" if m.status == "accepted" else "scheduled",
                related_lots=(f"L{lot.id}",),
            )
            for m in contract.milestones
        ),
    )
    out.append(release("contract", 3, contract.created_at, contracts=[contract_ocds]))
    return out


def release_package(
    *,
    session: Session,
    base_url: str,
    published: datetime | None = None,
    ocid_prefix: str = ocds.DEFAULT_OCID_PREFIX,
    publisher_name: str = PUBLISHER,
) -> dict[str, Any]:
    """Every tender, award and contract of the unclassified projects, as one release package."""
    releases = [
        r
        for project, lot, tender in _processes(session)
        for r in _releases(session, project, lot, tender, ocid_prefix)
    ]
    if not releases:
        raise NotFound("尚无公开的招标 / no tender has been published yet")
    return ocds.release_package(
        releases,
        uri=base_url.rstrip("/") + PACKAGE_PATH,
        published_date=published or utcnow(),
        publisher_name=publisher_name,
    )


def public_projects(*, session: Session) -> list[PublicProject]:
    """The unclassified projects, their lots, tenders, awards and contracts."""
    projects = [p for p in session.scalars(select(Project).order_by(Project.id)) if _published(p)]
    names = dict(session.execute(select(Participant.id, Participant.name)).all())
    out = []
    for project in projects:
        lots = []
        for lot in session.scalars(
            select(Lot).where(Lot.project_id == project.id).order_by(Lot.id)
        ):
            tender = session.scalar(select(Tender).where(Tender.lot_id == lot.id))
            award = (
                session.scalar(select(Award).where(Award.tender_id == tender.id))
                if tender
                else None
            )
            contract = (
                session.scalar(select(Contract).where(Contract.award_id == award.id))
                if award
                else None
            )
            tenderers = None
            if tender is not None and _opened(tender):
                tenderers = session.scalar(
                    select(func.count()).select_from(Bid).where(Bid.tender_id == tender.id)
                )
            lots.append(
                PublicLot(
                    id=lot.id,
                    title=lot.title,
                    category=lot.category,
                    system=lot.system,
                    budget=lot.budget,
                    status=lot.status,
                    tender_status=tender.status if tender else None,
                    number_of_tenderers=tenderers,
                    award=PublicAward(
                        id=award.id,
                        supplier_id=award.supplier_id,
                        supplier_name=names[award.supplier_id],
                        value=award.value,
                        awarded_at=award.created_at,
                    )
                    if award
                    else None,
                    contract=PublicContract(
                        id=contract.id,
                        value=contract.value,
                        starts_on=contract.starts_on,
                        ends_on=contract.ends_on,
                        status=contract.status,
                    )
                    if contract
                    else None,
                )
            )
        out.append(
            PublicProject(
                id=project.id,
                name=project.name,
                domain=project.domain,
                owner_id=project.owner_id,
                owner_name=names[project.owner_id],
                budget=project.budget,
                mode=project.mode,
                lots=lots,
            )
        )
    return out
