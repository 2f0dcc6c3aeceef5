"""Panel: schedules in plain words with their next run, the week ahead per village, and
switching on and off, editing and deleting a schedule."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from broadcast.errors import NotFound, ValidationFailed
from broadcast.recurrence import QuietHours
from broadcast.views import ScheduleView
from web import plans, schedule_form
from web.auth import require_login, session_user
from web.context import services, zone
from web.forms import errors_for
from web.inputs import optional_date
from web.schedule_form import ScheduleForm

logger = logging.getLogger(__name__)

bp = Blueprint("schedules", __name__)
bp.before_request(require_login)


@bp.get("/schedules")
def index() -> ResponseReturnValue:
    svc = services()
    now = svc.now()
    today = now.astimezone(zone()).date()
    plays = svc.preview_plan(today, plans.WEEK_DAYS)
    names = [v.name for v in svc.list_villages()]
    return render_template(
        "schedules/index.html",
        schedules=svc.list_schedules(),
        week=plans.week_ahead(plays, names, now, zone()),
        today=today,
        default_window=svc.settings.schedule.window_seconds,
        zone=zone(),
    )


def _editable(view: ScheduleView) -> ScheduleView:
    if plans.is_emergency(view):
        raise ValidationFailed("应急广播不能修改；如需停止，请在播放记录中点“立即停止”")
    return view


def _edit_page(
    view: ScheduleView, form: ScheduleForm, errors: dict[str, str], status: int
) -> Response:
    svc = services()
    html = render_template(
        "schedules/edit.html",
        schedule=view,
        notice=svc.get_notice(view.notice_id),
        villages=svc.list_villages(),
        zones=svc.list_zones(),
        form=form.values,
        checked=set(form.villages),
        checked_zones=set(form.zones),
        speakers=form.speakers,
        groups=list(zip(form.groups, view.group_names, strict=False)),
        days=set(form.weekdays),
        errors=errors,
        allow_now=False,
        default_window=svc.settings.schedule.window_seconds // 60,
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/schedules/<int:schedule_id>/edit")
def edit(schedule_id: int) -> ResponseReturnValue:
    svc = services()
    view = _editable(svc.get_schedule(schedule_id))
    form = schedule_form.prefilled(view, svc.list_villages(), svc.list_zones(), svc.now(), zone())
    return _edit_page(view, form, {}, 200)


@bp.post("/schedules/<int:schedule_id>/edit")
def update(schedule_id: int) -> ResponseReturnValue:
    svc = services()
    view = _editable(svc.get_schedule(schedule_id))
    form = schedule_form.posted()
    try:
        req = form.request(view.notice_id, svc.now(), zone())
        svc.update_schedule(schedule_id, req)
    except (ValidationFailed, NotFound) as exc:
        return _edit_page(view, form, errors_for(exc, schedule_form.FIELDS), 400)
    user = session_user()
    logger.info("schedule %s edited by %s", schedule_id, user.username if user else "?")
    flash(f"播放计划 #{schedule_id} 已修改", "ok")
    return redirect(url_for("schedules.index"))


@bp.post("/schedules/<int:schedule_id>/delete")
def delete(schedule_id: int) -> ResponseReturnValue:
    services().delete_schedule(schedule_id)
    user = session_user()
    logger.info("schedule %s deleted by %s", schedule_id, user.username if user else "?")
    flash(f"播放计划 #{schedule_id} 已删除，已播出的记录仍保留", "ok")
    return redirect(url_for("schedules.index"))


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


@bp.get("/schedules/plan")
def plan() -> ResponseReturnValue:
    """The day or week per village as a timeline: where plays queue behind each other,
    the quiet hours, and every problem the preview finds."""
    svc = services()
    today = svc.now().astimezone(zone()).date()
    view = request.args.get("view", "day")
    if view not in ("day", "week"):
        view = "day"
    try:
        first = optional_date(request.args.get("date"), "date", "日期") or today
    except ValidationFailed:
        first = today
    villages = svc.list_villages()
    chosen = request.args.get("village", type=int)
    shown = [v for v in villages if chosen is None or v.id == chosen]
    days = plans.WEEK_DAYS if view == "week" else 1
    plays = svc.preview_plan(first, days, [v.id for v in shown] if chosen is not None else None)
    default = svc.settings.schedule.quiet_hours
    timelines = []
    for v in shown:
        quiet = QuietHours.parse(v.quiet_hours or default)
        if view == "week":
            timelines.append(plans.week_timeline(plays, v.name, quiet, first, days, zone(), today))
        else:
            timelines.append(plans.day_timeline(plays, v.name, quiet, first, zone()))
    return render_template(
        "schedules/plan.html",
        view=view,
        first=first,
        today=today,
        timelines=timelines,
        villages=villages,
        chosen=chosen,
        step=timedelta(days=days),
        problems=sum(1 for p in plays if p.problems),
    )
