"""JSON API ``/api/v1``: the panel's use cases for scripts (HTTP Basic) and the panel (session)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import UnsupportedMediaType

from broadcast.errors import NotFound, ValidationFailed
from web import serialize
from web.auth import TOO_MANY, WRONG, authorize, check_credentials, session_user
from web.context import services
from web.emergency_inputs import emergency_from_json
from web.errors import json_error
from web.inputs import (
    notice_text,
    optional_int,
    parse_aware_datetime,
    parse_int,
    quiet_hours_value,
    schedule_from_json,
)
from web.uploads import sound_from_json

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
        return authorize(user)
    panel_user = session_user()
    if panel_user is None:
        return json_error(401, "请先登录，或使用 HTTP Basic 认证")
    if request.method not in SAFE_METHODS:
        current_app.extensions["csrf"].protect()
    g.api_username = panel_user.username
    return authorize(panel_user.view)


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
    svc = services()
    return jsonify(
        villages=serialize.jsonable(svc.list_villages()),
        default_quiet_hours=svc.settings.schedule.quiet_hours,
    )


@bp.get("/villages/<int:village_id>")
def village(village_id: int) -> ResponseReturnValue:
    return jsonify(_village_view(village_id))


def _village_view(village_id: int) -> dict[str, Any]:
    for view in services().list_villages():
        if view.id == village_id:
            out: dict[str, Any] = serialize.jsonable(view)
            return out
    raise NotFound(f"找不到村：{village_id}")


@bp.patch("/villages/<int:village_id>")
def update_village(village_id: int) -> ResponseReturnValue:
    """Only the quiet hours: "22:00-06:00", "-" for none, null for the default."""
    data = _body()
    if set(data) != {"quiet_hours"}:
        raise ValidationFailed("只能修改 quiet_hours", "quiet_hours")
    _village_view(village_id)  # 404 before anything else
    band = quiet_hours_value(data["quiet_hours"])
    services().set_quiet_hours(village_id, band)
    logger.info("quiet hours of village %s set to %s by %s", village_id, band, _username())
    return jsonify(_village_view(village_id))


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
    """JSON text (with optional sound options), or multipart with an ``audio`` recording."""
    if request.mimetype == "multipart/form-data":
        from web.api_speech import create_recording

        return create_recording()
    data = _body()
    title, body = data.get("title", ""), data.get("body", "")
    if not isinstance(title, str):
        raise ValidationFailed("标题须为字符串", "title")
    if not isinstance(body, str):
        raise ValidationFailed("通知内容须为字符串", "body")
    view = services().add_notice(title, body, _username(), sound_from_json(data))
    logger.info("notice %s created by %s via the API", view.id, view.created_by)
    return _created(serialize.notice(view), url_for("api.notice", notice_id=view.id))


@bp.post("/preview")
def preview() -> ResponseReturnValue:
    data = _body()
    text = notice_text(data.get("text"), "text")
    rendered = services().render(text, field="text", sound=sound_from_json(data))
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


@bp.put("/schedules/<int:schedule_id>")
def replace_schedule(schedule_id: int) -> ResponseReturnValue:
    """Edit a schedule: the same body as creating one; a one-off needs its ``at``."""
    svc = services()
    req = schedule_from_json(_body(), svc.now(), at_required=True)
    view = svc.update_schedule(schedule_id, req)
    logger.info("schedule %s edited by %s via the API", schedule_id, _username())
    return jsonify(serialize.jsonable(view))


@bp.delete("/schedules/<int:schedule_id>")
def delete_schedule(schedule_id: int) -> ResponseReturnValue:
    services().delete_schedule(schedule_id)
    logger.info("schedule %s deleted by %s via the API", schedule_id, _username())
    return Response(status=204)


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


def _broadcast_view(broadcast_id: int) -> dict[str, Any]:
    found = services().list_broadcasts(1, broadcast_id)
    if not found:
        raise NotFound(f"找不到广播 {broadcast_id}")
    return serialize.broadcast(found[0])


@bp.get("/broadcasts/<int:broadcast_id>")
def broadcast(broadcast_id: int) -> ResponseReturnValue:
    return jsonify(_broadcast_view(broadcast_id))


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
def cancel_broadcast(broadcast_id: int) -> ResponseReturnValue:
    """Stop a broadcast everywhere at once; ``stops`` counts the signed stop commands."""
    stops = services().cancel_broadcast(broadcast_id, _username())
    logger.warning("broadcast %s stopped by %s via the API", broadcast_id, _username())
    return jsonify(broadcast=_broadcast_view(broadcast_id), stops=stops)


@bp.post("/emergencies")
def send_emergency() -> ResponseReturnValue:
    """Send an emergency now. Without ``"confirm": true`` nothing is sent: the answer is a
    400 naming the targets and their loudspeaker count, to be checked and confirmed."""
    svc = services()
    req, confirmed = emergency_from_json(_body())
    targets = svc.check_emergency(req)  # 404 for unknown notice or targets, 400 for bad values
    if not confirmed:
        response = jsonify(
            error="confirmation_required",
            message=(
                f"将{'演练' if req.drill else '发送应急广播'}到 {len(targets.villages)} 个村"
                f"{f'、{len(targets.groups)} 个小组' if targets.groups else ''}、"
                f'{targets.loudspeakers} 个喇叭；核对后加上 "confirm": true 再发送'
            ),
            drill=req.drill,
            **targets.as_dict(),
        )
        response.status_code = 400
        return response
    outcome = svc.request_emergency(req, _username())
    if outcome.broadcast is None:
        # More than one village: a second person confirms (POST .../emergencies/<id>/confirm).
        from web.api_review import awaiting_confirmation

        return awaiting_confirmation(outcome, targets)
    view = outcome.broadcast
    logger.warning(
        "%s %s sent by %s via the API", "drill" if req.drill else "emergency", view.id, _username()
    )
    location = url_for("api.broadcast", broadcast_id=view.id)
    return _created(serialize.broadcast(view), location)


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
