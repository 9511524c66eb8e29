"""SQLAlchemy tables of the foundation: participants, members, tokens, events.

Tables only. The Pydantic schemas that the API reads and writes live beside
each domain (``registry/schemas.py``), never here.
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
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from datacompact.clock import utcnow
from datacompact.store.base import Base, UTCDateTime


class Participant(Base):
    """An organization on the platform: department, regulator, enterprise, JV, third party, auditor."""

    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    region_code: Mapped[str] = mapped_column(String(6))
    ownership: Mapped[str | None] = mapped_column(String(16))
    third_party_type: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    contacts: Mapped[list[Contact]] = relationship(
        back_populates="participant", cascade="all, delete-orphan", order_by="Contact.id"
    )
    shareholders: Mapped[list[Shareholder]] = relationship(
        back_populates="participant",
        cascade="all, delete-orphan",
        order_by="Shareholder.id",
        foreign_keys="Shareholder.participant_id",
    )
    qualifications: Mapped[list[Qualification]] = relationship(
        back_populates="participant", cascade="all, delete-orphan", order_by="Qualification.id"
    )
    keys: Mapped[list[ParticipantKey]] = relationship(
        back_populates="participant", cascade="all, delete-orphan", order_by="ParticipantKey.id"
    )

    __table_args__ = (
        CheckConstraint(
            "kind IN ('government_department', 'regulator', 'enterprise', 'jv_platform', "
            "'third_party', 'auditor')",
            name="kind",
        ),
        CheckConstraint(
            "status IN ('pending', 'approved', 'suspended', 'revoked', 'rejected')", name="status"
        ),
        Index("ix_participants_kind_status", "kind", "status"),
    )


class Contact(Base):
    """A contact person of a participant. Private to that participant."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))

    participant: Mapped[Participant] = relationship(back_populates="contacts")


class Shareholder(Base):
    """A shareholder of a JV platform company, with its stake in basis points (51% = 5100)."""

    __tablename__ = "shareholders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    holder_name: Mapped[str] = mapped_column(String(200))
    holder_uscc: Mapped[str] = mapped_column(String(18))
    holder_participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL")
    )
    stake_bp: Mapped[int] = mapped_column(Integer)

    participant: Mapped[Participant] = relationship(
        back_populates="shareholders", foreign_keys=[participant_id]
    )

    __table_args__ = (CheckConstraint("stake_bp > 0 AND stake_bp <= 10000", name="stake_bp"),)


class Qualification(Base):
    """A qualification (资质) with its level, issuer, validity and the hash of its evidence."""

    __tablename__ = "qualifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(50))
    issuer: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    evidence_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    participant: Mapped[Participant] = relationship(back_populates="qualifications")

    __table_args__ = (CheckConstraint("valid_until >= valid_from", name="validity"),)


class ParticipantKey(Base):
    """An Ed25519 signing key of a participant; the seed is AES-GCM-encrypted under the platform secret."""

    __tablename__ = "participant_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    encrypted_seed: Mapped[bytes] = mapped_column(LargeBinary(64))
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    participant: Mapped[Participant] = relationship(back_populates="keys")


class Member(Base):
    """A person acting for one participant, with roles and an argon2 password hash."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    participant: Mapped[Participant] = relationship()


class ApiToken(Base):
    """An API token or a console session, stored only as the SHA-256 of its value."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "api" for bearer tokens, "session" for the web console's sign-in
    # sessions; neither is accepted where the other is expected.
    kind: Mapped[str] = mapped_column(String(10), default="api", server_default="api")
    # When a session was last used, for its idle expiry (bearer tokens: never set).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    member: Mapped[Member] = relationship()


