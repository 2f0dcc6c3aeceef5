"""API ``/api/v1`` for planning: programmes, places (counties and towns, villages, villager
groups, zones), volume ceilings and the "what will play where" preview. The routes join the
``api`` blueprint (same authentication, JSON errors)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from flask import Flask, Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from broadcast.errors import ValidationFailed
from broadcast.preview import PlannedPlay
from broadcast.recurrence import VolumeBand
from web import serialize
from web.api import _body, _created, _username, bp
from web.context import services, zone
from web.inputs import optional_date, parse_int
from web.programmes import programme_from_json

logger = logging.getLogger(__name__)


def _text(data: dict[str, Any], name: str, label: str, required: bool = True) -> str:
    value = data.get(name, "" if required else None)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} 须为字符串（{label}）", name)
    return value


def _only(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationFailed(f"未知字段：{', '.join(unknown)}", unknown[0])


# -- programmes ----------------------------------------------------------------------------
def _programme(view: Any) -> dict[str, Any]:
    out: dict[str, Any] = serialize.jsonable(view)
    out["audio_url"] = serialize.media_path(view.audio_sha256)
    return out


@bp.get("/programmes")
def programmes() -> ResponseReturnValue:
    return jsonify(programmes=[_programme(p) for p in services().list_programmes()])


@bp.post("/programmes")
def create_programme() -> ResponseReturnValue:
    """``{"name": "早间节目", "items": [{"kind": "chime"}, {"kind": "notice", "notice_id": 3},
    {"kind": "silence", "seconds": 5}]}``; schedule the answer's ``notice_id`` to play it."""
    view = services().save_programme(programme_from_json(_body()), None, _username())
    logger.info("programme %s created by %s via the API", view.id, _username())
    return _created(_programme(view), url_for("api.programme", programme_id=view.id))


@bp.get("/programmes/<int:programme_id>")
def programme(programme_id: int) -> ResponseReturnValue:
    return jsonify(_programme(services().get_programme(programme_id)))


@bp.put("/programmes/<int:programme_id>")
def replace_programme(programme_id: int) -> ResponseReturnValue:
    svc = services()
    svc.get_programme(programme_id)  # 404 first
    view = svc.save_programme(programme_from_json(_body()), programme_id, _username())
    return jsonify(_programme(view))


@bp.delete("/programmes/<int:programme_id>")
def delete_programme(programme_id: int) -> ResponseReturnValue:
    services().delete_programme(programme_id)
    return Response(status=204)


# -- places ----------------------------------------------------------------------------
@bp.get("/areas")
def areas() -> ResponseReturnValue:
    return jsonify(areas=serialize.jsonable(services().list_areas()))


@bp.post("/areas")
def create_area() -> ResponseReturnValue:
    """``{"level": "county"|"town", "code": "12 digits", "name": "..."}``."""
    data = _body()
    _only(data, {"level", "code", "name"})
    view = services().add_area(
        _text(data, "level", "级别"), _text(data, "code", "区划代码"), _text(data, "name", "名称")
    )
    return _created(serialize.jsonable(view), url_for("api.areas"))


@bp.patch("/areas/<int:area_id>")
def rename_area(area_id: int) -> ResponseReturnValue:
    data = _body()
    _only(data, {"name"})
    return jsonify(serialize.jsonable(services().rename_area(area_id, _text(data, "name", "名称"))))


@bp.delete("/areas/<int:area_id>")
def delete_area(area_id: int) -> ResponseReturnValue:
    services().delete_area(area_id)
    return Response(status=204)


@bp.post("/villages")
def create_village() -> ResponseReturnValue:
    """``{"name": "东村", "code": "dc", "town_code": "370102001000"}`` (town optional)."""
    data = _body()
    _only(data, {"name", "code", "town_code"})
    svc = services()
    view = svc.add_village(_text(data, "name", "村名"), _text(data, "code", "村代码"))
    town = _text(data, "town_code", "乡镇代码", required=False)
    if town:
        svc.edit_village(view.id, view.name, view.code, town)
    return _created(serialize.jsonable(view), url_for("api.village", village_id=view.id))


@bp.put("/villages/<int:village_id>")
def replace_village(village_id: int) -> ResponseReturnValue:
    """Name, code and town (``town_code`` null or absent: no town)."""
    data = _body()
    _only(data, {"name", "code", "town_code"})
    svc = services()
    svc.edit_village(
        village_id,
        _text(data, "name", "村名"),
        _text(data, "code", "村代码"),
        _text(data, "town_code", "乡镇代码", required=False) or None,
    )
    return jsonify(serialize.jsonable(svc.find_village(village_id)))


@bp.delete("/villages/<int:village_id>")
def delete_village(village_id: int) -> ResponseReturnValue:
    services().delete_village(village_id)
    return Response(status=204)


def _bands(bands: list[VolumeBand]) -> list[dict[str, Any]]:
    return [
        {"start": f"{b.start:%H:%M}", "end": f"{b.end:%H:%M}", "max_volume": b.ceiling}
        for b in bands
    ]


@bp.get("/villages/<int:village_id>/volume-ceilings")
def volume_ceilings(village_id: int) -> ResponseReturnValue:
    return jsonify(ceilings=_bands(services().volume_ceilings(village_id)))


