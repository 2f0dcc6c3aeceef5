"""Panel: notices (list, create with preview) and the 播放 form of one notice."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from broadcast.errors import NotFound, ValidationFailed
from broadcast.views import NoticeView
from web import notice_form, schedule_form
from web.auth import require_login, session_user
from web.context import services, zone
from web.forms import errors_for
from web.schedule_form import ScheduleForm
from web.uploads import UPLOAD_MB

logger = logging.getLogger(__name__)

bp = Blueprint("notices", __name__)
bp.before_request(require_login)


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
    """Text read by the machine, or an uploaded recording (multipart), with sound options."""
    if request.method == "GET":
        return notice_form.page(notice_form.blank(), {}, 200)
    form = notice_form.posted()
    try:
        notice = notice_form.save(form, _username())
    except ValidationFailed as exc:
        return notice_form.page(form, errors_for(exc, notice_form.FIELDS), 400)
    logger.info("notice %s (%s) created by %s", notice.id, notice.kind, notice.created_by)
    flash("通知已保存，请选择播放的村和时间", "ok")
    return redirect(url_for("notices.detail", notice_id=notice.id))


def _play_page(
    notice: NoticeView, form: ScheduleForm, errors: dict[str, str], status: int
) -> Response:
    html = render_template(
        "notices/detail.html",
        notice=notice,
        villages=services().list_villages(),
        zones=services().list_zones(),
        form=form.values,
        checked=set(form.villages),
        checked_zones=set(form.zones),
        speakers=form.speakers,
        days=set(form.weekdays),
        errors=errors,
        allow_now=True,
        default_window=services().settings.schedule.window_seconds // 60,
        audio_current=services().notice_audio_current(notice.id),
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/notices/<int:notice_id>")
def detail(notice_id: int) -> ResponseReturnValue:
    notice = services().get_notice(notice_id)
    return _play_page(notice, schedule_form.blank(services().now(), zone()), {}, 200)


@bp.post("/notices/<int:notice_id>/play")
def play(notice_id: int) -> ResponseReturnValue:
    svc = services()
    notice = svc.get_notice(notice_id)
    form = schedule_form.posted()
    try:
        schedule = svc.add_schedule(form.request(notice.id, svc.now(), zone()), _username())
    except (ValidationFailed, NotFound) as exc:
        # NotFound here is a village that vanished since the form was shown.
        return _play_page(notice, form, errors_for(exc, schedule_form.FIELDS), 400)
    if schedule.status != "approved":  # waits for review (审核) before it plays
        flash(f"播放计划 #{schedule.id} 已提交审核，审核通过后才会播放", "ok")
        return redirect(url_for("schedules.index"))
    if form.values["when"] == "now":
        flash(f"“{notice.title}”已开始播放", "ok")
        return redirect(url_for("log.index"))
    flash(f"已保存播放计划 #{schedule.id}", "ok")
    return redirect(url_for("schedules.index"))


@bp.post("/notices/<int:notice_id>/render")
def render(notice_id: int) -> ResponseReturnValue:
    """重新合成: the text again with the current lexicon (its schedules then play the new audio)."""
    try:
        notice = services().rerender_notice(notice_id)
    except ValidationFailed as exc:
        flash(str(exc), "bad")
        return redirect(url_for("notices.detail", notice_id=notice_id))
    logger.info("notice %s rendered again by %s", notice.id, _username())
    flash("已按当前读音表重新合成", "ok")
    return redirect(url_for("notices.detail", notice_id=notice.id))


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_exc: RequestEntityTooLarge) -> ResponseReturnValue:
    """A recording over the limit: the form again, saying so (the body was not read)."""
    if request.endpoint != "notices.new":
        html = render_template("error.html", status=413, message="请求内容过大")
        return Response(html, status=413, mimetype="text/html")
    message = f"录音文件不能超过 {UPLOAD_MB} MB，请重新选择"
    return notice_form.page(notice_form.blank(), {"audio": message}, 413)