class Event(Base):
    """One platform event; ``seq`` is its index in the transparency log.

    ``entry`` is the canonical encoding that the log hashes. It carries only a
    salted commitment to the payload; the payload and its salt stay here, so a
    holder of both can prove what the entry committed to, while nobody can
    test guesses of personal data against the public log.
    """

    __tablename__ = "events"

    # INTEGER (not BIGINT) on SQLite makes ``seq`` the rowid: one b-tree fewer per append.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    type: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    actor_participant_id: Mapped[int | None] = mapped_column(Integer)
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    entry: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        Index("ix_events_object", "object_type", "object_id"),
        Index("ix_events_actor_participant", "actor_participant_id"),
        Index("ix_events_type_seq", "type", "seq"),
    )


class LedgerHead(Base):
    """The single row that serializes appends: locked, read, advanced, committed.

    ``edge`` holds the hashes of the tree's right edge (one complete subtree per
    set bit of ``size``, largest first, concatenated), so an append reads one
    locked row instead of O(log n) nodes.
    """

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    edge: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: Set after a restore behind a published checkpoint: that checkpoint's size
    #: and signed note. While set, appends are refused (``ledger.log.recovery``).
    held_size: Mapped[int | None] = mapped_column(BigInteger)
    held_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class LedgerNode(Base):
    """The hash of a complete subtree (RFC 9162 §2.1.1): level 0 holds the leaf hashes.

    A node at ``(level, idx)`` covers leaves ``[idx << level, (idx + 1) << level)``;
    C2SP tiles at tile level L are the nodes of tree level 8·L.
    """

    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    # On SQLite the primary key is the table itself, not a second b-tree beside a rowid.
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - read once by SQLAlchemy


class Checkpoint(Base):
    """A checkpoint the log signed, with the witness cosignatures gathered so far."""

    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, unique=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    cosigners: Mapped[list[str]] = mapped_column(JSON, default=list)
    witnessed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WitnessProgress(Base):
    """The last checkpoint size each witness cosigned, so the log sends the right proof."""

    __tablename__ = "ledger_witness_progress"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)


