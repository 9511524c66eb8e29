"""application revisions and withdrawal

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 20:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import datacompact.store.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_OLD = "status IN ('pending', 'approved', 'rejected', 'changes_requested')"
_NEW = "status IN ('pending', 'approved', 'rejected', 'changes_requested', 'withdrawn')"


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_constraint(op.f("ck_applications_status"), type_="check")
        batch.create_check_constraint("status", _NEW)
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("revised_at", datacompact.store.base.UTCDateTime(), nullable=True)
        )
    op.create_table(
        "application_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("reviewers", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("submitted_at", datacompact.store.base.UTCDateTime(), nullable=False),
        sa.Column("superseded_at", datacompact.store.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_revisions_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_application_revisions_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_revisions")),
        sa.UniqueConstraint("application_id", "revision", name="uq_application_revisions_revision"),
    )


def downgrade() -> None:
    op.drop_table("application_revisions")
    op.execute("UPDATE applications SET status = 'rejected' WHERE status = 'withdrawn'")
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("revised_at")
        batch.drop_column("revision")
        batch.drop_constraint(op.f("ck_applications_status"), type_="check")
        batch.create_check_constraint("status", _OLD)
