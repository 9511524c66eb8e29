"""The demo city's cooperation projects, run through the procurement and delivery services.

Six projects across the four cooperation modes, each tendered lot by lot with
sealed bids, opened after its deadline, evaluated and awarded, then
contracted with KPIs. Tender dates are set in the past (the services take
``now``), so that the city has a history; the log records when the demo ran.
The city is built to show the supervision alerts at work:

* 示范云栖 wins about 44 % of all awarded value (concentration, and HHI > 2,500);
* the traffic-signal system's development, data hosting and O&M all go to
  示范云栖, the O&M lot under a logged regulator exception (lock-in);
* the OA system's O&M contract ends within 60 days with neither a handover
  package nor a successor lot (continuity);
* the elderly-care franchise tender is still open with sealed bids.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select

from datacompact.delivery import contracts
from datacompact.delivery.schemas import ContractCreate, SlaReportIn
from datacompact.permissions import Principal, Role
from datacompact.platform import Platform
from datacompact.procurement import lots, projects, tenders
from datacompact.procurement.levels import meets
from datacompact.procurement.schemas import (
    LotCreate,
    MeetingCreate,
    ProjectCreate,
    ScoreIn,
    TenderCreate,
)
from datacompact.store.models import Member, Participant, Resource
from datacompact.store.project_models import Award, Project

from ._catalog import principal
from ._city import Org
from ._grants import participant_by_uscc

_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class DemoLot:
    title: str
    category: str
    system: str
    budget: str
    #: (bidder slug, price); the lowest price wins unless ``scores`` rank otherwise.
    bids: tuple[tuple[str, str], ...]
    requirements: tuple[tuple[str, str], ...] = ()
    #: Comprehensive scoring: (technical, qualification, past_performance, sme_local) per bidder.
    scores: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    exception: str | None = None  # a regulator's reason to lift the dev/O&M separation
    contract_days: int = 730
    contract_started: int = 300  # days before today
    handover: bool = True
    still_open: bool = False


@dataclass(frozen=True)
class DemoProject:
    name: str
    owner: str
    sponsor: str
    technical: str
    domain: str
    mode: str
    budget: str
    resources: tuple[str, ...]  # English names of catalog resources
    lots: tuple[DemoLot, ...]
    classified: bool = False
    tendered_days_ago: int = 400


ITSS = "信息系统建设和服务能力等级 / ITSS capability"

DEMO_PROJECTS = (
    DemoProject(
        "“一网通办”平台升级 / one-stop online services upgrade",
        "amr",
        "tax",
        "hrss",
        "政务服务",
        "government_purchase",
        "6500000.00",
        ("Register of market entities",),
        (
            DemoLot(
                "事项与门户模块开发 / services and portal modules",
                "module_development",
                "一网通办",
                "2200000.00",
                (("it-yunqi", "2000000.00"), ("it-boyan", "2150000.00")),
            ),
            DemoLot(
                "系统集成与部门对接 / integration with departments",
                "integration",
                "一网通办",
                "1200000.00",
                (("it-boyan", "1100000.00"), ("it-lanhu", "1180000.00")),
            ),
            DemoLot(
                "电子证照数据服务 / e-licence data services",
                "data_services",
                "一网通办",
                "900000.00",
                (("it-zhihui", "800000.00"), ("it-huashu", "860000.00")),
            ),
            DemoLot(
                "平台运维 / platform O&M",
                "operations",
                "一网通办",
                "1600000.00",
                (("it-shulan", "1500000.00"), ("it-tianque", "1580000.00")),
            ),
        ),
    ),
    DemoProject(
        "城市大脑数据专区 / city-brain data zone",
        "psb",
        "transport",
        "hrss",
        "城市治理",
        "jv_platform",
        "2600000.00",
        ("Social insurance contributions",),
        (
            DemoLot(
                "数据专区运营 / data zone operation",
                "data_services",
                "城市大脑",
                "2600000.00",
                (("jv", "2400000.00"), ("telecom", "2550000.00")),
            ),
        ),
        classified=True,
    ),
    DemoProject(
        "协同办公（OA）系统运维 / OA system O&M",
        "edu",
        "edu",
        "hrss",
        "机关办公",
        "government_purchase",
        "650000.00",
        (),
        (
            DemoLot(
                "OA 系统运维 / OA O&M",
                "operations",
                "OA",
                "650000.00",
                (("it-xinghuan", "600000.00"), ("it-qiming", "640000.00")),
                contract_days=360,
                contract_started=315,  # ends 45 days from today
                handover=False,
            ),
        ),
    ),
    DemoProject(
        "智慧交通信号优化 / smart traffic signals",
        "transport",
        "psb",
        "transport",
        "交通",
        "ppp",
        "2300000.00",
        ("Hourly traffic counts per road segment",),
        (
            DemoLot(
                "信号控制平台开发 / signal control platform",
                "module_development",
                "交通信号",
                "1300000.00",
                (("it-yunqi", "1200000.00"), ("it-zhuoyuan", "1290000.00")),
            ),
            DemoLot(
                "路况数据托管 / traffic data hosting",
                "data_services",
                "交通信号",
                "450000.00",
                (("it-yunqi", "400000.00"), ("it-ruihang", "440000.00")),
            ),
            DemoLot(
                "信号平台运维 / signal platform O&M",
                "operations",
                "交通信号",
                "550000.00",
                (("it-yunqi", "500000.00"), ("it-baichuan", "540000.00")),
                exception="信号机采用原厂专有协议，暂无其他可维护厂商；一年内完成协议开放 / "
                "the signal controllers speak a proprietary protocol only the developer "
                "maintains; to be opened within a year",
            ),
        ),
    ),
    DemoProject(
        "生态环境监测数据服务 / environmental monitoring data",
        "eco",
        "eco",
        "hrss",
        "生态环境",
        "government_purchase",
        "1600000.00",
        ("Environmental complaints",),
        (
            DemoLot(
                "监测数据治理与服务 / monitoring data services",
                "data_services",
                "生态监测",
                "1300000.00",
                (("it-yunqi", "1200000.00"), ("it-hongyi", "1100000.00")),
                scores={"it-yunqi": (92, 90, 88, 80), "it-hongyi": (70, 75, 70, 90)},
            ),
            DemoLot(
                "等级保护测评 / security assessment",
                "security_assessment",
                "生态监测",
                "300000.00",
                (("it-anheng", "280000.00"), ("it-jinsui", "295000.00")),
            ),
        ),
    ),
    DemoProject(
        "社区养老服务平台 / community elderly care platform",
        "civil",
        "civil",
        "hrss",
        "民生服务",
        "franchise",
        "3000000.00",
        (),
        (
            DemoLot(
                "养老服务平台建设与运营 / build and run the platform",
                "module_development",
                "社区养老",
                "3000000.00",
                (("it-dingxin", "2850000.00"), ("it-langkun", "2900000.00")),
                requirements=((ITSS, "CS2"),),
                still_open=True,
            ),
        ),
        tendered_days_ago=5,
    ),
)

_KPIS = {
    "operations": [
        {"name": "availability", "target": "99.5"},
        {"name": "response_time", "target": "30"},
        {"name": "satisfaction", "target": "90"},
    ],
    "data_services": [
        {"name": "availability", "target": "99.0"},
        {"name": "cases_per_day", "target": "200"},
    ],
}
_DEFAULT_KPIS = [
    {"name": "availability", "target": "99.0"},
    {"name": "satisfaction", "target": "85"},
]
_SLA = {"availability": "99.8", "response_time": "18", "satisfaction": "94", "cases_per_day": "260"}
_COMMITTEE = ("cert-center", "data-institute")


@dataclass
class _City:
    platform: Platform
    by_slug: dict[str, Org]
    today: dt.date
    now: dt.datetime

    def participant(self, slug: str) -> Participant:
        return participant_by_uscc(self.platform, self.by_slug[slug].uscc)

    def actor(self, slug: str, role: Role = Role.ADMIN) -> Principal:
        return principal(self.platform, self.participant(slug), role)

    def slug_of(self, participant_id: int) -> str:
        with self.platform.db.read() as session:
            uscc = session.scalar(select(Participant.uscc).where(Participant.id == participant_id))
        return next(o.slug for o in self.by_slug.values() if o.uscc == uscc)


def ensure_projects(platform: Platform, cast: list[Org]) -> int:
    """Build the demo projects not built yet; returns how many exist."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    city = _City(platform, {o.slug: o for o in cast}, now.date(), now)
    for spec in DEMO_PROJECTS:
        with platform.db.read() as session:
            if session.scalar(select(Project.id).where(Project.name == spec.name)) is not None:
                continue
        _build(city, spec)
    return len(DEMO_PROJECTS)


