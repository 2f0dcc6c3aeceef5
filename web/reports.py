"""Panel: daily and monthly reports per town (broadcasts, minutes on air, coverage,
failures) with coverage over time as a chart."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from broadcast.errors import ValidationFailed
from broadcast.reports import month_range
from web import charts, outcomes
from web.auth import require_login
from web.context import services, zone
from web.inputs import parse_date
from web.log import scope

bp = Blueprint("reports", __name__)
bp.before_request(require_login)
bp.record_once(lambda state: outcomes.register(state.app))

TREND_DAYS = 14


def _period(today: date) -> tuple[str, date, date]:
    """("day" | "month", first, last) from the query string; today by default."""
    period = request.args.get("period", "day")
    if period == "month":
        text = (request.args.get("month") or "").strip()
        day = parse_date(f"{text}-01", "month", "月份") if text else today
        first, last = month_range(day)
        return period, first, last
    if period != "day":
        raise ValidationFailed("报表周期须为日报或月报", "period")
    text = (request.args.get("date") or "").strip()
    day = parse_date(text, "date", "日期") if text else today
    return period, day, day


@bp.get("/reports")
def index() -> ResponseReturnValue:
    svc = services()
    today = svc.now().astimezone(zone()).date()
    errors: dict[str, str] = {}
    try:
        period, first, last = _period(today)
    except ValidationFailed as exc:
        errors[exc.field or "date"] = str(exc)
        period, first, last = "day", today, today
    report = svc.period_report(first, last, scope())
    if period == "day":
        trend = svc.period_report(last - timedelta(days=TREND_DAYS - 1), last, scope()).daily
    else:
        trend = report.daily
    chart = charts.bar_chart(
        [(f"{d:%m-%d}", cov.ratio) for d, cov in trend], "每日覆盖率（播放完成的喇叭 ÷ 目标喇叭）"
    )
    return render_template(
        "reports/index.html",
        period=period,
        first=first,
        last=last,
        report=report,
        chart=chart,
        errors=errors,
        prev=_shift(period, first, -1),
        next=_shift(period, first, 1) if last < today else None,
    ), (400 if errors else 200)


def _shift(period: str, first: date, step: int) -> dict[str, str]:
    """Query-string arguments of the previous (-1) or next (1) period."""
    if period == "month":
        day = first - timedelta(days=1) if step < 0 else first + timedelta(days=32)
        return {"period": "month", "month": f"{day:%Y-%m}"}
    return {"period": "day", "date": (first + timedelta(days=step)).isoformat()}