@bp.put("/villages/<int:village_id>/volume-ceilings")
def set_volume_ceilings(village_id: int) -> ResponseReturnValue:
    """``{"ceilings": [{"start": "06:00", "end": "07:30", "max_volume": 60}]}`` replaces them
    all (an empty list removes them)."""
    data = _body()
    _only(data, {"ceilings"})
    raw = data.get("ceilings")
    if not isinstance(raw, list):
        raise ValidationFailed("ceilings 须为列表", "ceilings")
    bands = []
    for n, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or set(item) != {"start", "end", "max_volume"}:
            raise ValidationFailed(f"第 {n} 个须为含 start、end、max_volume 的对象", "ceilings")
        start, end = _text(item, "start", "开始"), _text(item, "end", "结束")
        bands.append((f"{start}-{end}", parse_int(item["max_volume"], "max_volume", "音量上限")))
    saved = services().set_volume_ceilings(village_id, bands)
    logger.info("volume ceilings of village %s set by %s", village_id, _username())
    return jsonify(ceilings=_bands(saved))


@bp.get("/groups")
def groups() -> ResponseReturnValue:
    return jsonify(
        groups=[
            {**serialize.jsonable(g), "village_name": village}
            for g, village in services().list_groups()
        ]
    )


@bp.post("/groups")
def create_group() -> ResponseReturnValue:
    """``{"village": id or code, "name": "一组", "code": "12-15 digits"}``."""
    data = _body()
    _only(data, {"village", "name", "code"})
    village = data.get("village")
    if not isinstance(village, str | int) or isinstance(village, bool):
        raise ValidationFailed("village 须为村编号或代码", "village")
    view = services().add_group(village, _text(data, "name", "名称"), _text(data, "code", "代码"))
    return _created(serialize.jsonable(view), url_for("api.groups"))


@bp.patch("/groups/<group>")
def rename_group(group: str) -> ResponseReturnValue:
    data = _body()
    _only(data, {"name"})
    return jsonify(serialize.jsonable(services().rename_group(group, _text(data, "name", "名称"))))


@bp.delete("/groups/<group>")
def delete_group(group: str) -> ResponseReturnValue:
    services().delete_group(group)
    return Response(status=204)


def _zone_body() -> tuple[str, list[str | int]]:
    data = _body()
    _only(data, {"name", "villages"})
    villages = data.get("villages")
    if not isinstance(villages, list) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in villages
    ):
        raise ValidationFailed("villages 须为村编号或代码的列表", "villages")
    return _text(data, "name", "名称"), list(villages)


@bp.get("/zones")
def zones() -> ResponseReturnValue:
    return jsonify(zones=serialize.jsonable(services().list_zones()))


@bp.post("/zones")
def create_zone() -> ResponseReturnValue:
    """``{"name": "沿河村庄", "villages": [1, "xc"]}``."""
    name, villages = _zone_body()
    view = services().save_zone(name, villages)
    return _created(serialize.jsonable(view), url_for("api.zone_detail", zone_id=view.id))


@bp.get("/zones/<int:zone_id>")
def zone_detail(zone_id: int) -> ResponseReturnValue:
    return jsonify(serialize.jsonable(services().get_zone(zone_id)))


@bp.put("/zones/<int:zone_id>")
def replace_zone(zone_id: int) -> ResponseReturnValue:
    svc = services()
    svc.get_zone(zone_id)  # 404 first
    name, villages = _zone_body()
    return jsonify(serialize.jsonable(svc.save_zone(name, villages, zone_id)))


@bp.delete("/zones/<int:zone_id>")
def delete_zone(zone_id: int) -> ResponseReturnValue:
    svc = services()
    svc.get_zone(zone_id)
    svc.delete_zone(zone_id)
    return Response(status=204)


# -- the plan preview --------------------------------------------------------------------
def play_json(play: PlannedPlay) -> dict[str, Any]:
    slot = play.slot
    return {
        "village_id": slot.village_id,
        "village_name": slot.village_name,
        "schedule_id": slot.schedule_id,
        "title": slot.notice_title,
        "priority": slot.priority,
        "planned_at": slot.planned_at.astimezone(zone()).isoformat(),
        "start_at": play.start_at.astimezone(zone()).isoformat(),
        "end_at": play.end_at.astimezone(zone()).isoformat(),
        "delay_seconds": int(play.delayed / timedelta(seconds=1)),
        "volume": play.volume,
        "problems": list(play.problems),
    }


@bp.get("/plan")
def plan() -> ResponseReturnValue:
    """What will play where: ``?date=YYYY-MM-DD`` (default today), ``days`` (1-31, default
    1), ``village`` (id or code, repeatable). The same check as ``cunxiang plan``."""
    svc = services()
    args = request.args
    first: date = (
        optional_date(args.get("date"), "date", "日期") or svc.now().astimezone(zone()).date()
    )
    days = parse_int(args.get("days"), "days", "天数", 1)
    village_ids = None
    if args.getlist("village"):
        village_ids = [svc.find_village(ref).id for ref in args.getlist("village")]
    plays = svc.preview_plan(first, days, village_ids)
    return jsonify(
        date=first.isoformat(),
        days=days,
        plays=[play_json(p) for p in plays],
        problems=sum(1 for p in plays if p.problems),
    )


def check_registered(app: Flask) -> None:
    """Fail at start-up, not on first use, if these routes missed the app."""
    if "api.plan" not in app.view_functions:
        raise RuntimeError("web.api_planning was imported after the api blueprint was registered")