def _build(city: _City, spec: DemoProject) -> None:
    owner = city.actor(spec.owner)
    with city.platform.db.read() as session:
        resource_ids = list(
            session.scalars(select(Resource.id).where(Resource.name_en.in_(spec.resources)))
        )
    with city.platform.db.write() as session:
        project = projects.create_project(
            session=session,
            actor=owner,
            data=ProjectCreate(
                name=spec.name,
                domain=spec.domain,
                sponsor_id=city.participant(spec.sponsor).id,
                technical_id=city.participant(spec.technical).id,
                budget=spec.budget,
                classified=spec.classified,
                mode=spec.mode,
                resource_ids=resource_ids,
            ),
        ).value
    with city.platform.db.write() as session:
        projects.decide_mode(
            session=session,
            actor=city.actor("bdb", Role.REVIEWER),
            project_id=project.id,
            decision="approve",
            reason="合作模式符合数据分级与涉密要求 / the mode fits the data's grade and secrecy",
        )
    with city.platform.db.write() as session:
        projects.record_meeting(
            session=session,
            actor=owner,
            project_id=project.id,
            data=_meeting(city, spec),
        )
    started = city.now - spec.tendered_days_ago * _DAY
    for lot in spec.lots:
        _tender_lot(city, spec, project.id, lot, started)


