"""charged queries and stored k-anonymous releases

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import datacompact.store.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_OLD = "status IN ('executed', 'refused')"
_NEW = "status IN ('running', 'executed', 'failed', 'refused')"


def upgrade() -> None:
    with op.batch_alter_table("grant_queries") as batch:
        batch.drop_constraint(op.f("ck_grant_queries_status"), type_="check")
        batch.create_check_constraint("status", _NEW)
        batch.add_column(
            sa.Column("delta", sa.String(length=32), nullable=False, server_default="0")
        )
    op.create_table(
        "k_anonymous_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("transformation", sa.JSON(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("suppressed", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        sa.Column("created_at", datacompact.store.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.id"], name=op.f("fk_k_anonymous_releases_grant_id_grants")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["resource_versions.id"],
            name=op.f("fk_k_anonymous_releases_version_id_resource_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_k_anonymous_releases")),
        sa.UniqueConstraint("grant_id", "version_id", name="uq_k_release_version"),
    )


def downgrade() -> None:
    op.drop_table("k_anonymous_releases")
    op.execute("DELETE FROM grant_queries WHERE status IN ('running', 'failed')")
    with op.batch_alter_table("grant_queries") as batch:
        batch.drop_column("delta")
        batch.drop_constraint(op.f("ck_grant_queries_status"), type_="check")
        batch.create_check_constraint("status", _OLD)
