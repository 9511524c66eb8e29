"""console sessions: a kind and a last use on api_tokens

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 20:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import datacompact.store.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("kind", sa.String(10), nullable=False, server_default="api"))
        batch.add_column(
            sa.Column("last_used_at", datacompact.store.base.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("kind")