class Resource(Base):
    """A registered data resource (数据资源) of one holder, with its grade and catalog facts.

    ``grade`` is ``core``, ``important`` or ``general-1`` … ``general-4``
    (GB/T 43697-2024; ``catalog.grading``).
    """

    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    source_system: Mapped[str | None] = mapped_column(String(200))
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    update_frequency: Mapped[str] = mapped_column(String(16))
    share_type: Mapped[str] = mapped_column(String(16))
    open_type: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(16))
    grade: Mapped[str | None] = mapped_column(String(16))
    personal: Mapped[bool] = mapped_column(Boolean, default=False)
    sensitive_personal: Mapped[bool] = mapped_column(Boolean, default=False)
    sensitive_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Private to its holder (an applicant's own data): only the holder and the
    #: sandbox see it; never in the public catalog, never granted to others.
    private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    grade_status: Mapped[str] = mapped_column(String(16), default="proposed")
    grade_reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    search_terms: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    holder: Mapped[Participant] = relationship()
    versions: Mapped[list[ResourceVersion]] = relationship(
        back_populates="resource", order_by="ResourceVersion.number"
    )

    __table_args__ = (
        CheckConstraint(
            "share_type IN ('unconditional', 'conditional', 'not_shared')", name="share_type"
        ),
        CheckConstraint("open_type IN ('open', 'conditional_open', 'not_open')", name="open_type"),
        CheckConstraint(
            "grade IS NULL OR grade IN ('core', 'important', 'general-1', 'general-2', "
            "'general-3', 'general-4')",
            name="grade",
        ),
        CheckConstraint(
            "grade_status IN ('proposed', 'confirmed', 'overridden')", name="grade_status"
        ),
        Index("ix_resources_holder", "holder_id"),
    )


class ResourceVersion(Base):
    """One immutable ingestion of a resource: its Parquet file and what was measured on it."""

    __tablename__ = "resource_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    number: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(500))
    rows: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    source_sha256: Mapped[str] = mapped_column(String(64))
    source_format: Mapped[str] = mapped_column(String(16))
    source_encoding: Mapped[str | None] = mapped_column(String(32))
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    quality: Mapped[dict[str, Any]] = mapped_column(JSON)
    pii: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    lineage: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    resource: Mapped[Resource] = relationship(back_populates="versions")

    __table_args__ = (
        UniqueConstraint("resource_id", "number", name="uq_resource_versions_number"),
    )


class DataStandard(Base):
    """A data standard registered on the platform (beside the built-in GB/T ones).

    ``elements`` holds the data elements as validated by ``catalog.standards``.
    """

    __tablename__ = "data_standards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    elements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Application(Base):
    """One scenario, one application (一场景一申请): a data user's request to use resources."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    scenario: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(50))
    purpose_text: Mapped[str] = mapped_column(Text, default="")
    requests: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    output: Mapped[dict[str, Any]] = mapped_column(JSON)
    duration_days: Mapped[int] = mapped_column(Integer)
    expected_queries: Mapped[int] = mapped_column(Integer)
    epsilon: Mapped[str | None] = mapped_column(String(32))
    reviewers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(24), default="pending")
    #: The current revision: 1 as submitted, one more with each amendment.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: When the current revision was filed (None: the first, filed at ``created_at``).
    revised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: One joint grant over every requested resource (a multi-holder scenario)
    #: instead of one grant per resource.
    joint: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    earlier: Mapped[list[ApplicationRevision]] = relationship(
        order_by="ApplicationRevision.revision", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'changes_requested', 'withdrawn')",
            name="status",
        ),
        Index("ix_applications_applicant", "applicant_id"),
    )


class ApplicationRevision(Base):
    """An earlier revision of an application, kept as it stood when it was amended.

    ``content`` holds what the revision asked for (scenario, purpose,
    resources and columns, output, duration, queries, ε), ``reviewers`` the
    decisions taken on it, ``status`` how its review ended (``changes_requested``).
    """

    __tablename__ = "application_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    revision: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    reviewers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(24))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    superseded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("application_id", "revision", name="uq_application_revisions_revision"),
    )


class Grant(Base):
    """An approved use of one resource: its ODRL agreement and the usage counted against it."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    holder_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    grantee_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    agreement: Mapped[dict[str, Any]] = mapped_column(JSON)
    # needs_review: a new version of the resource removed or retyped a granted
    # column; queries stop until the holder reinstates or revokes it.
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(String(500))
    # Who suspended it (the holder, for a review): only that party may reinstate it.
    status_by: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    max_queries: Mapped[int] = mapped_column(Integer)
    queries_used: Mapped[int] = mapped_column(Integer, default=0)
    epsilon_spent: Mapped[str] = mapped_column(String(32), default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    resource: Mapped[Resource] = relationship()
    #: The parts of a joint grant, one per resource in application order (the
    #: first is ``resource_id``); empty for a grant on one resource.
    parts: Mapped[list[GrantPart]] = relationship(
        order_by="GrantPart.position", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        CheckConstraint(
            "status IN ('active', 'suspended', 'revoked', 'needs_review')", name="status"
        ),
        Index("ix_grants_grantee", "grantee_id"),
        Index("ix_grants_holder", "holder_id"),
    )


class GrantPart(Base):
    """One resource of a joint grant and the holder who approved its use.

    The grant's status is the whole grant's: any part's holder suspending or
    revoking it stops every query under it.
    """

    __tablename__ = "grant_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"))
    position: Mapped[int] = mapped_column(Integer)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    holder_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))

    resource: Mapped[Resource] = relationship()

    __table_args__ = (
        UniqueConstraint("grant_id", "resource_id", name="uq_grant_parts_resource"),
        Index("ix_grant_parts_holder", "holder_id"),
        Index("ix_grant_parts_resource", "resource_id"),
    )


