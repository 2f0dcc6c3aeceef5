"""Panel: the audit log (审计日志, admins only): who changed what and when, before and after,
newest first, with a check of the hash chain."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, render_template, request
from flask.typing import ResponseReturnValue

from broadcast.audit import MASK

bp = Blueprint("audit", __name__)

PAGE = 50
ACTIONS = {
    "insert": "新建",
    "update": "修改",
    "delete": "删除",
    "login": "登录",
    "reset_password": "重置密码",
    "confirm_emergency": "确认应急广播",
}
TABLES = {
    "notices": "通知",
    "schedules": "播放计划",
    "broadcasts": "广播",
    "users": "账号",
    "villages": "村庄",
    "loudspeakers": "喇叭",
    "zones": "区域",
    "areas": "乡镇",
    "lexicon_entries": "读音表",
    "programmes": "节目单",
    "volume_ceilings": "音量上限",
}


def _short(value: Any) -> str:
    if value is None:
        return "—"
    if value == MASK:
        return "（已修改，不显示）"
    text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return text if len(text) <= 80 else text[:79] + "…"


def changed_fields(changes: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, before, after) for display; inserts and deletes show one side."""
    before = changes.get("before") or {}
    after = changes.get("after") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    keys = list(dict.fromkeys([*after, *before]))
    return [(k, _short(before.get(k)), _short(after.get(k))) for k in keys]


def setup(app: Flask) -> None:
    app.add_template_global(changed_fields, "audit_fields")
    app.register_blueprint(bp)


@bp.get("/audit")
def index() -> ResponseReturnValue:
    from web.context import services

    svc = services()
    args = request.args
    before_id = args.get("before", type=int)
    actor = args.get("actor") or None
    table = args.get("table") or None
    row = args.get("row") or None
    entries = svc.audit_entries(PAGE + 1, before_id, actor, table, row)
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    check = svc.verify_audit() if args.get("verify") else None
    return render_template(
        "audit/index.html",
        entries=entries,
        more=more,
        next_before=entries[-1].id if entries else None,
        actor=actor or "",
        table=table or "",
        row=row or "",
        check=check,
        actions=ACTIONS,
        tables=TABLES,
    )
