"""As-run log: receipt times, reasons and play counts on commands; loudspeaker status history.

Revision ID: 0007_asrun
Revises: 0006_accounts
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import broadcast.models

revision = "0007_asrun"
down_revision = "0006_accounts"
branch_labels = None
depends_on = None

TERMINAL = ("rejected", "finished", "failed", "preempted", "stopped")


def upgrade() -> None:
    with op.batch_alter_table("commands") as batch:
        for name in ("received_at", "started_at", "ended_at"):
            batch.add_column(
                sa.Column(name, broadcast.models.UTCDateTime(timezone=True), nullable=True)
            )
        batch.add_column(sa.Column("reason", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("plays", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(
        "ix_commands_speaker_not_before", "commands", ["speaker_id", "not_before"], unique=False
    )
    op.create_index("ix_broadcasts_planned_at", "broadcasts", ["planned_at"], unique=False)
    op.create_table(
        "speaker_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("speaker_id", sa.String(length=64), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("at", broadcast.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["speaker_id"], ["loudspeakers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_speaker_status_changes_at", "speaker_status_changes", ["at"], unique=False)
    op.create_index(
        "ix_speaker_status_changes_speaker_at",
        "speaker_status_changes",
        ["speaker_id", "at"],
        unique=False,
    )
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    """Fill the new command columns from the receipts already recorded."""
    events = sa.table(
        "events",
        sa.column("command_id", sa.String),
        sa.column("kind", sa.String),
        sa.column("at", broadcast.models.UTCDateTime(timezone=True)),
        sa.column("details", sa.JSON),
    )
    commands = sa.table(
        "commands",
        sa.column("id", sa.String),
        sa.column("received_at", broadcast.models.UTCDateTime(timezone=True)),
        sa.column("started_at", broadcast.models.UTCDateTime(timezone=True)),
        sa.column("ended_at", broadcast.models.UTCDateTime(timezone=True)),
        sa.column("reason", sa.String),
        sa.column("plays", sa.Integer),
    )
    found: dict[str, dict[str, Any]] = {}
    for cid, kind, at, details in conn.execute(
        sa.select(events.c.command_id, events.c.kind, events.c.at, events.c.details).where(
            events.c.kind.in_(("received", "started", *TERMINAL))
        )
    ):
        row = found.setdefault(cid, {"b_id": cid})
        if kind == "received":
            row["received_at"] = at
        elif kind == "started":
            row["started_at"] = at
        else:
            if row.get("ended_at") is None or at < row["ended_at"]:
                row["ended_at"] = at
            if kind in ("failed", "rejected") and details and details.get("reason"):
                row["reason"] = str(details["reason"])[:64]
            if kind == "finished":
                repeat = details.get("repeat") if details else None
                row["plays"] = repeat if isinstance(repeat, int) else 1
    columns = ("received_at", "started_at", "ended_at", "reason", "plays")
    batch = [{c: r.get(c) for c in columns} | {"b_id": r["b_id"]} for r in found.values()]
    for row in batch:
        row["plays"] = row["plays"] or 0
    if batch:
        conn.execute(
            commands.update()
            .where(commands.c.id == sa.bindparam("b_id"))
            .values({c: sa.bindparam(c) for c in columns}),
            batch,
        )


def downgrade() -> None:
    op.drop_index("ix_speaker_status_changes_speaker_at", table_name="speaker_status_changes")
    op.drop_index("ix_speaker_status_changes_at", table_name="speaker_status_changes")
    op.drop_table("speaker_status_changes")
    op.drop_index("ix_broadcasts_planned_at", table_name="broadcasts")
    op.drop_index("ix_commands_speaker_not_before", table_name="commands")
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of commands would drop the table,
    # which SQLite's foreign keys refuse while events point to it.
    for column in ("plays", "reason", "ended_at", "started_at", "received_at"):
        op.drop_column("commands", column)
