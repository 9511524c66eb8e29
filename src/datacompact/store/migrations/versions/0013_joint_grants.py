"""joint grants over several resources, and resources private to their holder

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 23:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(
            sa.Column("joint", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("resources") as batch:
        batch.add_column(
            sa.Column("private", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("grant_queries") as batch:
        batch.add_column(sa.Column("inputs", sa.JSON(), nullable=True))
    op.create_table(
        "grant_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.id"], name=op.f("fk_grant_parts_grant_id_grants")
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resources.id"], name=op.f("fk_grant_parts_resource_id_resources")
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["participants.id"], name=op.f("fk_grant_parts_holder_id_participants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_parts")),
        sa.UniqueConstraint("grant_id", "resource_id", name="uq_grant_parts_resource"),
    )
    op.create_index("ix_grant_parts_holder", "grant_parts", ["holder_id"])
    op.create_index("ix_grant_parts_resource", "grant_parts", ["resource_id"])


def downgrade() -> None:
    op.drop_index("ix_grant_parts_resource", table_name="grant_parts")
    op.drop_index("ix_grant_parts_holder", table_name="grant_parts")
    op.drop_table("grant_parts")
    with op.batch_alter_table("grant_queries") as batch:
        batch.drop_column("inputs")
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("private")
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("joint")
