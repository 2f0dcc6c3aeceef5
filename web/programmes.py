"""Panel: programmes (节目单), ordered notices, recordings, chime and silence with their total
duration; create, reorder (drag and drop, or ↑ ↓ buttons that also work without script),
edit and delete. The form's items travel as hidden ``items`` values: ``notice:12``,
``chime``, ``silence:5``."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from audio.sequence import CHIME_MS
from broadcast.errors import CunxiangError, NotFound, ValidationFailed
from broadcast.programmes import (
    MAX_ITEMS,
    MAX_SILENCE_SECONDS,
    PROGRAMME_KIND,
    ItemRequest,
    ProgrammeRequest,
    ProgrammeView,
)
from broadcast.views import NoticeView
from web.auth import require_login, session_user
from web.context import services
from web.forms import errors_for

logger = logging.getLogger(__name__)

bp = Blueprint("programmes", __name__)
bp.before_request(require_login)

FIELDS = ("name", "items", "add_notice", "silence")
DEFAULT_SILENCE = 3


def parse_item(value: str) -> ItemRequest:
    kind, _, arg = value.strip().partition(":")
    if kind == "chime" and not arg:
        return ItemRequest("chime")
    if kind in ("notice", "silence") and arg.isdigit():
        number = int(arg)
        return (
            ItemRequest(kind, notice_id=number)
            if kind == "notice"
            else ItemRequest(kind, seconds=number)
        )
    raise ValidationFailed(f"无法识别的节目项“{value[:40]}”", "items")


def item_from_json(value: Any, n: int) -> ItemRequest:
    """``{"kind": "notice", "notice_id": 3}``, ``{"kind": "chime"}``,
    ``{"kind": "silence", "seconds": 5}``."""
    if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
        raise ValidationFailed(f"第 {n} 项须为带 kind 的对象", "items")
    unknown = sorted(set(value) - {"kind", "notice_id", "seconds"})
    if unknown:
        raise ValidationFailed(f"第 {n} 项有未知字段：{', '.join(unknown)}", "items")
    for key in ("notice_id", "seconds"):
        number = value.get(key)
        if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
            raise ValidationFailed(f"第 {n} 项的 {key} 须为整数", "items")
    return ItemRequest(value["kind"], value.get("notice_id"), value.get("seconds"))


def programme_from_json(data: dict[str, Any]) -> ProgrammeRequest:
    unknown = sorted(set(data) - {"name", "items"})
    if unknown:
        raise ValidationFailed(f"未知字段：{', '.join(unknown)}", unknown[0])
    name, items = data.get("name", ""), data.get("items", [])
    if not isinstance(name, str):
        raise ValidationFailed("name 须为字符串", "name")
    if not isinstance(items, list):
        raise ValidationFailed("items 须为列表", "items")
    return ProgrammeRequest(name, [item_from_json(v, n) for n, v in enumerate(items, 1)])


@dataclass(frozen=True)
class FormItem:
    """One row of the form: its hidden value, what it shows, how long it lasts."""

    value: str
    title: str
    ms: int
    kind: str


def form_items(items: Iterable[ItemRequest], notices: dict[int, NoticeView]) -> list[FormItem]:
    rows = []
    for item in items:
        if item.kind == "notice" and item.notice_id is not None:
            notice = notices.get(item.notice_id)
            title = notice.title if notice else f"（已不存在的通知 {item.notice_id}）"
            ms = notice.audio_duration_ms if notice else 0
            kind = notice.kind if notice else "notice"
            rows.append(FormItem(f"notice:{item.notice_id}", title, ms, kind))
        elif item.kind == "chime":
            rows.append(FormItem("chime", "提示音", CHIME_MS, "chime"))
        else:
            seconds = item.seconds or 0
            rows.append(
                FormItem(f"silence:{seconds}", f"静音 {seconds} 秒", seconds * 1000, "silence")
            )
    return rows


def apply_op(op: str, items: list[ItemRequest], form: dict[str, str]) -> list[ItemRequest]:
    """The form's buttons without script: move, remove, add. Returns the new order."""
    items = list(items)
    action, _, arg = op.partition(":")
    index = int(arg) if arg.isdigit() else -1
    if action in ("up", "down", "remove") and not 0 <= index < len(items):
        raise ValidationFailed("节目项已变化，请重试", "items")
    if action == "up" and index > 0:
        items[index - 1], items[index] = items[index], items[index - 1]
    elif action == "down" and index < len(items) - 1:
        items[index + 1], items[index] = items[index], items[index + 1]
    elif action == "remove":
        del items[index]
    elif action == "add_notice":
        chosen = form.get("add_notice", "")
        if not chosen.isdigit():
            raise ValidationFailed("请先选择要加入的通知或录音", "add_notice")
        items.append(ItemRequest("notice", notice_id=int(chosen)))
    elif action == "add_chime":
        items.append(ItemRequest("chime"))
    elif action == "add_silence":
        text = form.get("silence", "").strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_SILENCE_SECONDS:
            raise ValidationFailed(f"静音须为 1–{MAX_SILENCE_SECONDS} 秒", "silence")
        items.append(ItemRequest("silence", seconds=int(text)))
    if len(items) > MAX_ITEMS:
        raise ValidationFailed(f"节目单最多 {MAX_ITEMS} 项", "items")
    return items


