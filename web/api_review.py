"""API ``/api/v1`` for review and the second confirmation of emergencies. The routes join
the ``api`` blueprint (same authentication; roles checked by ``web.access``)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from flask import Flask, Response, jsonify, url_for
from flask.typing import ResponseReturnValue

from broadcast.approval import ReviewItem
from broadcast.emergencies import EmergencySummary
from broadcast.errors import ValidationFailed
from broadcast.governance import EmergencyOutcome
from web import serialize
from web.api import _body, _created, _username, bp
from web.context import services

logger = logging.getLogger(__name__)


def _item(item: ReviewItem) -> dict[str, Any]:
    out: dict[str, Any] = serialize.jsonable(asdict(item))
    out["audio_url"] = serialize.media_path(item.audio_sha256)
    return out


@bp.get("/review")
def review_queue() -> ResponseReturnValue:
    """Pending notices and schedules, oldest first."""
    return jsonify(pending=[_item(i) for i in services().review_queue()])


def _kind(kind: str) -> str:
    if kind not in ("notices", "schedules"):
        raise ValidationFailed("只能审核 notices 或 schedules", "kind")
    return kind[:-1]


@bp.post("/<kind>/<int:item_id>/submit")
def submit_review(kind: str, item_id: int) -> ResponseReturnValue:
    return jsonify(_item(services().submit_for_review(_kind(kind), item_id)))


@bp.post("/<kind>/<int:item_id>/approve")
def approve(kind: str, item_id: int) -> ResponseReturnValue:
    item = services().approve(_kind(kind), item_id)
    logger.info("%s %s approved by %s via the API", kind, item_id, _username())
    return jsonify(_item(item))


@bp.post("/<kind>/<int:item_id>/reject")
def reject(kind: str, item_id: int) -> ResponseReturnValue:
    reason = _body().get("reason", "")
    if not isinstance(reason, str):
        raise ValidationFailed("reason 须为字符串", "reason")
    return jsonify(_item(services().reject(_kind(kind), item_id, reason)))


def awaiting_confirmation(outcome: EmergencyOutcome, targets: EmergencySummary) -> Response:
    """202: saved, not sent; another admin or reviewer confirms it (or the admin again)."""
    response = jsonify(
        status="awaiting_confirmation",
        emergency_id=outcome.schedule_id,
        message=(
            f"发往 {outcome.village_count} 个村的应急广播需要另一位管理员或审核员确认；"
            f"{services().settings.approval.confirm_minutes} 分钟内未确认则作废"
        ),
        confirm_url=url_for("api.confirm_emergency", schedule_id=outcome.schedule_id),
        **targets.as_dict(),
    )
    response.status_code = 202
    return response


@bp.post("/emergencies/<int:schedule_id>/confirm")
def confirm_emergency(schedule_id: int) -> ResponseReturnValue:
    view = services().confirm_emergency(schedule_id)
    logger.warning("emergency %s confirmed by %s via the API", schedule_id, _username())
    return _created(serialize.broadcast(view), url_for("api.broadcast", broadcast_id=view.id))


def check_registered(app: Flask) -> None:
    """Fail at start-up, not on first use, if these routes missed the app."""
    if "api.review_queue" not in app.view_functions:
        raise RuntimeError("web.api_review was imported after the api blueprint was registered")