class GrantQuery(Base):
    """One governed query under a grant: what its receipt describes.

    A query that passed analysis is charged first (``running``: the count and
    its ε are already taken from the grant), then ends ``executed`` or
    ``failed``; both keep the charge. A query refused at analysis is
    ``refused`` and charged nothing. The SQL text stays on the platform (the
    regulator's overlap audit reads it); the log carries only its hash.
    """

    __tablename__ = "grant_queries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"))
    grantee_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    sql: Mapped[str] = mapped_column(Text)
    sql_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str | None] = mapped_column(String(64))
    engine: Mapped[str] = mapped_column(String(16))
    columns: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    #: Under a joint grant: every input resource and the version the query read
    #: (``resource_id``, ``code``, ``version``, ``table``); None otherwise.
    inputs: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    rows_scanned: Mapped[int] = mapped_column(BigInteger, default=0)
    result_rows: Mapped[int] = mapped_column(Integer, default=0)
    result_sha256: Mapped[str | None] = mapped_column(String(64))
    epsilon: Mapped[str] = mapped_column(String(32), default="0")
    #: The δ of a DP release (0 for pure ε-DP and for other modes).
    delta: Mapped[str] = mapped_column(String(32), default="0")
    #: The index of the query's log entry (its receipt).
    log_index: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        CheckConstraint("status IN ('running', 'executed', 'failed', 'refused')", name="status"),
        Index("ix_grant_queries_grant", "grant_id", "id"),
        Index("ix_grant_queries_grantee", "grantee_id", "id"),
    )


class KAnonymousRelease(Base):
    """The one k-anonymous release of a grant on one version of its resource.

    Computed once over the whole granted slice and stored as Parquet under the
    platform home; every query of the grant on that version reads this
    release only, so no query can trigger another generalization or
    suppression (two releases that differ by one record could be differenced).
    """

    __tablename__ = "k_anonymous_releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("resource_versions.id"))
    #: The Parquet file, relative to the platform home.
    path: Mapped[str] = mapped_column(String(500))
    k: Mapped[int] = mapped_column(Integer)
    #: The released columns and the generalization level of each (the transformation).
    transformation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    suppressed: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    log_index: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("grant_id", "version_id", name="uq_k_release_version"),)


# The cooperation-project tables share the metadata (imported for Alembic and the services).
class PsiRun(Base):
    """One private set intersection under a grant: a grant use, with its receipt.

    ``open`` after the first round (charged: the grant's count is taken),
    then ``executed`` or ``failed``; both keep the charge. The run's secret
    scalar and shuffle seed are sealed under the platform secret (``state``)
    and erased when the run ends, so a replayed round finds nothing to
    compute with. Sizes are counts; no key and no point is stored.
    """

    __tablename__ = "psi_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"))
    grantee_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    mode: Mapped[str] = mapped_column(String(16))
    key_column: Mapped[str] = mapped_column(String(128))
    key_kind: Mapped[str] = mapped_column(String(16))
    version_id: Mapped[int] = mapped_column(ForeignKey("resource_versions.id"))
    status: Mapped[str] = mapped_column(String(16))
    declared_size: Mapped[int] = mapped_column(Integer)
    holder_size: Mapped[int] = mapped_column(Integer, default=0)
    holder_malformed: Mapped[int] = mapped_column(Integer, default=0)
    requester_size: Mapped[int | None] = mapped_column(Integer)
    result_size: Mapped[int | None] = mapped_column(Integer)
    #: The hashing context of the run (public: the requester hashes with it).
    context: Mapped[str] = mapped_column(String(64))
    #: The sealed secret scalar and shuffle seed; None once the run ended.
    state: Mapped[str | None] = mapped_column(Text)
    #: The governed query that released attributes (mode ``attributes``).
    query_id: Mapped[int | None] = mapped_column(ForeignKey("grant_queries.id"))
    log_index: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        CheckConstraint("status IN ('open', 'executed', 'failed')", name="status"),
        CheckConstraint("mode IN ('cardinality', 'intersection', 'attributes')", name="mode"),
        Index("ix_psi_runs_grant", "grant_id", "id"),
    )


