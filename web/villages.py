"""Panel: villages with their loudspeakers, quiet hours and volume ceilings, and editing them."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from broadcast.errors import NotFound, ValidationFailed
from broadcast.views import VillageView
from web.auth import require_login, session_user
from web.context import services
from web.forms import errors_for
from web.inputs import quiet_hours_value

logger = logging.getLogger(__name__)

bp = Blueprint("villages", __name__)
bp.before_request(require_login)

MODES = ("default", "custom", "none")
FIELDS = ("mode", "start", "end", "quiet_hours")


def quiet_label(village: VillageView, default: str) -> tuple[str, str]:
    """(band as shown, where it comes from) for a village's quiet hours."""
    if village.quiet_hours is None:
        return default, "默认"
    if village.quiet_hours == "-":
        return "不设", "全天可播"
    return village.quiet_hours, "本村设置"


def _village(village_id: int) -> VillageView:
    for village in services().list_villages():
        if village.id == village_id:
            return village
    raise NotFound(f"找不到村：{village_id}")


@bp.get("/villages")
def index() -> ResponseReturnValue:
    svc = services()
    default = svc.settings.schedule.quiet_hours
    villages = svc.list_villages()
    return render_template(
        "villages/index.html",
        villages=[(v, *quiet_label(v, default)) for v in villages],
        ceilings={v.id: svc.volume_ceilings(v.id) for v in villages},
        default=default,
        total=sum(v.speaker_count for v in villages),
    )


def _form_of(village: VillageView, default: str) -> dict[str, str]:
    band = village.quiet_hours
    mode = "default" if band is None else "none" if band == "-" else "custom"
    start, _, end = (band if mode == "custom" and band else default).partition("-")
    return {"mode": mode, "start": start, "end": end}


def _page(
    village: VillageView, form: dict[str, str], errors: dict[str, str], status: int
) -> Response:
    html = render_template(
        "villages/quiet.html",
        village=village,
        form=form,
        errors=errors,
        default=services().settings.schedule.quiet_hours,
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/villages/<int:village_id>/quiet-hours")
def quiet_hours(village_id: int) -> ResponseReturnValue:
    village = _village(village_id)
    return _page(village, _form_of(village, services().settings.schedule.quiet_hours), {}, 200)


def _band(form: dict[str, str]) -> str | None:
    mode = form["mode"]
    if mode == "default":
        return None
    if mode == "none":
        return "-"
    if mode != "custom":
        raise ValidationFailed("请选择静音时段", "mode")
    start, end = form["start"].strip(), form["end"].strip()
    if not start or not end:
        raise ValidationFailed("请填写静音时段的开始和结束时间", "quiet_hours")
    if start == end:
        raise ValidationFailed("开始和结束时间相同；如全天可播，请选“不设静音时段”", "quiet_hours")
    return quiet_hours_value(f"{start}-{end}")


@bp.post("/villages/<int:village_id>/quiet-hours")
def set_quiet_hours(village_id: int) -> ResponseReturnValue:
    village = _village(village_id)
    form = {name: request.form.get(name, "") for name in ("mode", "start", "end")}
    try:
        updated = services().set_quiet_hours(village.id, _band(form))
    except ValidationFailed as exc:
        return _page(village, form, errors_for(exc, FIELDS), 400)
    user = session_user()
    logger.info(
        "quiet hours of %s set to %s by %s",
        village.name,
        updated.quiet_hours,
        user.username if user else "?",
    )
    shown, _ = quiet_label(updated, services().settings.schedule.quiet_hours)
    flash(f"{village.name}的静音时段：{shown}", "ok")
    return redirect(url_for("villages.index"))


BAND_ROWS = 4


def _volume_page(
    village: VillageView, rows: list[dict[str, str]], errors: dict[str, str], status: int
) -> Response:
    while len(rows) < BAND_ROWS:
        rows.append({"start": "", "end": "", "max_volume": ""})
    html = render_template("villages/volume.html", village=village, rows=rows, errors=errors)
    return Response(html, status=status, mimetype="text/html")


@bp.get("/villages/<int:village_id>/volume")
def volume(village_id: int) -> ResponseReturnValue:
    village = _village(village_id)
    rows = [
        {"start": f"{b.start:%H:%M}", "end": f"{b.end:%H:%M}", "max_volume": str(b.ceiling)}
        for b in services().volume_ceilings(village.id)
    ]
    return _volume_page(village, rows, {}, 200)


def _bands(rows: list[dict[str, str]]) -> list[tuple[str, int]]:
    """Filled rows as (band, ceiling); a half-filled row is an error."""
    bands = []
    for n, row in enumerate(rows, start=1):
        if not any(row.values()):
            continue
        if not all(row.values()):
            raise ValidationFailed(f"第 {n} 行：请填全开始、结束时间和音量上限", "ceilings")
        if not row["max_volume"].isdigit():
            raise ValidationFailed(f"第 {n} 行：音量上限须为 0–100 的整数", "ceilings")
        bands.append((f"{row['start']}-{row['end']}", int(row["max_volume"])))
    return bands


@bp.post("/villages/<int:village_id>/volume")
def set_volume(village_id: int) -> ResponseReturnValue:
    village = _village(village_id)
    form = request.form
    rows = [
        {"start": s.strip(), "end": e.strip(), "max_volume": m.strip()}
        for s, e, m in zip(
            form.getlist("start"), form.getlist("end"), form.getlist("max_volume"), strict=False
        )
    ]
    try:
        saved = services().set_volume_ceilings(village.id, _bands(rows))
    except ValidationFailed as exc:
        return _volume_page(village, rows, {"ceilings": str(exc)}, 400)
    user = session_user()
    logger.info("volume ceilings of %s set by %s", village.name, user.username if user else "?")
    text = "、".join(f"{b} ≤{b.ceiling}" for b in saved) or "不限"
    flash(f"{village.name}的音量上限：{text}", "ok")
    return redirect(url_for("villages.index"))
