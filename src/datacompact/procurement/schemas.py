"""Pydantic schemas of cooperation projects: projects, lots, tenders, bids, awards, kept apart from the tables.

Money and scores travel as decimal strings (``"1250000.00"``, ``"87.5"``): the
services parse them with ``Decimal`` and refuse anything else, so no float
ever reaches a total or the log. Bid documents travel base64-encoded.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field

from datacompact.schemas_base import MAX_ID, MULTILINE, IsoDate, RowId, Strict

ID = Field(ge=1, le=MAX_ID)
MONEY = Field(min_length=1, max_length=32, description="CNY as a decimal string, e.g. 1250000.00")


class CooperationMode(StrEnum):
    GOVERNMENT_PURCHASE = "government_purchase"
    PPP = "ppp"
    FRANCHISE = "franchise"
    JV_PLATFORM = "jv_platform"


class LotCategory(StrEnum):
    MODULE_DEVELOPMENT = "module_development"
    INTEGRATION = "integration"
    DATA_SERVICES = "data_services"
    OPERATIONS = "operations"
    SECURITY_ASSESSMENT = "security_assessment"


class EvaluationMethod(StrEnum):
    LOWEST_PRICE = "lowest_price"
    COMPREHENSIVE = "comprehensive"


# -- projects -----------------------------------------------------------------------------


class ProjectCreate(Strict):
    """A cooperation project; ``owner_id`` defaults to the acting member's participant."""

    name: str = Field(min_length=2, max_length=200)
    description: Annotated[str, MULTILINE] = Field(default="", max_length=4000)
    domain: str = Field(min_length=1, max_length=50)
    owner_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    sponsor_id: int = ID
    technical_id: int = ID
    budget: str = MONEY
    classified: bool = False
    mode: CooperationMode
    resource_ids: list[RowId] = Field(default_factory=list, max_length=100)


class ResourceLinkIn(Strict):
    resource_ids: list[RowId] = Field(min_length=1, max_length=100)


class ModeProposalIn(Strict):
    mode: CooperationMode
    reason: Annotated[str, MULTILINE] = Field(min_length=2, max_length=500)


class ModeDecisionIn(Strict):
    decision: str = Field(pattern="^(approve|reject)$")
    reason: Annotated[str, MULTILINE] = Field(min_length=2, max_length=500)


class MeetingCreate(Strict):
    """A joint meeting (联席会议): who attended (participant ids) and what it decided."""

    held_on: IsoDate
    attendees: list[RowId] = Field(min_length=2, max_length=50)
    decisions: list[str] = Field(min_length=1, max_length=50)
    minutes_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class MeetingPublic(BaseModel):
    id: int
    project_id: int
    held_on: date
    attendees: list[int]
    decisions: list[str]
    minutes_sha256: str | None
    created_at: datetime


class ProjectPublic(BaseModel):
    id: int
    name: str
    description: str
    domain: str
    owner_id: int
    sponsor_id: int
    technical_id: int
    owner_name: str | None = None
    sponsor_name: str | None = None
    technical_name: str | None = None
    budget: str
    classified: bool
    grade: str | None
    mode: str
    mode_status: str
    mode_reason: str | None
    mode_decided_by: int | None
    #: Participants who may approve the mode (never the owner).
    mode_approvers: list[int]
    resource_ids: list[int]
    lot_ids: list[int]
    meetings: list[MeetingPublic]
    created_at: datetime


# -- lots ---------------------------------------------------------------------------------


class RequirementIn(Strict):
    """A qualification a lot asks for; levels compare as docs/projects.md says."""

    name: str = Field(min_length=1, max_length=200)
    min_level: str = Field(min_length=1, max_length=50)
    mandatory: bool = True


class LotCreate(Strict):
    title: str = Field(min_length=2, max_length=200)
    description: Annotated[str, MULTILINE] = Field(default="", max_length=4000)
    category: LotCategory
    system: str = Field(min_length=1, max_length=100)
    budget: str = MONEY
    requirements: list[RequirementIn] = Field(default_factory=list, max_length=20)
    #: Stated explicitly on every lot: whether the code is delivered open source, kept in escrow.
    open_source: bool
    code_escrow: bool
    successor_of: int | None = Field(default=None, ge=1, le=MAX_ID)


