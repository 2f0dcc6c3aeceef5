"""Speech: the pronunciation lexicon; recordings and per-notice sound options on notices.

Revision ID: 0005_speech
Revises: 0004_places
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broadcast.models

revision = "0005_speech"
down_revision = "0004_places"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lexicon_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("term", sa.String(length=50), nullable=False),
        sa.Column("replacement", sa.String(length=100), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", broadcast.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", broadcast.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("term"),
    )
    # Existing notices are text read once, with a chime: what the renderer made before.
    with op.batch_alter_table("notices") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="text")
        )
        batch.add_column(sa.Column("source_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("source_filename", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("voice", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("rate", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("repeat", sa.Integer(), nullable=False, server_default="1"))
        # A literal default ("1" is true on both backends) keeps SQLite's ADD COLUMN in place:
        # an expression default would make batch mode copy the table, and dropping the old
        # one fails on SQLite's foreign keys once schedules point to notices.
        batch.add_column(sa.Column("chime", sa.Boolean(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("closing", sa.String(length=100), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("audio_key", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("rendered_at", broadcast.models.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE notices SET rendered_at = created_at")


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of notices would have to drop the table,
    # which SQLite's foreign keys refuse while schedules and broadcasts point to it.
    for column in (
        "rendered_at",
        "audio_key",
        "closing",
        "chime",
        "repeat",
        "rate",
        "voice",
        "source_filename",
        "source_sha256",
        "kind",
    ):
        op.drop_column("notices", column)
    op.drop_table("lexicon_entries")
