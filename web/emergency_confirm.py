"""Panel: the second confirmation of an emergency to more than one village.

The console (``web.emergency``) saves such an emergency as waiting; it shows, to everyone
who may see the console, the exact targets and loudspeaker count, and another admin or
reviewer (or the admin who asked, confirming a second time) sends it from there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from broadcast.emergencies import EmergencySummary
from broadcast.errors import CunxiangError, NotFound
from broadcast.governance import PendingEmergency
from web.auth import session_user
from web.context import services

logger = logging.getLogger(__name__)

bp = Blueprint("emergency_confirm", __name__)


@dataclass(frozen=True)
class Waiting:
    pending: PendingEmergency
    targets: EmergencySummary | None  # None: its targets can no longer be resolved
    mine: bool  # asked by the current user
    may_confirm: bool


def waiting_message(villages: int) -> str:
    minutes = services().settings.approval.confirm_minutes
    return (
        f"发往 {villages} 个村的应急广播已提交，需要另一位管理员或审核员在 {minutes} 分钟内"
        "确认后才会播出（管理员可以自己再确认一次）。"
    )


def awaiting_confirmation() -> list[Waiting]:
    svc = services()
    me = session_user()
    found = []
    for p in svc.pending_emergencies():
        try:
            targets: EmergencySummary | None = svc.check_emergency(p.request)
        except CunxiangError:
            targets = None
        mine = me is not None and me.username == p.requested_by
        may = me is not None and me.may("confirm") and (not mine or me.role == "admin")
        found.append(Waiting(p, targets, mine, may))
    return found


@bp.post("/emergency/pending/<int:schedule_id>/confirm")
def confirm(schedule_id: int) -> ResponseReturnValue:
    try:
        broadcast = services().confirm_emergency(schedule_id)
    except (CunxiangError, NotFound) as exc:
        flash(str(exc), "bad")
        return redirect(url_for("emergency.index"))
    me = session_user()
    logger.warning(
        "emergency %s confirmed by %s: broadcast %s to %d loudspeakers",
        schedule_id,
        me.username if me else "?",
        broadcast.id,
        broadcast.targeted,
    )
    flash(f"应急广播已确认并发出：{broadcast.targeted} 个喇叭。如需停止，点“立即停止”。", "ok")
    return redirect(url_for("log.index", broadcast_id=broadcast.id))


@bp.post("/emergency/pending/<int:schedule_id>/withdraw")
def withdraw(schedule_id: int) -> ResponseReturnValue:
    reason = request.form.get("reason", "").strip() or "撤回"
    try:
        services().withdraw_emergency(schedule_id, reason)
    except CunxiangError as exc:
        flash(str(exc), "bad")
        return redirect(url_for("emergency.index"))
    flash("已撤回这条待确认的应急广播", "ok")
    return redirect(url_for("emergency.index"))
