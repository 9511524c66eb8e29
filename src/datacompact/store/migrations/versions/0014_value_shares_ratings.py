"""value: share rules, distributions and lines; ratings, their revisions and replies

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 23:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import datacompact.store.base

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _created() -> sa.Column[object]:
    return sa.Column("created_at", datacompact.store.base.UTCDateTime(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "share_rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(16), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("set_by_id", sa.Integer(), sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        _created(),
        sa.UniqueConstraint("product", "version", name="uq_share_rule_version"),
        sa.CheckConstraint(
            "rule IN ('shapley', 'equal', 'rows_scanned', 'weights')", name="share_rule"
        ),
    )
    op.create_table(
        "share_distributions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product", sa.String(100), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("rule", sa.String(16), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=True),
        sa.Column("revenue", sa.String(32), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        _created(),
        sa.UniqueConstraint("product", "period", name="uq_share_distribution"),
    )
    op.create_table(
        "share_lines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "distribution_id",
            sa.Integer(),
            sa.ForeignKey("share_distributions.id"),
            nullable=False,
        ),
        sa.Column("resource_id", sa.Integer(), sa.ForeignKey("resources.id"), nullable=False),
        sa.Column("holder_id", sa.Integer(), sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("amount", sa.String(32), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.UniqueConstraint("distribution_id", "resource_id", name="uq_share_line"),
    )
    op.create_index("ix_share_lines_holder", "share_lines", ["holder_id", "resource_id"])
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("grant_id", sa.Integer(), sa.ForeignKey("grants.id"), nullable=True),
        sa.Column("contract_id", sa.Integer(), sa.ForeignKey("contracts.id"), nullable=True),
        sa.Column("resource_id", sa.Integer(), sa.ForeignKey("resources.id"), nullable=True),
        sa.Column("rater_id", sa.Integer(), sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("rated_id", sa.Integer(), sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        _created(),
        sa.Column("updated_at", datacompact.store.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('data', 'contractor')", name="rating_kind"),
        sa.CheckConstraint(
            "(kind = 'data' AND grant_id IS NOT NULL AND contract_id IS NULL)"
            " OR (kind = 'contractor' AND contract_id IS NOT NULL AND grant_id IS NULL)",
            name="rating_subject",
        ),
        sa.UniqueConstraint("grant_id", "rater_id", name="uq_rating_grant"),
        sa.UniqueConstraint("contract_id", "rater_id", name="uq_rating_contract"),
    )
    op.create_index("ix_ratings_resource", "ratings", ["resource_id"])
    op.create_index("ix_ratings_rated", "ratings", ["rated_id", "kind"])
    op.create_table(
        "rating_revisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rating_id", sa.Integer(), sa.ForeignKey("ratings.id"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=True),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        _created(),
        sa.UniqueConstraint("rating_id", "revision", name="uq_rating_revision"),
    )
    op.create_table(
        "rating_replies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rating_id", sa.Integer(), sa.ForeignKey("ratings.id"), nullable=False),
        sa.Column("participant_id", sa.Integer(), sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        _created(),
    )
    op.create_index("ix_rating_replies_rating", "rating_replies", ["rating_id"])


def downgrade() -> None:
    op.drop_index("ix_rating_replies_rating", table_name="rating_replies")
    op.drop_table("rating_replies")
    op.drop_table("rating_revisions")
    op.drop_index("ix_ratings_rated", table_name="ratings")
    op.drop_index("ix_ratings_resource", table_name="ratings")
    op.drop_table("ratings")
    op.drop_index("ix_share_lines_holder", table_name="share_lines")
    op.drop_table("share_lines")
    op.drop_table("share_distributions")
    op.drop_table("share_rules")
