"""grants that need review after their resource changed shape

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 20:15:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_OLD = "status IN ('active', 'suspended', 'revoked')"
_NEW = "status IN ('active', 'suspended', 'revoked', 'needs_review')"


def upgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.drop_constraint(op.f("ck_grants_status"), type_="check")
        batch.create_check_constraint("status", _NEW)


def downgrade() -> None:
    # A grant under review is stopped like a suspended one; the older schema has
    # no other state that stops queries without ending the grant.
    op.execute("UPDATE grants SET status = 'suspended' WHERE status = 'needs_review'")
    with op.batch_alter_table("grants") as batch:
        batch.drop_constraint(op.f("ck_grants_status"), type_="check")
        batch.create_check_constraint("status", _OLD)