from datacompact.store import project_models as project_models  # noqa: E402


class ShareRuleVersion(Base):
    """How a product's revenue is shared among holders: one version of its rule.

    The rule in force is the product's latest version; earlier ones stay, so a
    past distribution can be recomputed under the rule it used.
    """

    __tablename__ = "share_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(16))
    #: For rule ``weights``: resource id (as text) to weight (decimal text).
    weights: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    set_by_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    log_index: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("product", "version", name="uq_share_rule_version"),
        CheckConstraint(
            "rule IN ('shapley', 'equal', 'rows_scanned', 'weights')", name="share_rule"
        ),
    )


class ShareDistribution(Base):
    """A product's revenue for one period, split among the resources its uses touched."""

    __tablename__ = "share_distributions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(7))
    rule: Mapped[str] = mapped_column(String(16))
    #: The version of the product's share rule, None when the default applied.
    rule_version: Mapped[int | None] = mapped_column(Integer)
    revenue: Mapped[str] = mapped_column(String(32))
    uses: Mapped[int] = mapped_column(Integer)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    log_index: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    lines: Mapped[list[ShareLine]] = relationship(order_by="ShareLine.resource_id")

    __table_args__ = (UniqueConstraint("product", "period", name="uq_share_distribution"),)


class ShareLine(Base):
    """One resource's share of a distribution: the sum of its shares of the uses, to the fen."""

    __tablename__ = "share_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    distribution_id: Mapped[int] = mapped_column(ForeignKey("share_distributions.id"))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    holder_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    amount: Mapped[str] = mapped_column(String(32))
    uses: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("distribution_id", "resource_id", name="uq_share_line"),
        Index("ix_share_lines_holder", "holder_id", "resource_id"),
    )


class Rating(Base):
    """A market rating: a user's of the data of a grant, or an owner's of a contractor.

    One per rater and grant or contract. The row holds the current revision;
    every revision, the first included, is kept in ``rating_revisions``.
    """

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ``data`` (of a grant's resource) or ``contractor`` (of a contract's supplier).
    kind: Mapped[str] = mapped_column(String(16))
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"))
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"))
    #: The resource rated (kind ``data``).
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id"))
    rater_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    rated_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    scores: Mapped[dict[str, int]] = mapped_column(JSON)
    comment: Mapped[str] = mapped_column(Text, default="")
    log_index: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        CheckConstraint("kind IN ('data', 'contractor')", name="rating_kind"),
        CheckConstraint(
            "(kind = 'data' AND grant_id IS NOT NULL AND contract_id IS NULL)"
            " OR (kind = 'contractor' AND contract_id IS NOT NULL AND grant_id IS NULL)",
            name="rating_subject",
        ),
        UniqueConstraint("grant_id", "rater_id", name="uq_rating_grant"),
        UniqueConstraint("contract_id", "rater_id", name="uq_rating_contract"),
        Index("ix_ratings_resource", "resource_id"),
        Index("ix_ratings_rated", "rated_id", "kind"),
    )


class RatingRevision(Base):
    """One revision of a rating, as it was logged: the history a revision never erases."""

    __tablename__ = "rating_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"))
    revision: Mapped[int] = mapped_column(Integer)
    scores: Mapped[dict[str, int]] = mapped_column(JSON)
    comment: Mapped[str] = mapped_column(Text, default="")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    log_index: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("rating_id", "revision", name="uq_rating_revision"),)


class RatingReply(Base):
    """The rated party's answer to a rating; each answer is logged and kept."""

    __tablename__ = "rating_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    text: Mapped[str] = mapped_column(Text)
    log_index: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_rating_replies_rating", "rating_id"),)


from datacompact.store import value_models as value_models  # noqa: E402
