"""Panel: places. Counties and towns (12-digit codes), villages (name, code, town), villager
groups and zones (any set of villages): list, create, edit and delete, each refused with the
reason when something still uses it."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from broadcast.errors import CunxiangError, NotFound
from broadcast.regions import ZoneView
from web.auth import require_login, session_user
from web.context import services
from web.forms import FORM_ERROR, errors_for
from web.inputs import village_refs

logger = logging.getLogger(__name__)

bp = Blueprint("places", __name__, url_prefix="/places")
bp.before_request(require_login)

LEVEL_NAMES = {"county": "县（区）", "town": "乡镇（街道）"}


def _who() -> str:
    user = session_user()
    return user.username if user else "?"


def _index(errors: dict[str, dict[str, str]], form: dict[str, str], status: int) -> Response:
    """``errors`` per form: ``area``, ``village``, ``group``, or ``area-<id>``."""
    svc = services()
    areas = svc.list_areas()
    villages = svc.place_villages()
    html = render_template(
        "places/index.html",
        counties=[a for a in areas if a.level == "county"],
        towns=[a for a in areas if a.level == "town"],
        villages=villages,
        zones=svc.list_zones(),
        errors=errors,
        form=form,
        level_names=LEVEL_NAMES,
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("")
def index() -> ResponseReturnValue:
    return _index({}, {}, 200)


def _form(*names: str) -> dict[str, str]:
    return {name: request.form.get(name, "").strip() for name in names}


def _done(message: str, anchor: str = "") -> ResponseReturnValue:
    flash(message, "ok")
    return redirect(url_for("places.index") + anchor)


@bp.post("/areas")
def add_area() -> ResponseReturnValue:
    form = _form("level", "code", "name")
    try:
        area = services().add_area(form["level"], form["code"], form["name"])
    except CunxiangError as exc:
        return _index({"area": errors_for(exc, ("level", "code", "name"))}, form, 400)
    logger.info("area %s %s added by %s", area.code, area.name, _who())
    return _done(f"已添加{LEVEL_NAMES[area.level]}“{area.name}”", f"#area-{area.id}")


@bp.post("/areas/<int:area_id>/rename")
def rename_area(area_id: int) -> ResponseReturnValue:
    form = _form("name")
    try:
        area = services().rename_area(area_id, form["name"])
    except NotFound:
        raise
    except CunxiangError as exc:
        return _index({f"area-{area_id}": {FORM_ERROR: str(exc)}}, form, 400)
    return _done(f"已改名为“{area.name}”", f"#area-{area.id}")


@bp.post("/areas/<int:area_id>/delete")
def delete_area(area_id: int) -> ResponseReturnValue:
    try:
        services().delete_area(area_id)
    except NotFound:
        raise
    except CunxiangError as exc:
        return _index({f"area-{area_id}": {FORM_ERROR: str(exc)}}, {}, 409)
    logger.info("area %s deleted by %s", area_id, _who())
    return _done("区划已删除")


@bp.post("/villages")
def add_village() -> ResponseReturnValue:
    form = _form("name", "code", "town_code")
    svc = services()
    try:
        view = svc.add_village(form["name"], form["code"])
        if form["town_code"]:
            svc.edit_village(view.id, view.name, view.code, form["town_code"])
    except CunxiangError as exc:
        return _index({"village": errors_for(exc, ("name", "code", "town_code"))}, form, 400)
    logger.info("village %s added by %s", view.code, _who())
    return _done(f"已添加村“{view.name}”", f"#village-{view.id}")


def _village_page(
    village_id: int, form: dict[str, str] | None, errors: dict[str, dict[str, str]], status: int
) -> Response:
    svc = services()
    village = next((v for v in svc.place_villages() if v.id == village_id), None)
    if village is None:
        raise NotFound(f"找不到村：{village_id}")
    towns = [a for a in svc.list_areas() if a.level == "town"]
    town_code = next((t.code for t in towns if t.id == village.town_id), "")
    html = render_template(
        "places/village.html",
        village=village,
        towns=towns,
        form=form or {"name": village.name, "code": village.code, "town_code": town_code},
        errors=errors,
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/villages/<int:village_id>")
def village(village_id: int) -> ResponseReturnValue:
    return _village_page(village_id, None, {}, 200)


@bp.post("/villages/<int:village_id>")
def edit_village(village_id: int) -> ResponseReturnValue:
    form = _form("name", "code", "town_code")
    try:
        services().edit_village(village_id, form["name"], form["code"], form["town_code"] or None)
    except NotFound as exc:
        if "乡镇" not in str(exc):
            raise
        return _village_page(village_id, form, {"village": {"town_code": str(exc)}}, 400)
    except CunxiangError as exc:
        errors = {"village": errors_for(exc, ("name", "code", "town_code"))}
        return _village_page(village_id, form, errors, 400)
    logger.info("village %s edited by %s", village_id, _who())
    return _done(f"村“{form['name']}”已保存", f"#village-{village_id}")


@bp.post("/villages/<int:village_id>/delete")
def delete_village(village_id: int) -> ResponseReturnValue:
    try:
        services().delete_village(village_id)
    except NotFound:
        raise
    except CunxiangError as exc:
        return _village_page(village_id, None, {"delete": {FORM_ERROR: str(exc)}}, 409)
    logger.info("village %s deleted by %s", village_id, _who())
    return _done("村已删除")


@bp.post("/villages/<int:village_id>/groups")
def add_group(village_id: int) -> ResponseReturnValue:
    form = _form("group_name", "group_code")
    try:
        services().add_group(village_id, form["group_name"], form["group_code"])
    except NotFound:
        raise
    except CunxiangError as exc:
        err = errors_for(exc, ("name", "code"))
        errors = {"group": {f"group_{k}" if k != FORM_ERROR else k: v for k, v in err.items()}}
        return _village_page(village_id, None, errors, 400)
    flash(f"已添加小组“{form['group_name']}”", "ok")
    return redirect(url_for("places.village", village_id=village_id) + "#groups")


@bp.post("/groups/<int:group_id>/rename")
def rename_group(group_id: int) -> ResponseReturnValue:
    village_id = int(request.form.get("village_id", "0") or 0)
    try:
        group = services().rename_group(group_id, request.form.get("name", ""))
    except NotFound:
        raise
    except CunxiangError as exc:
        errors = {f"group-{group_id}": {FORM_ERROR: str(exc)}}
        return _village_page(village_id, None, errors, 400)
    flash(f"小组已改名为“{group.name}”", "ok")
    return redirect(url_for("places.village", village_id=group.village_id) + "#groups")


@bp.post("/groups/<int:group_id>/delete")
def delete_group(group_id: int) -> ResponseReturnValue:
    village_id = int(request.form.get("village_id", "0") or 0)
    try:
        services().delete_group(group_id)
    except NotFound:
        raise
    except CunxiangError as exc:
        errors = {f"group-{group_id}": {FORM_ERROR: str(exc)}}
        return _village_page(village_id, None, errors, 409)
    flash("小组已删除", "ok")
    return redirect(url_for("places.village", village_id=village_id) + "#groups")


def _zone_page(
    zone: ZoneView | None, name: str, checked: list[str], errors: dict[str, str], status: int
) -> Response:
    html = render_template(
        "places/zone.html",
        zone=zone,
        name=name,
        checked=set(checked),
        villages=services().list_villages(),
        errors=errors,
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/zones/new")
def new_zone() -> ResponseReturnValue:
    return _zone_page(None, "", [], {}, 200)


@bp.get("/zones/<int:zone_id>")
def zone(zone_id: int) -> ResponseReturnValue:
    view = services().get_zone(zone_id)
    return _zone_page(view, view.name, [str(v) for v in view.village_ids], {}, 200)


def _save_zone(zone_id: int | None) -> ResponseReturnValue:
    svc = services()
    view = svc.get_zone(zone_id) if zone_id is not None else None
    name, checked = request.form.get("name", ""), request.form.getlist("villages")
    try:
        saved = svc.save_zone(name, village_refs(checked), zone_id)
    except CunxiangError as exc:
        return _zone_page(view, name, checked, errors_for(exc, ("name", "villages")), 400)
    logger.info("zone %s saved by %s", saved.id, _who())
    return _done(f"区域“{saved.name}”已保存：{len(saved.village_names)} 个村", "#zones")


@bp.post("/zones/new")
def create_zone() -> ResponseReturnValue:
    return _save_zone(None)


@bp.post("/zones/<int:zone_id>")
def update_zone(zone_id: int) -> ResponseReturnValue:
    return _save_zone(zone_id)


@bp.post("/zones/<int:zone_id>/delete")
def delete_zone(zone_id: int) -> ResponseReturnValue:
    svc = services()
    view = svc.get_zone(zone_id)
    try:
        svc.delete_zone(zone_id)
    except CunxiangError as exc:
        return _zone_page(
            view, view.name, [str(v) for v in view.village_ids], {FORM_ERROR: str(exc)}, 409
        )
    return _done(f"区域“{view.name}”已删除", "#zones")
