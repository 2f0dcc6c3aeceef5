"""Panel: the playback (as-run) log, refreshed in place while broadcasts play."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from broadcast.views import BroadcastView, LogRow
from web.auth import require_login
from web.context import services

bp = Blueprint("log", __name__)
bp.before_request(require_login)

REFRESH_SECONDS = 5
MAX_BROADCASTS = 50
MAX_ROWS = 500


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

    @classmethod
    def of_broadcast(cls, b: BroadcastView) -> LogGroup:
        return cls(b.id, b.notice_id, b.notice_title, b.planned_at, b.state, b.targeted, b.finished)

    @classmethod
    def of_row(cls, row: LogRow) -> LogGroup:
        return cls(row.broadcast_id, row.notice_id, row.notice_title, row.planned_at)


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
