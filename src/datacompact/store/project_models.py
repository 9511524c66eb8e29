"""Tables of cooperation projects: projects, lots, tenders, bids, awards, contracts.

Money is kept as decimal text (``"1250000.00"``, CNY) so that SQLite and
PostgreSQL round-trip it exactly; the services parse it with ``Decimal``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from datacompact.clock import utcnow
from datacompact.store.base import Base, UTCDateTime

LOT_CATEGORIES = (
    "module_development",
    "integration",
    "data_services",
    "operations",
    "security_assessment",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Project(Base):
    """A cooperation project: who owns, sponsors and runs it, its budget, mode and data."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    domain: Mapped[str] = mapped_column(String(50))
    owner_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    sponsor_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    technical_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    budget: Mapped[str] = mapped_column(String(32))
    classified: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The highest grade among the linked resources (None: touches no data).
    grade: Mapped[str | None] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(24))
    mode_status: Mapped[str] = mapped_column(String(16), default="proposed")
    mode_reason: Mapped[str | None] = mapped_column(String(500))
    mode_decided_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    resources: Mapped[list[ProjectResource]] = relationship(
        cascade="all, delete-orphan", order_by="ProjectResource.resource_id"
    )

    __table_args__ = (
        CheckConstraint(
            _in("mode", ("government_purchase", "ppp", "franchise", "jv_platform")), name="mode"
        ),
        CheckConstraint(
            _in("mode_status", ("proposed", "approved", "rejected")), name="mode_status"
        ),
        Index("ix_projects_owner", "owner_id"),
    )


class ProjectResource(Base):
    __tablename__ = "project_resources"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"), primary_key=True)


class Meeting(Base):
    """A joint meeting (联席会议) of a project and its decisions."""

    __tablename__ = "project_meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    held_on: Mapped[date] = mapped_column(Date)
    attendees: Mapped[list[int]] = mapped_column(JSON)
    decisions: Mapped[list[str]] = mapped_column(JSON)
    minutes_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Lot(Base):
    """One lot of a project: a module, integration, data services, O&M or a security assessment."""

    __tablename__ = "lots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(24))
    #: The system the lot builds or runs; development and O&M of one system are separate lots.
    system: Mapped[str] = mapped_column(String(100))
    budget: Mapped[str] = mapped_column(String(32))
    requirements: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    open_source: Mapped[bool] = mapped_column(Boolean, default=False)
    code_escrow: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The lot whose work this one takes over (O&M continuity).
    successor_of: Mapped[int | None] = mapped_column(ForeignKey("lots.id"))
    status: Mapped[str] = mapped_column(String(16), default="planned")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("category", LOT_CATEGORIES), name="category"),
        CheckConstraint(
            _in("status", ("planned", "tendering", "awarded", "cancelled")), name="status"
        ),
        Index("ix_lots_project", "project_id"),
    )


class Tender(Base):
    """The tender of one lot: admission, evaluation method and weights, period, committee."""

    __tablename__ = "tenders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), unique=True)
    method: Mapped[str] = mapped_column(String(16))
    weights: Mapped[dict[str, int]] = mapped_column(JSON)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Evaluation committee: ``[{"person_id", "employer_id", "shareholdings": [..]}]``.
    committee: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("method", ("lowest_price", "comprehensive")), name="method"),
        CheckConstraint(_in("status", ("open", "opened", "awarded", "cancelled")), name="status"),
        CheckConstraint("deadline > opens_at", name="period"),
    )


class Bid(Base):
    """A bid: its document sealed (AES-GCM) and hashed until the deadline."""

    __tablename__ = "bids"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"))
    bidder_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    price: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="sealed")
    responsive: Mapped[bool | None] = mapped_column(Boolean)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("tender_id", "bidder_id", name="uq_bids_tender_bidder"),
        CheckConstraint(_in("status", ("sealed", "opened")), name="status"),
    )


class BidScore(Base):
    """One committee member's scores of one bid (0–100 per criterion)."""

    __tablename__ = "bid_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id"))
    person_id: Mapped[str] = mapped_column(String(64))
    scores: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("bid_id", "person_id", name="uq_bid_scores_member"),)


class RuleException(Base):
    """A regulator's logged exception to a procurement rule, for one lot and supplier."""

    __tablename__ = "rule_exceptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    rule: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(String(1000))
    granted_by: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Award(Base):
    """The award of a tender: the winning bid, its evaluation and reasons."""

    __tablename__ = "awards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), unique=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"))
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    value: Mapped[str] = mapped_column(String(32))
    evaluation: Mapped[dict[str, Any]] = mapped_column(JSON)
    exception_id: Mapped[int | None] = mapped_column(ForeignKey("rule_exceptions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Contract(Base):
    """A contract from an award: its term, handover package and KPIs."""

    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), unique=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    value: Mapped[str] = mapped_column(String(32))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")
    #: Handover package (交接包): documentation, credentials, code in escrow.
    handover: Mapped[dict[str, bool]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    kpis: Mapped[list[Kpi]] = relationship(cascade="all, delete-orphan", order_by="Kpi.id")
    milestones: Mapped[list[Milestone]] = relationship(
        cascade="all, delete-orphan", order_by="Milestone.id"
    )

    __table_args__ = (
        CheckConstraint(_in("status", ("active", "accepted", "terminated")), name="status"),
        CheckConstraint("ends_on > starts_on", name="term"),
    )


class Kpi(Base):
    """A contract KPI and its target (结果导向)."""

    __tablename__ = "contract_kpis"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(32))
    #: ``>=`` (availability, satisfaction, ...) or ``<=`` (response time).
    comparator: Mapped[str] = mapped_column(String(2))
    unit: Mapped[str] = mapped_column(String(16))
    #: For ``data_quality``: the catalog resource whose quality score counts.
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id"))

    __table_args__ = (
        UniqueConstraint("contract_id", "name", name="uq_contract_kpis_name"),
        CheckConstraint("comparator IN ('>=', '<=')", name="comparator"),
    )


class SlaReport(Base):
    """A periodic O&M SLA report: measured KPI values for one period."""

    __tablename__ = "sla_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"))
    period: Mapped[str] = mapped_column(String(7))
    values: Mapped[dict[str, str]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("contract_id", "period", name="uq_sla_reports_period"),)


class Milestone(Base):
    """A payment milestone, paid only once the KPIs it names are met."""

    __tablename__ = "contract_milestones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    amount: Mapped[str] = mapped_column(String(32))
    due_on: Mapped[date] = mapped_column(Date)
    kpis: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (CheckConstraint(_in("status", ("pending", "accepted")), name="status"),)


DELIVERABLE_KINDS = ("open_source", "open_data", "key_code")


class Deliverable(Base):
    """A contract deliverable: a file under the platform home, named by its SHA-256.

    Open source and open data are kept as plain files; key code (``sealed``) is
    kept apart, encrypted, with its nonce and key id here.
    """

    __tablename__ = "contract_deliverables"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    #: Relative to the platform home, so that a home moved elsewhere still finds it.
    path: Mapped[str] = mapped_column(String(500))
    sealed: Mapped[bool] = mapped_column(Boolean, default=False)
    nonce: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str | None] = mapped_column(String(64))
    member_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("contract_id", "sha256", name="uq_contract_deliverables_sha256"),
        CheckConstraint(_in("kind", DELIVERABLE_KINDS), name="kind"),
    )
