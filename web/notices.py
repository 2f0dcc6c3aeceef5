"""Panel: notices (list, create with preview) and the 播放 form of one notice."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from broadcast.errors import NotFound, ValidationFailed
from broadcast.views import NoticeView
from web.auth import require_login, session_user
from web.context import services, zone
from web.forms import errors_for
from web.inputs import DEFAULT_PRIORITY, DEFAULT_REPEAT, DEFAULT_VOLUME, schedule_from_form

logger = logging.getLogger(__name__)

bp = Blueprint("notices", __name__)
bp.before_request(require_login)

NOTICE_FIELDS = ("title", "body")
PLAY_FIELDS = ("villages", "when", "at", "time_of_day", "priority", "repeat", "volume")


def _username() -> str:
    user = session_user()
    return user.username if user is not None else ""


@bp.get("/")
def home() -> ResponseReturnValue:
    return redirect(url_for("notices.index"))


@bp.get("/notices")
def index() -> ResponseReturnValue:
    return render_template("notices/index.html", notices=services().list_notices())


@bp.route("/notices/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("notices/new.html", form={"title": "", "body": ""}, errors={})
    form = {"title": request.form.get("title", ""), "body": request.form.get("body", "")}
    try:
        notice = services().add_notice(form["title"], form["body"], created_by=_username())
    except ValidationFailed as exc:
        html = render_template("notices/new.html", form=form, errors=errors_for(exc, NOTICE_FIELDS))
        return Response(html, status=400, mimetype="text/html")
    logger.info("notice %s created by %s", notice.id, notice.created_by)
    flash("通知已保存，请选择播放的村和时间", "ok")
    return redirect(url_for("notices.detail", notice_id=notice.id))


def _default_at(now: datetime) -> str:
    """Half an hour from now, on a five-minute mark, as a datetime-local value."""
    local = now.astimezone(zone()) + timedelta(minutes=30)
    local = local.replace(minute=local.minute - local.minute % 5, second=0, microsecond=0)
    return local.strftime("%Y-%m-%dT%H:%M")


def _play_page(
    notice: NoticeView,
    form: dict[str, str],
    checked: list[str],
    errors: dict[str, str],
    status: int,
) -> Response:
    html = render_template(
        "notices/detail.html",
        notice=notice,
        villages=services().list_villages(),
        form=form,
        checked=set(checked),
        errors=errors,
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/notices/<int:notice_id>")
def detail(notice_id: int) -> ResponseReturnValue:
    notice = services().get_notice(notice_id)
    form = {
        "when": "now",
        "at": _default_at(services().now()),
        "time_of_day": "",
        "priority": str(DEFAULT_PRIORITY),
        "repeat": str(DEFAULT_REPEAT),
        "volume": str(DEFAULT_VOLUME),
    }
    return _play_page(notice, form, [], {}, 200)


@bp.post("/notices/<int:notice_id>/play")
def play(notice_id: int) -> ResponseReturnValue:
    svc = services()
    notice = svc.get_notice(notice_id)
    form = {name: request.form.get(name, "") for name in PLAY_FIELDS if name != "villages"}
    checked = request.form.getlist("villages")
    try:
        req = schedule_from_form(notice.id, form, checked, svc.now(), zone())
        schedule = svc.add_schedule(req, created_by=_username())
    except (ValidationFailed, NotFound) as exc:
        # NotFound here is a village that vanished since the form was shown.
        return _play_page(notice, form, checked, errors_for(exc, PLAY_FIELDS), 400)
    if form.get("when", "now") == "now":
        flash(f"“{notice.title}”已开始播放", "ok")
        return redirect(url_for("log.index"))
    flash(f"已保存播放计划 #{schedule.id}", "ok")
    return redirect(url_for("schedules.index"))
