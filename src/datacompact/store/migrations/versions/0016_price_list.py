"""price list, statements and revenue caps

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 23:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import datacompact.store.base

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "price_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("form", sa.String(20), nullable=False),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ceiling", sa.String(24), nullable=True),
        sa.Column("price", sa.String(24), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        sa.Column("created_at", datacompact.store.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('query_service', 'extract', 'psi_service', 'derived_dataset', 'api')",
            name=op.f("ck_price_items_kind"),
        ),
        sa.CheckConstraint(
            "form IN ('product_quantity', 'service_count', 'service_time', 'call_volume')",
            name=op.f("ck_price_items_form"),
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["participants.id"],
            name=op.f("fk_price_items_operator_id_participants"),
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resources.id"], name=op.f("fk_price_items_resource_id_resources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_items")),
        sa.UniqueConstraint("operator_id", "code", name="uq_price_items_code"),
    )
    op.create_index("ix_price_items_resource", "price_items", ["resource_id", "kind"])
    op.create_table(
        "price_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ceiling", sa.String(24), nullable=True),
        sa.Column("price", sa.String(24), nullable=False),
        sa.Column("change", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("effective_at", datacompact.store.base.UTCDateTime(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["price_items.id"], name=op.f("fk_price_versions_item_id_price_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_versions")),
        sa.UniqueConstraint("item_id", "version", name="uq_price_versions"),
    )
    op.create_table(
        "statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("total", sa.String(24), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("lines_sha256", sa.String(64), nullable=False),
        sa.Column("issued_at", datacompact.store.base.UTCDateTime(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["participants.id"],
            name=op.f("fk_statements_operator_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statements")),
        sa.UniqueConstraint("operator_id", "period", name="uq_statements_period"),
    )
    op.create_table(
        "statement_lines",
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.String(24), nullable=False),
        sa.Column("unit_price", sa.String(24), nullable=False),
        sa.Column("amount", sa.String(24), nullable=False),
        sa.Column("free", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["statements.id"],
            name=op.f("fk_statement_lines_statement_id_statements"),
        ),
        sa.PrimaryKeyConstraint("statement_id", "line_no", name=op.f("pk_statement_lines")),
    )
    op.create_table(
        "revenue_caps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("maximum", sa.String(24), nullable=False),
        sa.Column("deduction", sa.String(24), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("set_at", datacompact.store.base.UTCDateTime(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["participants.id"],
            name=op.f("fk_revenue_caps_operator_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revenue_caps")),
        sa.UniqueConstraint("operator_id", "year", name="uq_revenue_caps_year"),
    )
    # The meter reads the events of one period by type.
    op.create_index("ix_events_type_seq", "events", ["type", "seq"])


def downgrade() -> None:
    op.drop_index("ix_events_type_seq", table_name="events")
    op.drop_table("revenue_caps")
    op.drop_table("statement_lines")
    op.drop_table("statements")
    op.drop_table("price_versions")
    op.drop_index("ix_price_items_resource", table_name="price_items")
    op.drop_table("price_items")
