"""Pydantic bodies and views of prices, statements and revenue, kept apart from the tables.

Money and quantities travel as decimal text (``"12.50"``, ``"0.0025"``),
never as JSON numbers: :mod:`datacompact.value.money` parses them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from datacompact.schemas_base import MAX_ID, Strict

ItemKind = Literal["query_service", "extract", "psi_service", "derived_dataset", "api"]
ChargingForm = Literal["product_quantity", "service_count", "service_time", "call_volume"]
Unit = Literal[
    "copy", "service", "hour", "minute", "call", "thousand_calls", "row", "thousand_rows"
]
PurposeClass = Literal["public_interest", "commercial"]
#: A month in China Standard Time, ``YYYY-MM``.
PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"

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
