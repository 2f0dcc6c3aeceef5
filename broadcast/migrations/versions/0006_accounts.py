"""Accounts, approval and audit: account scope (towns, villages), review status of notices and
schedules, and the hash-chained audit log.

Revision ID: 0006_accounts
Revises: 0005_speech
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broadcast.models

revision = "0006_accounts"
down_revision = "0005_speech"
branch_labels = None
depends_on = None

REVIEW_TABLES = ("notices", "schedules")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("full_name", sa.String(length=100), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("last_login_at", broadcast.models.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "user_towns",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "area_id"),
    )
    op.create_table(
        "user_villages",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["village_id"], ["villages.id"]),
        sa.PrimaryKeyConstraint("user_id", "village_id"),
    )
    # Content that exists already was in use before review existed: it stays approved.
    # Plain ADD COLUMN with literal defaults (no batch copy: SQLite's foreign keys refuse to
    # drop notices or schedules while other rows point to them).
    for table in REVIEW_TABLES:
        op.add_column(
            table,
            sa.Column("status", sa.String(length=16), nullable=False, server_default="approved"),
        )
        op.add_column(table, sa.Column("submitted_by", sa.String(length=64), nullable=True))
        op.add_column(
            table,
            sa.Column("submitted_at", broadcast.models.UTCDateTime(timezone=True), nullable=True),
        )
        op.add_column(table, sa.Column("reviewed_by", sa.String(length=64), nullable=True))
        op.add_column(
            table,
            sa.Column("reviewed_at", broadcast.models.UTCDateTime(timezone=True), nullable=True),
        )
        op.add_column(table, sa.Column("review_note", sa.String(length=500), nullable=True))
    op.add_column("notices", sa.Column("approved_sha256", sa.String(length=64), nullable=True))
    op.execute("UPDATE notices SET approved_sha256 = audio_sha256")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", broadcast.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.String(length=64), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor"])
    op.create_index("ix_audit_log_table_row", "audit_log", ["table_name", "row_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_table_row", table_name="audit_log")
    op.drop_index("ix_audit_log_actor", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_column("notices", "approved_sha256")
    for table in REVIEW_TABLES:
        for column in (
            "review_note",
            "reviewed_at",
            "reviewed_by",
            "submitted_at",
            "submitted_by",
            "status",
        ):
            op.drop_column(table, column)
    op.drop_table("user_villages")
    op.drop_table("user_towns")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_login_at")
        batch.drop_column("full_name")
