"""Projects, lots, tenders, bids and awards written straight to the store.

The delivery tests start from awards; building them through the tendering
services would tie these tests to the procurement side, so they are
written with the ORM here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from datacompact.delivery import contracts
from datacompact.delivery.schemas import ContractCreate, SlaReportIn
from datacompact.store.project_models import Award, Bid, Lot, Project, Tender

from ..conftest import World

OPENS = datetime(2025, 1, 6, 1, 0, tzinfo=UTC)
DEADLINE = datetime(2025, 2, 6, 1, 0, tzinfo=UTC)
SECRET_DOCUMENT = b"SEALED-BID-DOCUMENT"


@dataclass(frozen=True)
class Built:
    project_id: int
    lot_id: int
    tender_id: int
    award_id: int | None
    bid_ids: tuple[int, ...]


def build(
    session: Session,
    *,
    owner: int,
    supplier: int | None,
    bidders: tuple[int, ...] = (),
    prices: tuple[str, ...] = (),
    value: str = "1000000.00",
    category: str = "operations",
    system: str = "一网通办平台",
    domain: str = "government_services",
    method: str = "lowest_price",
    classified: bool = False,
    opened: bool = True,
    successor_of: int | None = None,
    project_id: int | None = None,
    open_source: bool = False,
    code_escrow: bool = False,
) -> Built:
    """A project (or a lot of ``project_id``) with a tender, bids and, with a supplier, an award."""
    if project_id is None:
        project = Project(
            name="一网通办二期",
            description="政务服务一网通办平台升级",
            domain=domain,
            owner_id=owner,
            sponsor_id=owner,
            technical_id=owner,
            budget="5000000.00",
            classified=classified,
            mode="government_purchase",
            mode_status="approved",
        )
        session.add(project)
        session.flush()
        project_id = project.id
    lot = Lot(
        project_id=project_id,
        title=f"{system}{category}",
        description="开发与运维分开招标",
        category=category,
        system=system,
        budget="1200000.00",
        open_source=open_source,
        code_escrow=code_escrow,
        successor_of=successor_of,
        status="awarded" if supplier is not None else "tendering",
    )
    session.add(lot)
    session.flush()
    tender = Tender(
        lot_id=lot.id,
        method=method,
        weights={"price": 40, "technical": 60} if method == "comprehensive" else {"price": 100},
        opens_at=OPENS,
        deadline=DEADLINE,
        status=("awarded" if supplier is not None else "opened") if opened else "open",
        opened_at=DEADLINE if opened else None,
    )
    session.add(tender)
    session.flush()
    everyone = tuple(dict.fromkeys((*bidders, *([supplier] if supplier else []))))
    bids = []
    for index, bidder in enumerate(everyone):
        price = prices[index] if index < len(prices) else value
        bid = Bid(
            tender_id=tender.id,
            bidder_id=bidder,
            price=price,
            sha256=hashlib.sha256(SECRET_DOCUMENT).hexdigest(),
            nonce=b"\x00" * 12,
            ciphertext=SECRET_DOCUMENT,
            key_id="test-key",
            status="opened" if opened else "sealed",
        )
        session.add(bid)
        bids.append(bid)
    session.flush()
    award_id = None
    if supplier is not None:
        winning = next(b for b in bids if b.bidder_id == supplier)
        award = Award(
            tender_id=tender.id,
            lot_id=lot.id,
            bid_id=winning.id,
            supplier_id=supplier,
            value=value,
            evaluation={"method": method, "ranking": [winning.id]},
        )
        session.add(award)
        session.flush()
        award_id = award.id
    return Built(project_id, lot.id, tender.id, award_id, tuple(b.id for b in bids))


def contract_body(award_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "award_id": award_id,
        "starts_on": "2025-03-01",
        "ends_on": "2026-02-28",
        "kpis": [
            {"name": "availability", "target": "99.9"},
            {"name": "response_time", "target": "30"},
            {"name": "cases_per_day", "target": "200"},
            {"name": "satisfaction", "target": "90"},
        ],
        "milestones": [
            {
                "title": "首期运维款",
                "amount": "300000.00",
                "due_on": "2025-06-30",
                "kpis": ["availability", "response_time"],
            },
            {
                "title": "尾款",
                "amount": "700000.00",
                "due_on": "2026-02-28",
                "kpis": ["availability", "satisfaction"],
            },
        ],
    }
    return body | overrides


MET = {"availability": "99.95", "response_time": "20", "cases_per_day": "250", "satisfaction": "95"}


def award_for(world: World, owner: str, supplier: str, **options: Any) -> int:
    with world.platform.db.write() as session:
        built = build(
            session,
            owner=world.ids[owner],
            supplier=world.ids[supplier],
            bidders=(world.ids[supplier],),
            **options,
        )
    assert built.award_id is not None
    return built.award_id


def sign(world: World, owner: str, award_id: int, **overrides: Any) -> int:
    with world.platform.db.write() as session:
        return contracts.sign_contract(
            session=session,
            actor=world.principal(f"{owner}.admin"),
            data=ContractCreate.model_validate(contract_body(award_id, **overrides)),
        ).value.id


def report(
    world: World, supplier: str, contract_id: int, period: str, values: dict[str, str]
) -> None:
    with world.platform.db.write() as session:
        contracts.report_sla(
            session=session,
            actor=world.principal(f"{supplier}.admin"),
            contract_id=contract_id,
            data=SlaReportIn(period=period, values=values),
            today=date(2026, 3, 15),
        )
