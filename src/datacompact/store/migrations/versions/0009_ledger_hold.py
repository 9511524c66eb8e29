"""ledger hold: appends refused after a restore behind a published checkpoint

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 14:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_head") as batch:
        batch.add_column(sa.Column("held_size", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("held_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_head") as batch:
        batch.drop_column("held_note")
        batch.drop_column("held_size")
