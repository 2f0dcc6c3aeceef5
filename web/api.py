"""JSON API ``/api/v1``: the panel's use cases for scripts (HTTP Basic) and the panel (session)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import UnsupportedMediaType

from broadcast.errors import ValidationFailed
from web import serialize
from web.auth import TOO_MANY, WRONG, check_credentials, session_user
from web.context import services
from web.errors import json_error
from web.inputs import (
    notice_text,
    optional_int,
    parse_aware_datetime,
    parse_int,
    schedule_from_json,
)

logger = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@bp.before_request
def _authenticate() -> ResponseReturnValue | None:
    """HTTP Basic (no CSRF: browsers never send it unasked) or the panel session (with CSRF).

    The 401 carries no ``WWW-Authenticate: Basic`` challenge on purpose, so a browser never
    prompts for and then silently replays Basic credentials.
    """
    auth = request.authorization
    if auth is not None:
        if auth.type != "basic":
            return json_error(401, "仅支持 HTTP Basic 认证")
        user, blocked = check_credentials(auth.username or "", auth.password or "")
        if blocked:
            return json_error(429, TOO_MANY)
        if user is None:
            return json_error(401, WRONG)
        g.api_username = user.username
        return None
    panel_user = session_user()
    if panel_user is None:
        return json_error(401, "请先登录，或使用 HTTP Basic 认证")
    if request.method not in SAFE_METHODS:
        current_app.extensions["csrf"].protect()
    g.api_username = panel_user.username
    return None


def _username() -> str:
    return str(g.get("api_username", ""))


def _body() -> dict[str, Any]:
    if not request.is_json:
        raise UnsupportedMediaType()
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed("请求体须为 JSON 对象")
    return data


def _created(payload: dict[str, Any], location: str) -> Response:
    response = jsonify(payload)
    response.status_code = 201
    response.headers["Location"] = location
    return response


@bp.get("/villages")
def villages() -> ResponseReturnValue:
    return jsonify(villages=serialize.jsonable(services().list_villages()))


@bp.get("/speakers")
def speakers() -> ResponseReturnValue:
    village_id = request.args.get("village_id", type=int)
    return jsonify(speakers=serialize.jsonable(services().list_speakers(village_id)))


@bp.get("/notices")
def notices() -> ResponseReturnValue:
    return jsonify(notices=[serialize.notice(n) for n in services().list_notices()])


@bp.get("/notices/<int:notice_id>")
def notice(notice_id: int) -> ResponseReturnValue:
    return jsonify(serialize.notice(services().get_notice(notice_id)))


@bp.post("/notices")
def create_notice() -> ResponseReturnValue:
    data = _body()
    title, body = data.get("title", ""), data.get("body", "")
    if not isinstance(title, str):
        raise ValidationFailed("标题须为字符串", "title")
    if not isinstance(body, str):
        raise ValidationFailed("通知内容须为字符串", "body")
    view = services().add_notice(title, body, created_by=_username())
    logger.info("notice %s created by %s via the API", view.id, view.created_by)
    return _created(serialize.notice(view), url_for("api.notice", notice_id=view.id))


@bp.post("/preview")
def preview() -> ResponseReturnValue:
    text = notice_text(_body().get("text"), "text")
    rendered = services().render(text, field="text")
    return jsonify(
        sha256=rendered.sha256,
        url=serialize.media_path(rendered.sha256),
        duration_ms=rendered.duration_ms,
    )


@bp.get("/schedules")
def schedules() -> ResponseReturnValue:
    return jsonify(schedules=serialize.jsonable(services().list_schedules()))


@bp.post("/schedules")
def create_schedule() -> ResponseReturnValue:
    svc = services()
    req = schedule_from_json(_body(), svc.now())
    view = svc.add_schedule(req, created_by=_username())
    return _created(serialize.jsonable(view), url_for("api.schedule", schedule_id=view.id))


def _schedule_view(schedule_id: int) -> dict[str, Any]:
    out: dict[str, Any] = serialize.jsonable(services().get_schedule(schedule_id))
    return out


@bp.get("/schedules/<int:schedule_id>")
def schedule(schedule_id: int) -> ResponseReturnValue:
    return jsonify(_schedule_view(schedule_id))


@bp.patch("/schedules/<int:schedule_id>")
def update_schedule(schedule_id: int) -> ResponseReturnValue:
    data = _body()
    enabled = data.get("enabled")
    if set(data) != {"enabled"} or not isinstance(enabled, bool):
        raise ValidationFailed("只能修改 enabled（true 或 false）", "enabled")
    services().set_schedule_enabled(schedule_id, enabled)
    return jsonify(_schedule_view(schedule_id))


@bp.get("/broadcasts")
def broadcasts() -> ResponseReturnValue:
    limit = parse_int(request.args.get("limit"), "limit", "limit", 100)
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit 须在 1–1000 之间", "limit")
    return jsonify(broadcasts=[serialize.broadcast(b) for b in services().list_broadcasts(limit)])


@bp.get("/log")
def log() -> ResponseReturnValue:
    args = request.args
    broadcast_id = optional_int(args.get("broadcast_id"), "broadcast_id", "broadcast_id")
    since = parse_aware_datetime(args["since"], "since") if "since" in args else None
    limit = parse_int(args.get("limit"), "limit", "limit", 500)
    if not 1 <= limit <= 5000:
        raise ValidationFailed("limit 须在 1–5000 之间", "limit")
    rows = services().playback_log(since=since, broadcast_id=broadcast_id, limit=limit)
    return jsonify(log=[row.as_dict() for row in rows])
