"""Building projects, lots, tenders and bids through the services, for the project tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from datacompact.clock import utcnow
from datacompact.permissions import Principal, Role
from datacompact.procurement import lots, projects, tenders
from datacompact.procurement.schemas import LotCreate, ProjectCreate, ScoreIn, TenderCreate
from datacompact.registry import participants, qualifications
from datacompact.registry.schemas import Decision, ParticipantCreate, QualificationCreate
from datacompact.store.models import Member, Participant

from ..conftest import World, valid_uscc

HOUR = timedelta(hours=1)


def project_body(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "name": "城市大脑一期",
        "description": "政务数据共享与城市运行监测",
        "domain": "city",
        "sponsor_id": world.ids["department"],
        "technical_id": world.ids["regulator"],
        "budget": "3000000.00",
        "mode": "government_purchase",
        **extra,
    }


def new_project(world: World, **extra: Any) -> int:
    with world.platform.db.write() as session:
        return projects.create_project(
            session=session,
            actor=world.principal("department.admin"),
            data=ProjectCreate.model_validate(project_body(world, **extra)),
        ).value.id


def approve_mode(world: World, project_id: int) -> None:
    with world.platform.db.write() as session:
        projects.decide_mode(
            session=session,
            actor=world.principal("regulator.reviewer"),
            project_id=project_id,
            decision="approve",
            reason="符合规则 / within the rules",
        )


def lot_body(**extra: Any) -> dict[str, Any]:
    return {
        "title": "政务云运维",
        "description": "7×24 监控与故障处置",
        "category": "operations",
        "system": "政务云",
        "budget": "500000.00",
        "requirements": [],
        "open_source": False,
        "code_escrow": True,
        **extra,
    }


def new_lot(world: World, project_id: int, **extra: Any) -> int:
    with world.platform.db.write() as session:
        return lots.create_lot(
            session=session,
            actor=world.principal("department.admin"),
            project_id=project_id,
            data=LotCreate.model_validate(lot_body(**extra)),
        ).value.id


def tender_body(world: World, *, start: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "method": "comprehensive",
        "weights": {"price": 40, "technical": 60},
        "opens_at": (start + HOUR).isoformat(),
        "deadline": (start + 2 * HOUR).isoformat(),
        "committee": [world.members["regulator.reviewer"]],
        **extra,
    }


def new_tender(world: World, lot_id: int, *, start: datetime | None = None, **extra: Any) -> int:
    """A tender whose period ran from ``start`` + 1 h to ``start`` + 2 h (default: 3 h ago)."""
    start = start or utcnow() - 3 * HOUR
    with world.platform.db.write() as session:
        return tenders.publish_tender(
            session=session,
            actor=world.principal("department.admin"),
            lot_id=lot_id,
            data=TenderCreate.model_validate(tender_body(world, start=start, **extra)),
            now=start,
        ).value.id


def bid(
    world: World,
    tender_id: int,
    actor: Principal,
    price: str = "400000.00",
    *,
    at: datetime | None = None,
    document: bytes = b"%PDF bid document",
) -> int:
    """A bid submitted during the default tender period (2.5 h ago) unless ``at`` says otherwise."""
    with world.platform.db.write() as session:
        return tenders.submit_bid(
            session=session,
            actor=actor,
            secret=world.platform.secret,
            tender_id=tender_id,
            price=price,
            document=document,
            now=at or utcnow() - 1.5 * HOUR,
        ).value.id


def open_tender(world: World, tender_id: int) -> Any:
    with world.platform.db.write() as session:
        return tenders.open_bids(
            session=session,
            actor=world.principal("department.admin"),
            secret=world.platform.secret,
            tender_id=tender_id,
        ).value


def score(world: World, key: str, bid_id: int, **marks: Any) -> None:
    with world.platform.db.write() as session:
        tenders.score_bid(
            session=session, actor=world.principal(key), bid_id=bid_id, data=ScoreIn(**marks)
        )


def award(world: World, tender_id: int, bid_id: int | None = None) -> Any:
    with world.platform.db.write() as session:
        return tenders.award_tender(
            session=session,
            actor=world.principal("department.admin"),
            tender_id=tender_id,
            bid_id=bid_id,
        ).value


def qualify(world: World, participant: str, name: str, level: str, **extra: Any) -> None:
    actor = admin_of(world, participant)
    body = {
        "name": name,
        "level": level,
        "issuer": "中国电子信息行业联合会",
        "valid_from": "2024-01-01",
        "valid_until": (date.today() + timedelta(days=365)).isoformat(),
        "evidence_sha256": "ab" * 32,
        **extra,
    }
    with world.platform.db.write() as session:
        qualifications.add_qualification(
            session=session,
            actor=actor,
            participant_id=world.ids[participant],
            data=QualificationCreate.model_validate(body),
        )


def admin_of(world: World, participant: str) -> Principal:
    """The admin principal of a participant, whatever its status (built, not authenticated)."""
    if f"{participant}.admin" in world.tokens:
        return world.principal(f"{participant}.admin")
    with world.platform.db.read() as session:
        member = session.query(Member).filter_by(username=f"{participant}.admin").one()
        found = session.get(Participant, member.participant_id)
        assert found is not None
        return Principal.member(
            member_id=member.id,
            participant_id=found.id,
            participant_kind=found.kind,
            roles=frozenset({Role.ADMIN}),
            governance=world.platform.settings.governance_mode,
        )


def new_supplier(
    world: World,
    key: str,
    stem: str,
    *,
    shareholders: list[tuple[str, str]] | None = None,
    decision: Decision | None = Decision.APPROVE,
) -> int:
    """Register (and by default approve) an enterprise, or a JV platform with ``shareholders``."""
    body: dict[str, Any] = {
        "kind": "jv_platform" if shareholders else "enterprise",
        "name": f"测试供应商{key}",
        "uscc": valid_uscc(stem),
        "region_code": "330106",
        "admin": {"username": f"{key}.admin", "display_name": "管理员", "password": "x" * 12},
    }
    if shareholders:
        body["shareholders"] = [
            {"holder_name": f"股东{n}", "holder_uscc": uscc, "stake_percent": percent}
            for n, (uscc, percent) in enumerate(shareholders)
        ]
    else:
        body["ownership"] = "private"
    mode = world.platform.settings.governance_mode
    with world.platform.db.write() as session:
        created = participants.register_participant(
            session=session,
            actor=Principal.anonymous(mode),
            secret=world.platform.secret,
            data=ParticipantCreate.model_validate(body),
        ).value
    world.ids[key] = created.id
    if decision is not None:
        with world.platform.db.write() as session:
            participants.decide_participant(
                session=session,
                actor=world.principal("regulator.admin"),
                participant_id=created.id,
                decision=Decision.APPROVE,
                reason="test approval",
            )
        if decision is not Decision.APPROVE:
            with world.platform.db.write() as session:
                participants.decide_participant(
                    session=session,
                    actor=world.principal("regulator.admin"),
                    participant_id=created.id,
                    decision=decision,
                    reason="test decision",
                )
    return created.id
