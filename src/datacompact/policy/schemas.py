"""Pydantic schemas of applications and grants, kept apart from the tables."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from datacompact.schemas_base import MAX_ID, MULTILINE, Strict


class OutputIn(Strict):
    mode: str = Field(pattern="^(records|masked_records|k_anonymous|aggregates|dp_aggregates)$")
    min_group_size: int | None = Field(default=None, ge=1, le=1_000_000)
    k: int | None = Field(default=None, ge=2, le=1_000_000)


class ResourceRequest(Strict):
    resource_id: int = Field(ge=1, le=MAX_ID)
    columns: list[str] = Field(min_length=1, max_length=500)
    #: This resource's own output, when it differs from the application's (a
    #: joint scenario joining the applicant's own data with a holder's).
    output: OutputIn | None = None
    #: Requested columns that a private set intersection may match on.
    psi_keys: list[str] = Field(default_factory=list, max_length=8)


Scenario = Annotated[str, MULTILINE, Field(min_length=4, max_length=4000)]
PurposeName = Annotated[str, Field(min_length=1, max_length=50)]
PurposeText = Annotated[str, MULTILINE, Field(max_length=2000)]
Requests = Annotated[list[ResourceRequest], Field(min_length=1, max_length=10)]
DurationDays = Annotated[int, Field(ge=1, le=365)]
ExpectedQueries = Annotated[int, Field(ge=1, le=1_000_000)]
Epsilon = Annotated[float, Field(gt=0, le=100)]
Reason = Annotated[str, MULTILINE, Field(min_length=2, max_length=1000)]


class ApplicationCreate(Strict):
    """One scenario, one application: what, why, how it leaves, for how long, how often."""

    scenario: Scenario
    purpose: PurposeName
    purpose_text: PurposeText = ""
    resources: Requests
    output: OutputIn
    duration_days: DurationDays
    expected_queries: ExpectedQueries
    epsilon: Epsilon | None = None
    #: One joint grant over every resource (a multi-holder scenario whose
    #: queries may join them) instead of one grant per resource.
    joint: bool = False


class ApplicationAmend(Strict):
    """A new revision in answer to a request for changes: what changes, and a note saying why.

    A field left out keeps its value from the revision before; ``resources``
    and ``output`` are replaced as a whole when given.
    """

    note: Reason
    scenario: Scenario | None = None
    purpose: PurposeName | None = None
    purpose_text: PurposeText | None = None
    resources: Requests | None = None
    output: OutputIn | None = None
    duration_days: DurationDays | None = None
    expected_queries: ExpectedQueries | None = None
    epsilon: Epsilon | None = None
    joint: bool | None = None


class WithdrawIn(Strict):
    reason: Reason


class ReviewIn(Strict):
    decision: str = Field(pattern="^(approve|reject|request_changes)$")
    reason: Reason


class GrantStatusIn(Strict):
    decision: str = Field(pattern="^(suspend|reinstate|revoke)$")
    reason: Annotated[str, MULTILINE] = Field(min_length=2, max_length=500)


class Turn(BaseModel):
    """One party whose turn it is to act on an application, and who may act for it."""

    party: str = Field(description="holder, operator, regulator, or applicant (to amend)")
    participants: list[int]


class ApplicationPublic(BaseModel):
    id: int
    applicant_id: int
    applicant_name: str | None = None
    scenario: str
    purpose: str
    purpose_text: str
    requests: list[dict[str, Any]]
    output: dict[str, Any]
    duration_days: int
    expected_queries: int
    epsilon: float | None
    #: Whether the application asks for one joint grant over all its resources.
    joint: bool = False
    reviewers: list[dict[str, Any]]
    status: str
    #: The current revision (1 as submitted); the earlier ones are kept.
    revision: int
    #: Whose turn it is now, in the order the governance mode sets; empty once decided.
    awaiting: list[Turn]
    grants: list[int]
    created_at: datetime
    #: When the current revision was filed (``created_at`` for the first).
    revised_at: datetime


class ApplicationRevisionPublic(BaseModel):
    """An earlier revision: what it asked for, the decisions on it, and when it was replaced."""

    revision: int
    member_id: int
    content: dict[str, Any]
    reviewers: list[dict[str, Any]]
    status: str
    submitted_at: datetime
    superseded_at: datetime


class GrantPartPublic(BaseModel):
    """One resource of a joint grant: its table in governed SQL and its holder."""

    resource_id: int
    resource_name: str
    holder_id: int
    holder_name: str | None = None
    table: str
    output_mode: str
    column_constraints: dict[str, str]


class GrantPublic(BaseModel):
    id: int
    application_id: int
    resource_id: int
    holder_id: int
    grantee_id: int
    #: ``active``, ``suspended``, ``revoked``, or ``needs_review`` when a new
    #: version of the resource removed or retyped granted columns.
    status: str
    status_reason: str | None
    expires_at: datetime
    resource_name: str | None = None
    holder_name: str | None = None
    grantee_name: str | None = None
    max_queries: int
    queries_used: int
    epsilon_spent: float
    #: The name of the granted resource in governed SQL (``SELECT ... FROM <table>``).
    table: str
    #: What each granted column may flow into in a query: the
    #: stricter of the agreement's constraint and the derivation on the
    #: resource as it is now (``plain``, ``group_by_only``, ``join_only``...).
    column_constraints: dict[str, str]
    #: The ε one DP query may spend, ``{"min": ..., "max": ...}``; None without a budget.
    epsilon_per_query: dict[str, float] | None
    agreement: dict[str, Any]
    created_at: datetime
    #: Every resource of a joint grant (the first is ``resource_id``); empty otherwise.
    parts: list[GrantPartPublic] = []


class QueryIn(Strict):
    """A governed query under one grant (DuckDB SQL, one SELECT)."""

    # Strict: "1" is not a grant id and "0.5" is not an ε (JSON numbers only).
    grant_id: int = Field(ge=1, le=MAX_ID, strict=True)
    sql: Annotated[str, MULTILINE] = Field(min_length=1, max_length=20_000)
    #: ε to spend on a DP query, within the grant's per-query range; by
    #: default the grant's share per query. Refused on other grants.
    epsilon: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False, strict=True)


class QueryPublic(BaseModel):
    """A query's record: what its receipt on the log describes."""

    id: int
    grant_id: int
    status: str
    rule: str | None
    engine: str
    sql_sha256: str
    columns: dict[str, list[str]]
    rows_scanned: int
    result_rows: int
    result_sha256: str | None
    epsilon: float
    #: The δ of a DP release (its noisy choice of groups); 0 otherwise.
    delta: float = 0.0
    log_index: int | None
    created_at: datetime
    #: Under a joint grant: each input resource and the version the query read.
    inputs: list[dict[str, Any]] | None = None


