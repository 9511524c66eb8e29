"""Tables of the price list, statements and revenue caps (``datacompact.value``).

Money is kept as decimal text in yuan with two places (``"12.50"``) so that
SQLite and PostgreSQL round-trip it exactly; the services parse it with
``Decimal``. Quantities are decimal text too (service time in hours may be
fractional). Each row that a logged decision created keeps its ``log_index``;
the log, not these rows, is what an auditor recomputes statements from.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from datacompact.clock import utcnow
from datacompact.store.base import Base, UTCDateTime


class PriceItem(Base):
    """One product or service of an operator's list (产品和服务清单)."""

    __tablename__ = "price_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    form: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id"))
    #: The current version's figures, copied from the newest PriceVersion.
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: ``None`` until the authorizing body sets one: the item is then free.
    ceiling: Mapped[str | None] = mapped_column(String(24))
    price: Mapped[str] = mapped_column(String(24))
    log_index: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("operator_id", "code", name="uq_price_items_code"),
        CheckConstraint(
            "kind IN ('query_service', 'extract', 'psi_service', 'derived_dataset', 'api')",
            name="kind",
        ),
        CheckConstraint(
            "form IN ('product_quantity', 'service_count', 'service_time', 'call_volume')",
            name="form",
        ),
        Index("ix_price_items_resource", "resource_id", "kind"),
    )


class PriceVersion(Base):
    """One published state of an item: its ceiling and price from ``effective_at`` on."""

    __tablename__ = "price_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("price_items.id"))
    version: Mapped[int] = mapped_column(Integer)
    ceiling: Mapped[str | None] = mapped_column(String(24))
    price: Mapped[str] = mapped_column(String(24))
    #: What changed: ``listed``, ``ceiling`` or ``price``.
    change: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(500), default="")
    set_by: Mapped[int | None] = mapped_column(Integer)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime())
    log_index: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("item_id", "version", name="uq_price_versions"),)


class Statement(Base):
    """An operator's monthly statement, as issued; its lines are ``StatementLine`` rows."""

    __tablename__ = "statements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    period: Mapped[str] = mapped_column(String(7))
    total: Mapped[str] = mapped_column(String(24))
    line_count: Mapped[int] = mapped_column(Integer)
    lines_sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    log_index: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("operator_id", "period", name="uq_statements_period"),)


class StatementLine(Base):
    """One metered use on a statement: what was used, under which price version, for how much."""

    __tablename__ = "statement_lines"

    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_seq: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(Integer)
    grant_id: Mapped[int | None] = mapped_column(Integer)
    item_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[str] = mapped_column(String(24))
    unit_price: Mapped[str] = mapped_column(String(24))
    amount: Mapped[str] = mapped_column(String(24))
    free: Mapped[bool] = mapped_column(Boolean, default=False)


class RevenueCap(Base):
    """The maximum permitted revenue (最高准许收入) of an operator for one year."""

    __tablename__ = "revenue_caps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    year: Mapped[int] = mapped_column(Integer)
    maximum: Mapped[str] = mapped_column(String(24))
    #: The excess revenue of the year before, deducted from ``maximum``.
    deduction: Mapped[str] = mapped_column(String(24))
    set_by: Mapped[int | None] = mapped_column(Integer)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    log_index: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("operator_id", "year", name="uq_revenue_caps_year"),)
