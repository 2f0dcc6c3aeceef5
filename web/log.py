"""Panel: the as-run (playback) log with filters, refreshed in place while broadcasts play;
a broadcast's detail page (播出记录详情); CSV and XLSX export; stopping a broadcast."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue

from broadcast.asrun import LogFilter, LogPage
from broadcast.errors import ValidationFailed
from web import exports, outcomes
from web.auth import require_login, session_user
from web.context import services, zone
from web.inputs import optional_date, optional_int

logger = logging.getLogger(__name__)

bp = Blueprint("log", __name__)
bp.before_request(require_login)
bp.record_once(lambda state: outcomes.register(state.app))

REFRESH_SECONDS = 5
PER_PAGE = 20
XLSX_MAX_ROWS = 100_000


def scope() -> list[int] | None:
    """The villages the current account may see (its scope); None for all."""
    visible = services().visible_village_ids()
    return None if visible is None else sorted(visible)


def parse_filter(args: Mapping[str, str]) -> LogFilter:
    """The log filter from query-string arguments; ValidationFailed names the bad field."""
    outcome = (args.get("outcome") or "").strip() or None
    return LogFilter(
        start=optional_date(args.get("start"), "start", "开始日期"),
        end=optional_date(args.get("end"), "end", "结束日期"),
        village_id=optional_int(args.get("village_id"), "village_id", "村"),
        notice_id=optional_int(args.get("notice_id"), "notice_id", "通知"),
        outcome=outcome,
        broadcast_id=optional_int(args.get("broadcast_id"), "broadcast_id", "广播编号"),
    ).check()


def _page_number() -> int:
    page = request.args.get("page", type=int) or 1
    return max(page, 1)


def _with_page(args: dict[str, str]) -> dict[str, Any]:
    page = _page_number()
    return args | {"page": str(page)} if page > 1 else dict(args)


def _log(f: LogFilter) -> LogPage:
    return services().asrun_page(f, scope(), _page_number() - 1, PER_PAGE)


@bp.get("/log")
def index() -> ResponseReturnValue:
    svc = services()
    errors: dict[str, str] = {}
    try:
        f = parse_filter(request.args)
        page: LogPage | None = _log(f)
    except ValidationFailed as exc:
        errors[exc.field or "start"] = str(exc)
        f, page = LogFilter(), None
    args = f.as_args()
    return render_template(
        "log/index.html",
        page=page,
        f=f,
        args=args,
        form=request.args,
        errors=errors,
        villages=svc.list_villages(),
        notices=svc.list_notices(),
        broadcast_id=f.broadcast_id,
        refresh=REFRESH_SECONDS,
        refresh_url=url_for("log.rows", **_with_page(args)),
    ), (400 if errors else 200)


@bp.get("/log/rows")
def rows() -> ResponseReturnValue:
    """The log body alone, for the page's polling script."""
    f = parse_filter(request.args)
    return render_template("log/_rows.html", page=_log(f), args=f.as_args())


@bp.get("/log/<int:broadcast_id>")
def detail(broadcast_id: int) -> ResponseReturnValue:
    found = services().broadcast_detail(broadcast_id, scope())
    return render_template("log/detail.html", d=found, g=found.summary)


def _filename(ext: str) -> str:
    stamp = services().now().astimezone(zone()).strftime("%Y%m%d-%H%M")
    return f"cunxiang-asrun-{stamp}.{ext}"


@bp.get("/log/export.csv")
def export_csv() -> ResponseReturnValue:
    f = parse_filter(request.args)
    rows = services().export_asrun(f, scope())
    response = Response(stream_with_context(exports.csv_chunks(rows, zone())), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename("csv")}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/log/export.xlsx")
def export_xlsx() -> ResponseReturnValue:
    f = parse_filter(request.args)
    svc = services()
    count = svc.count_asrun_rows(f, scope())
    if count > XLSX_MAX_ROWS:
        flash(
            f"符合条件的记录有 {count} 行，Excel 最多导出 {XLSX_MAX_ROWS} 行："
            "请缩小日期范围，或导出 CSV",
            "bad",
        )
        return redirect(url_for("log.index", **dict[str, Any](f.as_args())))
    book = exports.xlsx_file(svc.export_asrun(f, scope()), zone())
    response = send_file(
        book,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=_filename("xlsx"),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
def cancel(broadcast_id: int) -> ResponseReturnValue:
    """Stop a broadcast everywhere: unsent plays are withdrawn, the rest get a signed stop."""
    user = session_user()
    username = user.username if user is not None else ""
    stops = services().cancel_broadcast(broadcast_id, username)
    logger.warning("broadcast %s stopped from the panel by %s", broadcast_id, username)
    flash(f"广播 #{broadcast_id} 已停止，已向 {stops} 个喇叭发出停止指令", "ok")
    return redirect(url_for("log.index", broadcast_id=broadcast_id))
