"""Pydantic schemas of contracts, KPIs, SLA reports and deliverables, kept apart from the tables.

Money and measurements travel as decimal text (``"1250000.00"``, ``"99.95"``),
never as JSON numbers, so nothing is rounded on the way in. The services
parse them with :class:`~decimal.Decimal` and refuse anything else with a
specific error; the schemas only check the shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from datacompact.schemas_base import MAX_ID, MONTH_PATTERN, MULTILINE, IsoDate, Strict

KpiName = Literal["availability", "response_time", "cases_per_day", "satisfaction", "data_quality"]

#: Each KPI's comparator and unit (结果导向): what "met" means for it.
KPI_RULES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "availability": (">=", "%"),
        "response_time": ("<=", "minutes"),
        "cases_per_day": (">=", "cases/day"),
        "satisfaction": (">=", "%"),
        "data_quality": (">=", "score"),
    }
)
#: KPIs measured on a 0–100 scale.
PERCENT_KPIS = frozenset({"availability", "satisfaction", "data_quality"})
#: Measured by the platform (the catalog's quality score), never self-reported.
MEASURED_BY_PLATFORM = frozenset({"data_quality"})

PERIOD_PATTERN = MONTH_PATTERN


class KpiIn(Strict):
    name: KpiName
    #: Required; left optional here so that the service can name the KPI that lacks it.
    target: str | None = Field(default=None, max_length=32)
    #: For ``data_quality``: the catalog resource whose quality score counts.
    resource_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class MilestoneIn(Strict):
    title: str = Field(min_length=2, max_length=200)
    amount: str = Field(min_length=1, max_length=32)
    due_on: IsoDate
    #: The KPIs that must be met before the milestone is accepted and paid.
    kpis: list[KpiName] = Field(default_factory=list, max_length=5)


class HandoverIn(Strict):
    """The handover package (交接包): complete when all three are delivered."""

    documentation: bool = False
    credentials: bool = False
    code_escrow: bool = False


class ContractCreate(Strict):
    award_id: int = Field(ge=1, le=MAX_ID)
    starts_on: IsoDate
    ends_on: IsoDate
    #: The contract value; the awarded value when omitted.
    value: str | None = Field(default=None, max_length=32)
    kpis: list[KpiIn] = Field(min_length=1, max_length=5)
    milestones: list[MilestoneIn] = Field(default_factory=list, max_length=50)
    handover: HandoverIn = Field(default_factory=HandoverIn)


class SlaReportIn(Strict):
    period: str = Field(pattern=PERIOD_PATTERN, description="YYYY-MM")
    values: dict[str, str] = Field(min_length=1, max_length=10)


DeliverableKind = Literal["open_source", "open_data", "key_code"]
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class DeliverableIn(Strict):
    """A deliverable deposited by the supplier; ``key_code`` goes into escrow."""

    kind: DeliverableKind
    #: A file name, without any folder.
    name: str = Field(min_length=1, max_length=200)
    #: The file, base64 (RFC 4648 §4): 50 MiB of content is just under 70 million characters.
    content: str = Field(max_length=70_000_000)


class EscrowReleaseIn(Strict):
    reason: Annotated[str, MULTILINE] = Field(min_length=2, max_length=500)


class DeliverablePublic(BaseModel):
    id: int
    contract_id: int
    kind: str
    name: str
    #: The only thing ever public of key code in escrow.
    sha256: str
    size: int
    sealed: bool
    created_at: datetime


class KpiPublic(BaseModel):
    name: str
    target: str
    comparator: str
    unit: str
    resource_id: int | None
    #: The latest measurement: from the newest SLA report naming it, or the catalog.
    measured: str | None
    measured_in: str | None
    met: bool


class MilestonePublic(BaseModel):
    id: int
    title: str
    amount: str
    due_on: date
    kpis: list[str]
    status: str
    accepted_at: datetime | None


class SlaReportPublic(BaseModel):
    id: int
    period: str
    values: dict[str, str]
    sha256: str
    created_at: datetime


class ContractPublic(BaseModel):
    id: int
    award_id: int
    project_id: int
    lot_id: int
    owner_id: int
    supplier_id: int
    owner_name: str | None = None
    supplier_name: str | None = None
    value: str
    starts_on: date
    ends_on: date
    status: str
    handover: dict[str, bool]
    handover_complete: bool
    kpis: list[KpiPublic]
    milestones: list[MilestonePublic]
    reports: list[SlaReportPublic]
    created_at: datetime
