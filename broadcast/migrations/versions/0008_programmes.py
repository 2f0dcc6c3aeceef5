"""Programmes (playlists) and their items; volume ceilings per village and time band.

Revision ID: 0008_programmes
Revises: 0007_asrun
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broadcast.models

revision = "0008_programmes"
down_revision = "0007_asrun"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "programmes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", broadcast.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", broadcast.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("notice_id"),
    )
    op.create_table(
        "programme_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["programme_id"], ["programmes.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("programme_id", "position", name="uq_programme_position"),
    )
    op.create_index("ix_programme_items_programme_id", "programme_items", ["programme_id"])
    op.create_index("ix_programme_items_notice_id", "programme_items", ["notice_id"])
    op.create_table(
        "volume_ceilings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.String(length=5), nullable=False),
        sa.Column("end", sa.String(length=5), nullable=False),
        sa.Column("max_volume", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["village_id"], ["villages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_volume_ceilings_village_id", "volume_ceilings", ["village_id"])


def downgrade() -> None:
    op.drop_index("ix_volume_ceilings_village_id", table_name="volume_ceilings")
    op.drop_table("volume_ceilings")
    op.drop_index("ix_programme_items_notice_id", table_name="programme_items")
    op.drop_index("ix_programme_items_programme_id", table_name="programme_items")
    op.drop_table("programme_items")
    op.drop_table("programmes")