class LotPublic(BaseModel):
    id: int
    project_id: int
    title: str
    description: str
    category: str
    system: str
    budget: str
    requirements: list[dict[str, Any]]
    open_source: bool
    code_escrow: bool
    successor_of: int | None
    status: str
    tender_id: int | None
    exceptions: list[ExceptionPublic]
    created_at: datetime


class LotCancelIn(Strict):
    reason: Annotated[str, MULTILINE] = Field(min_length=4, max_length=1000)


class ExceptionCreate(Strict):
    """A regulator's exception to a procurement rule, for one lot and one supplier."""

    supplier_id: int = ID
    rule: str = Field(pattern="^separation\\.dev_ops$")
    reason: Annotated[str, MULTILINE] = Field(min_length=4, max_length=1000)


class ExceptionPublic(BaseModel):
    id: int
    lot_id: int
    supplier_id: int
    supplier_name: str | None = None
    rule: str
    reason: str
    #: The regulator (participant) that granted it.
    granted_by: int
    granted_by_name: str | None = None
    created_at: datetime


class MatchPublic(BaseModel):
    participant_id: int
    name: str
    score: float
    components: dict[str, float]
    reasons: list[str]


class ExcludedPublic(BaseModel):
    participant_id: int
    name: str
    kind: str
    reasons: list[str]


class RankingPublic(BaseModel):
    lot_id: int
    matches: list[MatchPublic]
    excluded: list[ExcludedPublic]
    #: Set exactly when ``matches`` is empty: why no enterprise matched (zh / en).
    empty_reason: str | None = None


# -- tenders, bids, scores, awards ---------------------------------------------------------


class WeightsIn(Strict):
    """Points out of 100 per criterion; they must sum to 100."""

    price: int = Field(ge=0, le=100)
    technical: int = Field(default=0, ge=0, le=100)
    qualification: int = Field(default=0, ge=0, le=100)
    past_performance: int = Field(default=0, ge=0, le=100)
    sme_local: int = Field(default=0, ge=0, le=100)


class TenderCreate(Strict):
    """The tender of a lot. ``committee`` lists platform member ids (admins or reviewers)."""

    method: EvaluationMethod
    weights: WeightsIn | None = None
    opens_at: AwareDatetime
    deadline: AwareDatetime
    committee: list[RowId] = Field(min_length=1, max_length=25)


class BidCreate(Strict):
    price: str = MONEY
    #: The bid document, base64 (RFC 4648 §4).
    document: str = Field(min_length=1, max_length=70_000_000)
    bidder_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class BidPublic(BaseModel):
    id: int
    tender_id: int
    bidder_id: int
    bidder_name: str | None = None
    #: Shown to its bidder at once, to everybody once the bids are opened.
    price: str | None
    sha256: str
    status: str
    responsive: bool | None
    submitted_at: datetime


class ScoreIn(Strict):
    """One member's 0–100 scores of one bid, for each criterion of non-zero weight."""

    technical: str | int | None = None
    qualification: str | int | None = None
    past_performance: str | int | None = None
    sme_local: str | int | None = None


class BidScorePublic(BaseModel):
    id: int
    bid_id: int
    person_id: str
    scores: dict[str, str]
    created_at: datetime


class ConflictPublic(BaseModel):
    kind: str
    bidder_ids: list[int]
    #: The bidders' names, in the order of ``bidder_ids``.
    bidder_names: list[str | None] = Field(default_factory=list)
    member_id: int | None
    member_name: str | None = None
    reason: str


class TenderPublic(BaseModel):
    id: int
    lot_id: int
    method: str
    weights: dict[str, int]
    opens_at: datetime
    deadline: datetime
    #: Member ids of the committee: shown to the owner, the regulator and the members
    #: themselves until the award, to everybody afterwards.
    committee: list[int] | None
    #: The committee members' display names, in the order of ``committee``, shown
    #: exactly when ``committee`` is.
    committee_names: list[str | None] | None = None
    status: str
    opened_at: datetime | None
    bids: list[BidPublic]
    conflicts: list[ConflictPublic]
    award: AwardPublic | None
    created_at: datetime


class AwardIn(Strict):
    """Award to the first-ranked bid, or to ``bid_id`` when every bid above it is barred."""

    bid_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class AwardPublic(BaseModel):
    id: int
    tender_id: int
    lot_id: int
    bid_id: int
    supplier_id: int
    supplier_name: str | None = None
    value: str
    evaluation: dict[str, Any]
    exception_id: int | None
    created_at: datetime


LotPublic.model_rebuild()
TenderPublic.model_rebuild()