def _meeting(city: _City, spec: DemoProject) -> MeetingCreate:
    attendees = sorted({city.participant(s).id for s in (spec.owner, spec.sponsor, spec.technical)})
    if len(attendees) < 2:
        attendees.append(city.participant("bdb").id)
    return MeetingCreate(
        held_on=city.today - (spec.tendered_days_ago + 10) * _DAY,
        attendees=attendees,
        decisions=[
            f"同意按{spec.mode}模式实施，开发与运维分标段招标 / proceed as {spec.mode}, "
            "development and O&M tendered as separate lots"
        ],
    )


def _bidders(city: _City, lot: DemoLot) -> tuple[tuple[str, str], ...]:
    """The lot's bidders; for a lot with requirements, the first enterprises that meet them."""
    if not lot.requirements:
        return lot.bids
    name, minimum = lot.requirements[0]
    qualified = []
    for org in city.by_slug.values():
        if org.kind != "enterprise":
            continue
        if any(q == name and meets(level, minimum) for q, level, _issuer in org.qualifications):
            qualified.append(org.slug)
    prices = [price for _slug, price in lot.bids]
    return tuple(zip(qualified[: len(prices)], prices, strict=False))


def _committee(city: _City) -> list[int]:
    with city.platform.db.read() as session:
        return [
            session.scalar(select(Member.id).where(Member.username == f"{slug}.reviewer")) or 0
            for slug in _COMMITTEE
        ]


