"""Pydantic schemas of shares and ratings, kept apart from the tables.

Money travels as decimal text (``"30.00"``), never as a JSON number, so
nothing is rounded on the way in; the services parse it into ``Decimal``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from datacompact.schemas_base import MULTILINE, RowId, Strict

ShareRuleName = Literal["shapley", "equal", "rows_scanned", "weights"]
ProductCode = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]
Period = Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
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
