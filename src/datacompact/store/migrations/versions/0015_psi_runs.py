"""psi runs: private set intersections under grants

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 23:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import datacompact.store.base

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "psi_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("grant_id", sa.Integer(), sa.ForeignKey("grants.id"), nullable=False),
        sa.Column("grantee_id", sa.Integer(), sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("key_column", sa.String(128), nullable=False),
        sa.Column("key_kind", sa.String(16), nullable=False),
        sa.Column(
            "version_id", sa.Integer(), sa.ForeignKey("resource_versions.id"), nullable=False
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("declared_size", sa.Integer(), nullable=False),
        sa.Column("holder_size", sa.Integer(), nullable=False),
        sa.Column("holder_malformed", sa.Integer(), nullable=False),
        sa.Column("requester_size", sa.Integer(), nullable=True),
        sa.Column("result_size", sa.Integer(), nullable=True),
        sa.Column("context", sa.String(64), nullable=False),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("query_id", sa.Integer(), sa.ForeignKey("grant_queries.id"), nullable=True),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        sa.Column("created_at", datacompact.store.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('open', 'executed', 'failed')", name="status"),
        sa.CheckConstraint("mode IN ('cardinality', 'intersection', 'attributes')", name="mode"),
    )
    op.create_index("ix_psi_runs_grant", "psi_runs", ["grant_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_psi_runs_grant", table_name="psi_runs")
    op.drop_table("psi_runs")