def _tender_lot(
    city: _City, spec: DemoProject, project_id: int, lot: DemoLot, started: dt.datetime
) -> None:
    owner = city.actor(spec.owner)
    with city.platform.db.write() as session:
        lot_id = lots.create_lot(
            session=session,
            actor=owner,
            project_id=project_id,
            data=LotCreate(
                title=lot.title,
                category=lot.category,
                system=lot.system,
                budget=lot.budget,
                requirements=[{"name": n, "min_level": m} for n, m in lot.requirements],
                open_source=lot.category in ("module_development", "integration"),
                code_escrow=lot.category != "security_assessment",
            ),
        ).value.id
    bidders = _bidders(city, lot)
    if lot.exception:
        with city.platform.db.write() as session:
            lots.grant_exception(
                session=session,
                actor=city.actor("bdb", Role.REVIEWER),
                lot_id=lot_id,
                supplier_id=city.participant(bidders[0][0]).id,
                rule="separation.dev_ops",
                reason=lot.exception,
            )
    deadline = city.now + 15 * _DAY if lot.still_open else started + 20 * _DAY
    method = "comprehensive" if lot.scores else "lowest_price"
    weights = (
        {"price": 30, "technical": 40, "qualification": 10, "past_performance": 10, "sme_local": 10}
        if lot.scores
        else None
    )
    with city.platform.db.write() as session:
        tender_id = tenders.publish_tender(
            session=session,
            actor=owner,
            lot_id=lot_id,
            data=TenderCreate(
                method=method,
                weights=weights,
                opens_at=started,
                deadline=deadline,
                committee=_committee(city),
            ),
            now=started,
        ).value.id
    bid_ids: dict[str, int] = {}
    for slug, price in bidders:
        document = f"{city.by_slug[slug].name} 投标文件：{lot.title}，报价 {price} 元".encode()
        with city.platform.db.write() as session:
            bid_ids[slug] = tenders.submit_bid(
                session=session,
                actor=city.actor(slug),
                secret=city.platform.secret,
                tender_id=tender_id,
                price=price,
                document=document,
                now=None if lot.still_open else started + 2 * _DAY,
            ).value.id
    if lot.still_open:
        return
    with city.platform.db.write() as session:
        tenders.open_bids(
            session=session,
            actor=owner,
            secret=city.platform.secret,
            tender_id=tender_id,
            now=deadline + dt.timedelta(hours=1),
        )
    for slug, marks in lot.scores.items():
        for member in _COMMITTEE:
            technical, qualification, past, local = marks
            with city.platform.db.write() as session:
                tenders.score_bid(
                    session=session,
                    actor=city.actor(member, Role.REVIEWER),
                    bid_id=bid_ids[slug],
                    data=ScoreIn(
                        technical=technical,
                        qualification=qualification,
                        past_performance=past,
                        sme_local=local,
                    ),
                )
    with city.platform.db.write() as session:
        tenders.award_tender(session=session, actor=owner, tender_id=tender_id)
    _contract(city, spec, lot, tender_id)


def _contract(city: _City, spec: DemoProject, lot: DemoLot, tender_id: int) -> None:
    owner = city.actor(spec.owner)
    with city.platform.db.read() as session:
        award = session.scalar(select(Award).where(Award.tender_id == tender_id))
        if award is None:
            raise RuntimeError(f"tender {tender_id} has no award")
        award_id, supplier_id = award.id, award.supplier_id
    starts = city.today - lot.contract_started * _DAY
    ends = starts + lot.contract_days * _DAY
    kpis = _KPIS.get(lot.category, _DEFAULT_KPIS)
    complete = {"documentation": True, "credentials": True, "code_escrow": True}
    with city.platform.db.write() as session:
        contract = contracts.sign_contract(
            session=session,
            actor=owner,
            data=ContractCreate.model_validate(
                {
                    "award_id": award_id,
                    "starts_on": starts,
                    "ends_on": ends,
                    "kpis": kpis,
                    "milestones": [
                        {
                            "title": "首期验收 / first acceptance",
                            "amount": "0.00",
                            "due_on": starts + 90 * _DAY,
                            "kpis": [k["name"] for k in kpis],
                        }
                    ],
                    "handover": complete if lot.handover else {},
                }
            ),
        ).value
    period = starts + 40 * _DAY
    with city.platform.db.write() as session:
        contracts.report_sla(
            session=session,
            actor=city.actor(city.slug_of(supplier_id)),
            contract_id=contract.id,
            data=_sla(period, kpis),
        )
    with city.platform.db.write() as session:
        contracts.accept_milestone(
            session=session,
            actor=owner,
            contract_id=contract.id,
            milestone_id=contract.milestones[0].id,
        )


def _sla(period: dt.date, kpis: list[dict[str, str]]) -> SlaReportIn:
    return SlaReportIn(
        period=f"{period.year:04d}-{period.month:02d}",
        values={k["name"]: _SLA[k["name"]] for k in kpis},
    )
