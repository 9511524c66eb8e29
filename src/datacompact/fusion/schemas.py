"""Bodies and answers of private set intersection (the two rounds of :mod:`.psi`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from datacompact.policy.schemas import QueryResult
from datacompact.schemas_base import MAX_ID, MULTILINE, Strict

PsiMode = Literal["cardinality", "intersection", "attributes"]
KeyKind = Literal["resident_id", "uscc", "phone"]
#: Base64 of 32-byte points; its length is bounded by the API's body limit of the route.
Points = Annotated[str, Field(max_length=200_000_000, pattern=r"^[A-Za-z0-9+/]*={0,2}$")]


class PsiOpenIn(Strict):
    """Round one: the grant, the mode, the holder's key column and the size of the requester's set."""

    grant_id: int = Field(ge=1, le=MAX_ID, strict=True)
    mode: PsiMode
    key_column: str = Field(min_length=1, max_length=128)
    key_kind: KeyKind
    #: How many distinct, well-formed keys the requester will send (the most it may send).
    declared_size: int = Field(ge=1, le=100_000_000, strict=True)


class PsiOpened(BaseModel):
    """The first answer: the run, its hashing context and the holder's blinded keys, shuffled."""

    run_id: int
    mode: PsiMode
    group: str
    key_kind: KeyKind
    #: Hex of the run's hashing context: the requester hashes its keys with it.
    context: str
    declared_size: int
    #: The holder's distinct well-formed keys.
    holder_size: int
    #: ``H(y)^b`` for every holder key ``y``, in a random order, base64.
    holder_points: str


class PsiExchangeIn(Strict):
    """Round two: the holder's points raised to the requester's scalar, and the requester's own."""

    run_id: int = Field(ge=1, le=MAX_ID, strict=True)
    #: ``(H(y)^b)^a`` for every point of the first answer, in its order, base64.
    holder_points: Points
    #: ``H(x)^a`` for every requester key ``x``, in an order of the requester's choosing, base64.
    requester_points: Points
    #: The governed SQL over the holder's matched rows (mode ``attributes`` only).
    sql: Annotated[str, MULTILINE] | None = Field(default=None, min_length=1, max_length=20_000)


class PsiResult(BaseModel):
    """What the requester learns from a run, by mode (``docs/fusion.md``)."""

    run_id: int
    mode: PsiMode
    requester_size: int
    holder_size: int
    #: The size of the intersection; None when a threshold withholds it.
    result_size: int | None
    #: True when the grant's entity threshold withheld a cardinality below it.
    withheld: bool = False
    #: Mode ``intersection``: positions, in the requester's order, of its points that matched.
    matches: list[int] | None = None
    #: Mode ``attributes``: the governed query's answer over the matched rows.
    query: QueryResult | None = None


class PsiRunPublic(BaseModel):
    """A run as its grant's parties see it: counts, never keys."""

    id: int
    grant_id: int
    mode: PsiMode
    key_column: str
    key_kind: KeyKind
    status: str
    declared_size: int
    holder_size: int
    holder_malformed: int
    requester_size: int | None
    query_id: int | None
    log_index: int | None
