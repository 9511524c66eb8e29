"""Pydantic schemas of the value layer, kept apart from the tables: prices,
statements and revenue; shares and ratings.

Money and quantities travel as decimal text (``"12.50"``, ``"0.0025"``),
never as JSON numbers, so nothing is rounded on the way in:
:mod:`datacompact.value.money` and the services parse them into ``Decimal``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from datacompact.schemas_base import MAX_ID, MONTH_PATTERN, MULTILINE, RowId, Strict

ItemKind = Literal["query_service", "extract", "psi_service", "derived_dataset", "api"]
ChargingForm = Literal["product_quantity", "service_count", "service_time", "call_volume"]
Unit = Literal[
    "copy", "service", "hour", "minute", "call", "thousand_calls", "row", "thousand_rows"
]
PurposeClass = Literal["public_interest", "commercial"]
#: A month in China Standard Time, ``YYYY-MM``.
PERIOD_PATTERN = MONTH_PATTERN

#: The units each charging form may be counted in (the notice's four forms).
UNITS: dict[str, tuple[str, ...]] = {
    "product_quantity": ("copy", "row", "thousand_rows"),
    "service_count": ("service",),
    "service_time": ("hour", "minute"),
    "call_volume": ("call", "thousand_calls"),
}


class PriceItemCreate(Strict):
    """A product or service an operator lists; free until a ceiling is set."""

    code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str = Field(min_length=1, max_length=200)
    kind: ItemKind
    form: ChargingForm
    unit: Unit
    #: The resource a query service or an extract is on; optional for the others.
    resource_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class PriceChange(Strict):
    """A new ceiling (by the authorizing body) or price (by the operator), as decimal text."""

    #: Decimal text; a JSON number is refused so no float reaches a price.
    value: object
    reason: str = Field(default="", max_length=500)


class PurposeClassIn(Strict):
    purpose_class: PurposeClass
    reason: str = Field(min_length=1, max_length=500)


class UsageIn(Strict):
    """A use with no event of its own: a PSI run, API calls, connection time."""

    item_id: int = Field(ge=1, le=MAX_ID)
    grant_id: int = Field(ge=1, le=MAX_ID)
    #: In the item's unit, as decimal text.
    quantity: object


class MisuseIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


class StatementIn(Strict):
    period: str = Field(pattern=PERIOD_PATTERN, description="YYYY-MM")


class RevenueCapIn(Strict):
    year: int = Field(ge=2000, le=2999)
    #: Decimal text in yuan.
    maximum: object


class PriceVersionPublic(BaseModel):
    version: int
    ceiling: str | None
    price: str
    change: str
    reason: str
    effective_at: datetime
    log_index: int


class PriceItemPublic(BaseModel):
    id: int
    operator_id: int
    operator_name: str
    code: str
    title: str
    kind: str
    form: str
    unit: str
    resource_id: int | None
    version: int
    ceiling: str | None
    price: str
    versions: list[PriceVersionPublic] = []


class ChargingPublic(BaseModel):
    grant_id: int
    purpose: str
    purpose_class: PurposeClass
    #: Whether a reviewer decided the class (else it is the purpose's own).
    assigned: bool


class LinePublic(BaseModel):
    line_no: int
    event_seq: int
    user_id: int
    grant_id: int | None
    item_id: int
    version: int
    quantity: str
    unit_price: str
    amount: str
    free: bool


class StatementPublic(BaseModel):
    id: int
    operator_id: int
    period: str
    #: The whole statement's total, or the one user's when ``user_id`` is set.
    total: str
    line_count: int
    lines_sha256: str
    issued_at: datetime
    log_index: int | None
    user_id: int | None = None
    totals_by_user: dict[str, str] = {}
    lines: list[LinePublic] = []


class Mismatch(BaseModel):
    statement_id: int
    operator_id: int
    line_no: int | None
    field: str
    expected: str
    recorded: str
    message: str


class Finding(BaseModel):
    kind: Literal["misuse_reported", "resold_public_interest", "unclassed_commercial"]
    grant_id: int
    message: str
    log_index: int | None = None


class BillingAudit(BaseModel):
    period: str
    ok: bool
    statements: int
    lines: int
    total: str
    first_mismatch: Mismatch | None = None
    #: Metered uses of the period on no issued statement (the operator has not issued yet).
    unbilled_lines: int = 0
    findings: list[Finding] = []


class RevenueStatus(BaseModel):
    operator_id: int
    year: int
    maximum: str | None
    deduction: str
    #: The maximum less the deduction carried over from the year before.
    permitted: str | None
    revenue: str
    #: revenue / permitted, four places; None without a cap.
    share: str | None
    alert: Literal["none", "near_cap", "over_cap"]
    #: What will be deducted from next year's maximum.
    excess: str
    months: dict[str, str]


class AnnualReport(BaseModel):
    operator_id: int
    operator_name: str
    year: int
    revenue: RevenueStatus
    items: list[PriceItemPublic]
    statements: list[StatementPublic]
    free_uses: int
    paid_uses: int
    price_changes: int
    findings: list[Finding]
    sha256: str


# Shares and ratings.

ShareRuleName = Literal["shapley", "equal", "rows_scanned", "weights"]
ProductCode = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]
Period = Annotated[str, Field(pattern=MONTH_PATTERN)]
Money = Annotated[str, Field(min_length=1, max_length=32)]
Comment = Annotated[str, MULTILINE, Field(max_length=2000)]


class ShareRuleIn(Strict):
    rule: ShareRuleName
    #: For ``weights``: resource id to weight as decimal text (``"2.5"``).
    weights: dict[str, Money] = Field(default_factory=dict, max_length=1000)


class ShareRulePublic(BaseModel):
    product: str
    rule: ShareRuleName
    version: int | None
    weights: dict[str, str]
    log_index: int | None


class UseIn(Strict):
    """One billable use: an executed query and the revenue it brought (decimal text, yuan)."""

    query_id: RowId
    revenue: Money


class DistributionIn(Strict):
    period: Period
    uses: list[UseIn] = Field(min_length=1, max_length=100_000)


class ShareLinePublic(BaseModel):
    resource_id: int
    holder_id: int
    amount: str
    uses: int


class DistributionPublic(BaseModel):
    id: int
    product: str
    period: str
    rule: ShareRuleName
    rule_version: int | None
    revenue: str
    uses: int
    lines: list[ShareLinePublic]
    log_index: int | None
    created_at: datetime


class RecomputedPublic(BaseModel):
    """A distribution recomputed from its logged inputs, and whether it matches what was stored."""

    distribution_id: int
    matches: bool
    lines: list[ShareLinePublic]
    #: The first resource whose total differs from the stored one.
    first_mismatch: int | None
    #: The first use whose shares differ from the logged ones.
    first_mismatched_use: str | None


class EarningPublic(BaseModel):
    """A holder's earnings from one resource: the total and each distribution's line."""

    resource_id: int
    total: str
    distributions: list[dict[str, str | int]]


class EarningsPublic(BaseModel):
    holder_id: int
    total: str
    resources: list[EarningPublic]


RatingKind = Literal["data", "contractor"]
Score = Annotated[int, Field(ge=1, le=5)]


class DataScores(Strict):
    accuracy: Score
    completeness: Score
    timeliness: Score
    usefulness: Score


class ContractorScores(Strict):
    quality: Score
    timeliness: Score
    om_response: Score


class DataRatingIn(Strict):
    grant_id: RowId
    scores: DataScores
    comment: Comment = ""


class ContractorRatingIn(Strict):
    contract_id: RowId
    scores: ContractorScores
    comment: Comment = ""


class RatingRevisionIn(Strict):
    scores: dict[str, Score] = Field(min_length=3, max_length=4)
    comment: Comment = ""


class ReplyIn(Strict):
    text: Annotated[str, MULTILINE, Field(min_length=1, max_length=2000)]


class ReplyPublic(BaseModel):
    participant_id: int
    text: str
    log_index: int | None
    created_at: datetime


class RevisionPublic(BaseModel):
    revision: int
    scores: dict[str, int]
    comment: str
    log_index: int | None
    created_at: datetime


class RatingPublic(BaseModel):
    id: int
    kind: RatingKind
    grant_id: int | None
    contract_id: int | None
    resource_id: int | None
    rater_id: int
    rated_id: int
    revision: int
    scores: dict[str, int]
    comment: str
    log_index: int | None
    created_at: datetime
    updated_at: datetime
    history: list[RevisionPublic]
    replies: list[ReplyPublic]


class AggregatePublic(BaseModel):
    """The mean of each dimension over the current revision of every rating, with their count."""

    count: int
    overall: float | None
    dimensions: dict[str, float]
