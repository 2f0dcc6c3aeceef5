"""Places: counties and towns, villager groups, zones, loudspeaker locations, schedule targets.

Revision ID: 0004_places
Revises: 0003_planning
Create Date: 2026-11-22 03:18:28.118193
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broadcast.models

revision = "0004_places"
down_revision = "0003_planning"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", broadcast.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["areas.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_areas_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "zones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", broadcast.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "schedule_zones",
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["schedule_id"], ["schedules.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["zone_id"],
            ["zones.id"],
        ),
        sa.PrimaryKeyConstraint("schedule_id", "zone_id"),
    )
    op.create_table(
        "villager_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=15), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", broadcast.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["village_id"],
            ["villages.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("village_id", "name", name="uq_group_village_name"),
    )
    with op.batch_alter_table("villager_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_villager_groups_village_id"), ["village_id"], unique=False
        )

    op.create_table(
        "zone_villages",
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["village_id"],
            ["villages.id"],
        ),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("zone_id", "village_id"),
    )
    op.create_table(
        "schedule_groups",
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["villager_groups.id"],
        ),
        sa.ForeignKeyConstraint(["schedule_id"], ["schedules.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("schedule_id", "group_id"),
    )
    op.create_table(
        "schedule_speakers",
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("speaker_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["schedule_id"], ["schedules.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["speaker_id"],
            ["loudspeakers.id"],
        ),
        sa.PrimaryKeyConstraint("schedule_id", "speaker_id"),
    )
    with op.batch_alter_table("loudspeakers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("location", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f("ix_loudspeakers_group_id"), ["group_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_loudspeakers_group_id", "villager_groups", ["group_id"], ["id"]
        )

    with op.batch_alter_table("villages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("town_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_villages_town_id"), ["town_id"], unique=False)
        batch_op.create_foreign_key("fk_villages_town_id", "areas", ["town_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("villages", schema=None) as batch_op:
        batch_op.drop_constraint("fk_villages_town_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_villages_town_id"))
        batch_op.drop_column("town_id")

    with op.batch_alter_table("loudspeakers", schema=None) as batch_op:
        batch_op.drop_constraint("fk_loudspeakers_group_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_loudspeakers_group_id"))
        batch_op.drop_column("longitude")
        batch_op.drop_column("latitude")
        batch_op.drop_column("location")
        batch_op.drop_column("group_id")

    op.drop_table("schedule_speakers")
    op.drop_table("schedule_groups")
    op.drop_table("zone_villages")
    with op.batch_alter_table("villager_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_villager_groups_village_id"))

    op.drop_table("villager_groups")
    op.drop_table("schedule_zones")
    op.drop_table("zones")
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_areas_parent_id"))

    op.drop_table("areas")
