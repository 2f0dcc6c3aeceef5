"""Panel: loudspeakers grouped by village, online or not."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from broadcast.views import SpeakerView
from web.auth import require_login
from web.context import services

bp = Blueprint("speakers", __name__)
bp.before_request(require_login)


@bp.get("/speakers")
def index() -> ResponseReturnValue:
    svc = services()
    villages = svc.list_villages()
    by_village: dict[int, list[SpeakerView]] = {v.id: [] for v in villages}
    for speaker in svc.list_speakers():
        by_village.setdefault(speaker.village_id, []).append(speaker)
    active = [s for group in by_village.values() for s in group if not s.revoked]
    return render_template(
        "speakers/index.html",
        villages=villages,
        by_village=by_village,
        total=len(active),
        online=sum(1 for s in active if s.online),
    )
