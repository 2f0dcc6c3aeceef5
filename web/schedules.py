"""Panel: schedules with their next run, switched on and off."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from web.auth import require_login
from web.context import services

bp = Blueprint("schedules", __name__)
bp.before_request(require_login)


@bp.get("/schedules")
def index() -> ResponseReturnValue:
    return render_template("schedules/index.html", schedules=services().list_schedules())


@bp.post("/schedules/<int:schedule_id>/enable")
def enable(schedule_id: int) -> ResponseReturnValue:
    services().set_schedule_enabled(schedule_id, True)
    flash(f"播放计划 #{schedule_id} 已启用", "ok")
    return redirect(url_for("schedules.index"))


@bp.post("/schedules/<int:schedule_id>/disable")
def disable(schedule_id: int) -> ResponseReturnValue:
    services().set_schedule_enabled(schedule_id, False)
    flash(f"播放计划 #{schedule_id} 已停用", "ok")
    return redirect(url_for("schedules.index"))
