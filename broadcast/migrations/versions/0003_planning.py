"""Planning: recurrence kinds, validity windows, quiet hours, emergencies, missed occurrences.

Revision ID: 0003_planning
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broadcast.models

revision = "0003_planning"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("villages") as batch:
        batch.add_column(sa.Column("quiet_hours", sa.String(16), nullable=True))
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("weekdays", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("interval_days", sa.Integer(), nullable=False, server_default="1")
        )
        batch.add_column(sa.Column("end_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("skip_dates", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("window_seconds", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("drill", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("severity", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("event_type", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("updated_at", broadcast.models.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(
            sa.Column("missed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("drill", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("severity", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("event_type", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("cancelled_at", broadcast.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("cancelled_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        for column in ("cancelled_by", "cancelled_at", "event_type", "severity", "drill", "missed"):
            batch.drop_column(column)
    with op.batch_alter_table("schedules") as batch:
        for column in (
            "updated_at",
            "event_type",
            "severity",
            "drill",
            "window_seconds",
            "skip_dates",
            "end_date",
            "interval_days",
            "weekdays",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("villages") as batch:
        batch.drop_column("quiet_hours")
