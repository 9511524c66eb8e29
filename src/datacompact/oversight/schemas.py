"""Pydantic schemas of the supervision alerts and the public listing, kept apart from the tables.

Shares, thresholds and amounts travel as decimal text (``"0.3000"``,
``"1250000.00"``), never as JSON numbers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel


class SupplierSharePublic(BaseModel):
    #: The group (ultimate controller) measured, as a participant id.
    group_id: int
    #: The participant's name (the controller, or the group's smallest member).
    group_name: str | None = None
    value: str
    share: str


class ConcentrationPublic(BaseModel):
    scope: Literal["city", "owner", "domain"]
    key: str
    total_value: str
    hhi: str
    top1_share: str
    top3_share: str
    suppliers: list[SupplierSharePublic]
    #: The owner's name under scope ``owner``.
    key_name: str | None = None
    #: Awards in this market; one award alone does not alert unless asked.
    awards: int = 0


class ConcentrationAlert(BaseModel):
    kind: Literal["supplier_share", "hhi"]
    scope: Literal["city", "owner", "domain"]
    key: str
    group_id: int | None
    value: str
    threshold: str
    message: str
    group_name: str | None = None
    key_name: str | None = None


class LockInAlert(BaseModel):
    system: str
    group_id: int
    group_name: str | None = None
    suppliers: list[int]
    supplier_names: list[str] = []
    award_ids: list[int]
    categories: list[str]
    message: str


class ContinuityAlert(BaseModel):
    """A contract ending soon with neither a handover package nor a successor lot (三不管)."""

    contract_id: int
    lot_id: int
    system: str
    supplier_id: int
    supplier_name: str | None = None
    ends_on: date
    days_left: int
    missing_handover: list[str]
    message: str


class AlertReport(BaseModel):
    today: date
    max_share: str
    hhi_threshold: str
    horizon_days: int
    #: Whether owners and domains with a single award alert too.
    include_single: bool = False
    concentration: list[ConcentrationPublic]
    concentration_alerts: list[ConcentrationAlert]
    lock_in: list[LockInAlert]
    continuity: list[ContinuityAlert]


class PublicAward(BaseModel):
    id: int
    supplier_id: int
    supplier_name: str
    value: str
    awarded_at: datetime


class PublicContract(BaseModel):
    id: int
    value: str
    starts_on: date
    ends_on: date
    status: str


class PublicLot(BaseModel):
    id: int
    title: str
    category: str
    system: str
    budget: str
    status: str
    tender_status: str | None
    #: Known only once the bids are opened; sealed bids reveal nothing, not even their number.
    number_of_tenderers: int | None
    award: PublicAward | None
    contract: PublicContract | None


class PublicProject(BaseModel):
    id: int
    name: str
    domain: str
    owner_id: int
    owner_name: str
    budget: str
    mode: str
    lots: list[PublicLot]


class InboxParty(BaseModel):
    """A participant whose turn it is, with its public name."""

    id: int
    name: str


class InboxTurn(BaseModel):
    #: holder, operator, regulator, applicant, registration_approver or mode_approver
    party: str
    participants: list[InboxParty]


class InboxItem(BaseModel):
    """One thing that awaits the calling member: what, since when, where, and whose turn it is."""

    kind: Literal[
        "application.review", "application.amend", "participant.registration", "project.mode"
    ]
    id: int
    title: str
    #: When the object came to its current state (its latest event on the log).
    since: datetime
    #: Where to read it (an API path).
    link: str
    #: How to act on it (method and API path).
    action: str
    turn: list[InboxTurn]


class InboxPage(BaseModel):
    items: list[InboxItem]
    #: How many items await in all, of which ``items`` is one page.
    total: int