def _choices(notices: Sequence[NoticeView]) -> list[NoticeView]:
    return [n for n in notices if n.kind != PROGRAMME_KIND]


def _page(
    programme: ProgrammeView | None,
    name: str,
    items: list[ItemRequest],
    form: dict[str, str],
    errors: dict[str, str],
    status: int,
) -> Response:
    notices = services().list_notices()
    rows = form_items(items, {n.id: n for n in notices})
    html = render_template(
        "programmes/edit.html",
        programme=programme,
        name=name,
        items=rows,
        total_ms=sum(r.ms for r in rows),
        notices=_choices(notices),
        form=form,
        errors=errors,
        chime_ms=CHIME_MS,
        max_silence=MAX_SILENCE_SECONDS,
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/programmes")
def index() -> ResponseReturnValue:
    return render_template("programmes/index.html", programmes=services().list_programmes())


@bp.get("/programmes/new")
def new() -> ResponseReturnValue:
    return _page(None, "", [], {"silence": str(DEFAULT_SILENCE)}, {}, 200)


@bp.get("/programmes/<int:programme_id>/edit")
def edit(programme_id: int) -> ResponseReturnValue:
    prog = services().get_programme(programme_id)
    items = [ItemRequest(i.kind, i.notice_id, i.seconds) for i in prog.items]
    return _page(prog, prog.name, items, {"silence": str(DEFAULT_SILENCE)}, {}, 200)


def _submit(programme_id: int | None) -> ResponseReturnValue:
    svc = services()
    prog = svc.get_programme(programme_id) if programme_id is not None else None
    name = request.form.get("name", "")
    form = {k: request.form.get(k, "") for k in ("add_notice", "silence")}
    try:
        items = [parse_item(v) for v in request.form.getlist("items")]
    except ValidationFailed as exc:
        return _page(prog, name, [], form, errors_for(exc, FIELDS), 400)
    op = request.form.get("op", "")
    if op:  # a button pressed without script: show the changed list, save nothing yet
        try:
            items = apply_op(op, items, form)
        except ValidationFailed as exc:
            return _page(prog, name, items, form, errors_for(exc, FIELDS), 400)
        return _page(prog, name, items, form, {}, 200)
    user = session_user()
    try:
        saved = svc.save_programme(
            ProgrammeRequest(name, items), programme_id, user.username if user else ""
        )
    except CunxiangError as exc:
        return _page(prog, name, items, form, errors_for(exc, FIELDS), 400)
    logger.info("programme %s saved by %s", saved.id, user.username if user else "?")
    flash(f"节目单“{saved.name}”已保存：{len(saved.items)} 项", "ok")
    return redirect(url_for("programmes.index") + f"#programme-{saved.id}")


@bp.post("/programmes/new")
def create() -> ResponseReturnValue:
    return _submit(None)


@bp.post("/programmes/<int:programme_id>/edit")
def update(programme_id: int) -> ResponseReturnValue:
    return _submit(programme_id)


@bp.post("/programmes/<int:programme_id>/delete")
def delete(programme_id: int) -> ResponseReturnValue:
    svc = services()
    try:
        prog = svc.get_programme(programme_id)
        svc.delete_programme(programme_id)
    except NotFound:
        raise
    except CunxiangError as exc:
        flash(str(exc), "bad")
        return redirect(url_for("programmes.index"))
    flash(f"节目单“{prog.name}”已删除", "ok")
    return redirect(url_for("programmes.index"))
