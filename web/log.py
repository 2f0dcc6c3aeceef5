"""Panel: the playback (as-run) log, refreshed in place while broadcasts play; stopping one."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from broadcast.models import EMERGENCY_PRIORITY, BroadcastState
from broadcast.views import BroadcastView, LogRow
from web.auth import require_login, session_user
from web.context import services

logger = logging.getLogger(__name__)

bp = Blueprint("log", __name__)
bp.before_request(require_login)

REFRESH_SECONDS = 5
MAX_BROADCASTS = 50
MAX_ROWS = 500
# A broadcast in these states may still play somewhere, so it can be stopped.
STOPPABLE = frozenset({BroadcastState.UNPROCESSED, BroadcastState.WAITING, BroadcastState.PLAYING})


@dataclass
class LogGroup:
    """One broadcast and each loudspeaker's part in it."""

    broadcast_id: int
    notice_id: int
    notice_title: str
    planned_at: datetime
    state: int | None = None
    targeted: int | None = None
    finished: int | None = None
    rows: list[LogRow] = field(default_factory=list)
    priority: int = 0
    missed: bool = False
    drill: bool = False
    severity: int | None = None
    event_type: str | None = None
    cancelled_at: datetime | None = None

    @classmethod
    def of_broadcast(cls, b: BroadcastView) -> LogGroup:
        return cls(
            b.id,
            b.notice_id,
            b.notice_title,
            b.planned_at,
            b.state,
            b.targeted,
            b.finished,
            priority=b.priority,
            missed=b.missed,
            drill=b.drill,
            severity=b.severity,
            event_type=b.event_type,
            cancelled_at=b.cancelled_at,
        )

    @classmethod
    def of_row(cls, row: LogRow) -> LogGroup:
        return cls(
            row.broadcast_id, row.notice_id, row.notice_title, row.planned_at, drill=row.drill
        )

    @property
    def emergency(self) -> bool:
        return self.priority >= EMERGENCY_PRIORITY

    @property
    def stoppable(self) -> bool:
        return self.state in STOPPABLE and not self.missed


def group_log(broadcasts: list[BroadcastView], rows: list[LogRow]) -> list[LogGroup]:
    """Broadcasts newest first, each with its rows; a broadcast with no loudspeakers shows too."""
    groups = {b.id: LogGroup.of_broadcast(b) for b in broadcasts}
    for row in rows:
        groups.setdefault(row.broadcast_id, LogGroup.of_row(row)).rows.append(row)
    return sorted(groups.values(), key=lambda g: (g.planned_at, g.broadcast_id), reverse=True)


def _groups() -> tuple[list[LogGroup], int | None]:
    svc = services()
    broadcast_id = request.args.get("broadcast_id", type=int)
    broadcasts = svc.list_broadcasts(MAX_BROADCASTS, broadcast_id)
    if broadcast_id is not None:
        rows = svc.playback_log(broadcast_id=broadcast_id, limit=MAX_ROWS)
    elif broadcasts:
        rows = svc.playback_log(since=broadcasts[-1].planned_at, limit=MAX_ROWS)
    else:
        rows = []
    return group_log(broadcasts, rows), broadcast_id


@bp.get("/log")
def index() -> ResponseReturnValue:
    groups, broadcast_id = _groups()
    return render_template(
        "log/index.html", groups=groups, broadcast_id=broadcast_id, refresh=REFRESH_SECONDS
    )


@bp.get("/log/rows")
def rows() -> ResponseReturnValue:
    """The log body alone, for the page's polling script."""
    groups, _ = _groups()
    return render_template("log/_rows.html", groups=groups)


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
def cancel(broadcast_id: int) -> ResponseReturnValue:
    """Stop a broadcast everywhere: unsent plays are withdrawn, the rest get a signed stop."""
    user = session_user()
    username = user.username if user is not None else ""
    stops = services().cancel_broadcast(broadcast_id, username)
    logger.warning("broadcast %s stopped from the panel by %s", broadcast_id, username)
    flash(f"广播 #{broadcast_id} 已停止，已向 {stops} 个喇叭发出停止指令", "ok")
    return redirect(url_for("log.index", broadcast_id=broadcast_id))
