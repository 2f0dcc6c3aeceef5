"""Panel: loudspeaker health (喇叭健康): online rate, status history, failures, and the
loudspeakers that missed their latest broadcasts."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from web import charts, outcomes
from web.auth import require_login
from web.context import services
from web.log import scope

bp = Blueprint("health", __name__)
bp.before_request(require_login)
bp.record_once(lambda state: outcomes.register(state.app))

DAY_CHOICES = (7, 14, 30)


@bp.get("/speakers/health")
def index() -> ResponseReturnValue:
    days = request.args.get("days", type=int) or DAY_CHOICES[0]
    if days not in DAY_CHOICES:
        days = DAY_CHOICES[0]
    svc = services()
    villages = svc.list_villages()
    allowed = scope()
    if allowed is not None:
        villages = [v for v in villages if v.id in allowed]
    village_id = request.args.get("village_id", type=int)
    if village_id is not None and village_id not in {v.id for v in villages}:
        village_id = None
    report = svc.speaker_health(days, [village_id] if village_id is not None else allowed)
    chart = charts.line_chart(
        [(f"{d:%m-%d}", rate) for d, rate in report.daily_online], "每日喇叭在线率"
    )
    online = sum(1 for sp in report.speakers if sp.online)
    rates = [sp.online_rate for sp in report.speakers if sp.online_rate is not None]
    return render_template(
        "health/index.html",
        report=report,
        chart=chart,
        days=days,
        day_choices=DAY_CHOICES,
        villages=villages,
        village_id=village_id,
        online=online,
        average=sum(rates) / len(rates) if rates else None,
    )
