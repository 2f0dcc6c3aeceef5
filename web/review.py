"""Panel: the review queue (审核). A reviewer hears each notice's rendered audio and approves
or rejects it (with a reason); schedules are approved once their notice is. Authors submit
drafts from here too (``submit``)."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from broadcast.approval import ReviewItem, status_label
from broadcast.errors import NotFound, ValidationFailed
from broadcast.views import ScheduleView
from web.context import services, zone

logger = logging.getLogger(__name__)

bp = Blueprint("review", __name__)

KINDS = {"notice": "通知", "schedule": "播放计划"}
TONES = {
    "draft": "wait",
    "pending": "warn",
    "approved": "ok",
    "rejected": "bad",
    "scheduled": "ok",
    "finished": "wait",
    "cancelled": "wait",
}


def status_tone(status: str) -> str:
    return TONES.get(status, "wait")


def approval_required() -> bool:
    return services().settings.approval.required


def setup(app: Flask) -> None:
    app.add_template_filter(status_label, "review_status")
    app.add_template_filter(status_tone, "review_tone")
    app.add_template_global(approval_required, "approval_required")
    app.register_blueprint(bp)


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise NotFound("找不到该页面或对象")
    return kind


def _schedules(items: list[ReviewItem]) -> dict[int, ScheduleView]:
    svc = services()
    found: dict[int, ScheduleView] = {}
    for item in items:
        if item.kind == "schedule":
            try:
                found[item.id] = svc.get_schedule(item.id)
            except NotFound:
                continue
    return found


def _page(errors: dict[str, str], status: int, reason: str = "") -> Response:
    svc = services()
    pending = svc.review_queue()
    recent = svc.recent_reviews(10)
    html = render_template(
        "review/index.html",
        pending=pending,
        recent=recent,
        schedules=_schedules(pending),
        kinds=KINDS,
        errors=errors,
        reason=reason,
        zone=zone(),
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/review")
def index() -> ResponseReturnValue:
    return _page({}, 200)


@bp.post("/review/<kind>/<int:item_id>/approve")
def approve(kind: str, item_id: int) -> ResponseReturnValue:
    try:
        item = services().approve(_kind(kind), item_id)
    except ValidationFailed as exc:
        return _page({f"{kind}-{item_id}": str(exc)}, 400)
    if item.kind == "schedule" and item.status == "approved":
        flash(f"已通过播放计划 #{item.id}“{item.title}”，将按计划播放", "ok")
    else:
        flash(f"已通过{KINDS[item.kind]}“{item.title}”", "ok")
    return redirect(url_for("review.index"))


@bp.post("/review/<kind>/<int:item_id>/reject")
def reject(kind: str, item_id: int) -> ResponseReturnValue:
    reason = request.form.get("reason", "")
    try:
        item = services().reject(_kind(kind), item_id, reason)
    except ValidationFailed as exc:
        return _page({f"{kind}-{item_id}": str(exc)}, 400, reason)
    flash(f"已退回{KINDS[item.kind]}“{item.title}”：{item.review_note}", "ok")
    return redirect(url_for("review.index"))


@bp.post("/review/<kind>/<int:item_id>/submit")
def submit(kind: str, item_id: int) -> ResponseReturnValue:
    """提交审核, from a notice's page or the schedules list (back to where it came from)."""
    kind = _kind(kind)
    back = (
        url_for("notices.detail", notice_id=item_id)
        if kind == "notice"
        else url_for("schedules.index")
    )
    try:
        item = services().submit_for_review(kind, item_id)
    except ValidationFailed as exc:
        flash(str(exc), "bad")
        return redirect(back)
    flash(f"已提交审核：{KINDS[item.kind]}“{item.title}”。审核通过后才会播放。", "ok")
    return redirect(back)
