"""Per-village voice, speech rate and audio format; notice audio variants.

Revision ID: 0009_voices
Revises: 0008_programmes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broadcast.models

revision = "0009_voices"
down_revision = "0008_programmes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN with literal defaults: SQLite keeps the table in place.
    with op.batch_alter_table("villages") as batch:
        batch.add_column(sa.Column("voice", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("rate", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("audio_format", sa.String(length=8), nullable=False, server_default="mp3")
        )
    op.create_table(
        "notice_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("voice", sa.String(length=64), nullable=False),
        sa.Column("rate", sa.Integer(), nullable=False),
        sa.Column("audio_format", sa.String(length=8), nullable=False),
        sa.Column("audio_sha256", sa.String(length=64), nullable=False),
        sa.Column("audio_size", sa.Integer(), nullable=False),
        sa.Column("audio_duration_ms", sa.Integer(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("rendered_at", broadcast.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice_id", "voice", "rate", "audio_format", name="uq_notice_variant"),
    )
    op.create_index("ix_notice_variants_notice_id", "notice_variants", ["notice_id"])


def downgrade() -> None:
    op.drop_index("ix_notice_variants_notice_id", table_name="notice_variants")
    op.drop_table("notice_variants")
    # Plain DROP COLUMN (SQLite 3.35+), as 0005 does: a batch copy would drop the table.
    for column in ("audio_format", "rate", "voice"):
        op.drop_column("villages", column)
