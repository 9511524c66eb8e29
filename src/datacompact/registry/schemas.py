"""Pydantic schemas of the registry: what the API and CLI read and write.

Layered as ``XBase → XCreate → XPublic``. Inputs forbid unknown
fields, so a typo is an error rather than a silently ignored setting. Shapes
are checked here; identifiers (USCC, region code) and cross-field rules are
checked by the services, which raise the project's own error classes.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from datacompact.permissions import Role
from datacompact.schemas_base import MULTILINE, IsoDate, RowId, Strict


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ParticipantKind(StrEnum):
    GOVERNMENT_DEPARTMENT = "government_department"
    REGULATOR = "regulator"
    ENTERPRISE = "enterprise"
    JV_PLATFORM = "jv_platform"
    THIRD_PARTY = "third_party"
    AUDITOR = "auditor"


class Ownership(StrEnum):
    STATE_OWNED = "state_owned"
    PRIVATE = "private"
    MIXED = "mixed"
    FOREIGN = "foreign"


class ThirdPartyType(StrEnum):
    RESEARCH_INSTITUTE = "research_institute"
    PROFESSIONAL_SERVICE = "professional_service"


class ParticipantStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    REVOKE = "revoke"


USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"


class ContactIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    title: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ContactPublic(Public):
    name: str
    title: str | None
    phone: str | None
    email: str | None


class ShareholderIn(Strict):
    holder_name: str = Field(min_length=1, max_length=200)
    holder_uscc: str = Field(min_length=18, max_length=18)
    stake_percent: Decimal = Field(
        gt=0, le=100, max_digits=5, decimal_places=2, description="Stake in percent, e.g. 51."
    )


class ShareholderPublic(BaseModel):
    holder_name: str
    holder_uscc: str
    holder_participant_id: int | None
    stake_percent: float


class AdminIn(Strict):
    username: str = Field(pattern=USERNAME_PATTERN)
    display_name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=12, max_length=256)


class ParticipantBase(Strict):
    kind: ParticipantKind
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    uscc: str = Field(min_length=1, max_length=40)
    region_code: str = Field(min_length=1, max_length=12)
    ownership: Ownership | None = None
    third_party_type: ThirdPartyType | None = None
    shareholders: list[ShareholderIn] = Field(default_factory=list, max_length=50)
    contacts: list[ContactIn] = Field(default_factory=list, max_length=20)


class ParticipantCreate(ParticipantBase):
    """A registration application; ``admin`` becomes the participant's first member."""

    admin: AdminIn


class ParticipantPublic(Public):
    id: int
    kind: ParticipantKind
    name: str
    name_en: str | None
    uscc: str
    region_code: str
    ownership: Ownership | None
    third_party_type: ThirdPartyType | None
    status: ParticipantStatus
    shareholders: list[ShareholderPublic]
    public_key: str | None = Field(description="Current Ed25519 verifier key of the participant.")
    created_at: datetime


class ParticipantPrivate(ParticipantPublic):
    status_reason: str | None
    contacts: list[ContactPublic]


class DecisionIn(Strict):
    decision: Decision
    reason: Annotated[str, MULTILINE] = Field(min_length=2, max_length=500)


class ContactsUpdate(Strict):
    contacts: list[ContactIn] = Field(max_length=20)


class QualificationCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    level: str = Field(min_length=1, max_length=50)
    issuer: str = Field(min_length=1, max_length=200)
    valid_from: IsoDate
    valid_until: IsoDate
    evidence_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class QualificationPublic(Public):
    id: int
    participant_id: int
    name: str
    level: str
    issuer: str
    valid_from: date
    valid_until: date
    evidence_sha256: str
    valid_today: bool


class MemberCreate(Strict):
    username: str = Field(pattern=USERNAME_PATTERN)
    display_name: str = Field(min_length=1, max_length=100)
    password: str | None = Field(default=None, min_length=12, max_length=256)
    roles: list[Role] = Field(min_length=1, max_length=5)


class MemberRolesUpdate(Strict):
    roles: list[Role] = Field(min_length=1, max_length=5)


class MemberPublic(Public):
    id: int
    participant_id: int
    username: str
    display_name: str
    roles: list[Role]
    active: bool
    created_at: datetime


class TokenCreate(Strict):
    label: str = Field(default="api", min_length=1, max_length=100)
    scopes: list[Role] | None = Field(
        default=None, description="Roles the token may exercise; all of the member's if omitted."
    )
    ttl_days: int | None = Field(default=None, ge=1, le=365)
    member_id: RowId | None = Field(default=None, description="Issue for another member (admin).")


class LoginIn(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    label: str = Field(default="login", min_length=1, max_length=100)


class TokenPublic(Public):
    id: int
    member_id: int
    label: str
    scopes: list[Role]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class TokenIssued(TokenPublic):
    token: str = Field(description="Shown once; only its hash is stored.")