class ResultProtection(BaseModel):
    """How a governed result was protected, stated from the plan alone (never from a row).

    ``groups_suppressed`` is ``None`` where it is withheld: under ``aggregates``
    and grouped ``dp_aggregates`` the number of groups below the threshold,
    even as a yes/no, can reveal one record (``docs/sandbox.md``).
    """

    mode: str
    #: ``none``, ``group_threshold`` (aggregates: fewer than k entities),
    #: ``noisy_threshold`` (DP partition selection) or ``k_anonymous_release``.
    suppression: str
    #: k under ``aggregates``, τ of the noisy selection under ``dp_aggregates``.
    suppression_threshold: int | None
    groups_suppressed: int | None
    noise_added: bool
    epsilon: float | None
    delta: float | None
    #: Values coarsened: a k-anonymous release, or dates truncated by a mask.
    generalized: bool
    #: Values pseudonymized, partially masked, truncated or redacted.
    masked: bool
    #: The same in words (zh-CN / English), for people.
    note: str


class QueryResult(BaseModel):
    """The answer to a governed query, with its record and what is left of the grant.

    ``rows`` is the first page; ``next_page_token`` (``GET /queries/{id}/rows``)
    reads the next one from the stored result, without running or charging the
    query again. ``truncated`` says the engine cut the result at ``row_limit``.
    """

    query: QueryPublic
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    truncated: bool
    queries_left: int
    epsilon_left: float | None
    #: Rows of the whole stored result (at most ``row_limit``).
    total_rows: int = 0
    #: The most rows a query returns; past it the result is cut and ``truncated``.
    row_limit: int = 0
    next_page_token: str | None = None
    protection: ResultProtection | None = None


class ResultPage(BaseModel):
    """One page of a stored governed result."""

    query_id: int
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    offset: int
    total_rows: int
    truncated: bool
    next_page_token: str | None
    protection: ResultProtection | None = None


class OverlapPublic(BaseModel):
    """Two queries of one grantee that look like a differencing attack (no data values)."""

    first_query_id: int
    second_query_id: int
    grant_ids: list[int]
    grantee_id: int
    grantee_name: str | None = None
    kind: str
    similarity: float
    columns: list[str]
    reason: str
