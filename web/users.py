"""Panel: accounts (账号, admins only): add, change role, name and scope, deactivate, reset a
password; and each user's own password (修改密码)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from broadcast.accounts import ROLE_LABELS, ROLES, UserView, generate_password
from broadcast.errors import CunxiangError, NotFound, ValidationFailed
from web.auth import session_user
from web.context import services
from web.forms import errors_for

logger = logging.getLogger(__name__)

bp = Blueprint("users", __name__)
account_bp = Blueprint("account", __name__)

ROLE_HELP = {
    "admin": "全部功能，包括账号和审计日志",
    "editor": "写通知、排播放计划、发应急广播",
    "reviewer": "试听并审核通知和计划，确认应急广播",
    "operator": "管理喇叭和村庄设置，查看记录；不能改内容",
}
ADD_FIELDS = ("username", "full_name", "role", "password")
EDIT_FIELDS = ("full_name", "role", "active", "scope")


def _choices() -> dict[str, object]:
    svc = services()
    return {
        "roles": [(r, ROLE_LABELS[r], ROLE_HELP[r]) for r in ROLES],
        "areas": [a for a in svc.list_areas() if a.level in ("county", "town")],
        "villages": svc.list_villages(),
    }


def _index(form: dict[str, str], errors: dict[str, str], status: int) -> Response:
    html = render_template(
        "users/index.html", users=services().list_users(), form=form, errors=errors, **_choices()
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/users")
def index() -> ResponseReturnValue:
    return _index({"role": "editor"}, {}, 200)


@bp.post("/users")
def add() -> ResponseReturnValue:
    svc = services()
    form = {name: request.form.get(name, "").strip() for name in ADD_FIELDS}
    password = form["password"] or generate_password()
    try:
        view = svc.add_user(form["username"], password, form["role"])
        if form["full_name"]:
            svc.update_user(view.id, full_name=form["full_name"])
    except CunxiangError as exc:
        form["password"] = ""
        return _index(form, errors_for(exc, ADD_FIELDS), 400)
    logger.info("account %s (%s) added from the panel", view.username, view.role)
    if form["password"]:
        flash(f"已添加账号 {view.username}", "ok")
    else:
        flash(f"已添加账号 {view.username}，初始密码：{password}（只显示这一次，请转告本人）", "ok")
    return redirect(url_for("users.edit", user_id=view.id))


def _edit_page(
    user: UserView, form: dict[str, object], errors: dict[str, str], status: int
) -> Response:
    html = render_template("users/edit.html", user=user, form=form, errors=errors, **_choices())
    return Response(html, status=status, mimetype="text/html")


def _form_of(user: UserView) -> dict[str, object]:
    return {
        "full_name": user.full_name,
        "role": user.role,
        "active": user.active,
        "towns": set(user.town_ids),
        "villages": set(user.village_ids),
    }


@bp.get("/users/<int:user_id>")
def edit(user_id: int) -> ResponseReturnValue:
    user = services().find_user(user_id)
    return _edit_page(user, _form_of(user), {}, 200)


def _ids(name: str) -> list[str | int]:
    return [int(v) for v in request.form.getlist(name) if v.isdigit()]


@bp.post("/users/<int:user_id>")
def update(user_id: int) -> ResponseReturnValue:
    svc = services()
    user = svc.find_user(user_id)
    towns, villages = _ids("towns"), _ids("villages")
    form: dict[str, object] = {
        "full_name": request.form.get("full_name", ""),
        "role": request.form.get("role", ""),
        "active": request.form.get("active") == "on",
        "towns": set(towns),
        "villages": set(villages),
    }
    me = session_user()
    if me is not None and me.view.id == user.id and not form["active"]:
        return _edit_page(user, form, {"active": "不能停用自己正在使用的账号"}, 400)
    try:
        svc.update_user(
            user.id,
            role=str(form["role"]),
            active=bool(form["active"]),
            full_name=str(form["full_name"]),
        )
        svc.set_user_scope(user.id, towns, villages)
    except NotFound as exc:
        return _edit_page(user, form, {"scope": str(exc)}, 400)
    except ValidationFailed as exc:
        return _edit_page(user, form, errors_for(exc, EDIT_FIELDS), 400)
    flash(f"账号 {user.username} 已保存", "ok")
    return redirect(url_for("users.index"))


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id: int) -> ResponseReturnValue:
    password = generate_password()
    view = services().reset_password(user_id, password)
    logger.info("password of %s reset from the panel", view.username)
    flash(f"{view.username} 的新密码：{password}（只显示这一次，请转告本人）", "ok")
    return redirect(url_for("users.edit", user_id=view.id))


# -- one's own password ---------------------------------------------------------------------


def _password_page(errors: dict[str, str], status: int) -> Response:
    html = render_template("users/password.html", errors=errors)
    return Response(html, status=status, mimetype="text/html")


@account_bp.get("/account/password")
def password() -> ResponseReturnValue:
    return _password_page({}, 200)


@account_bp.post("/account/password")
def change_password() -> ResponseReturnValue:
    me = session_user()
    assert me is not None  # the guard let only logged-in users in
    new, again = request.form.get("new", ""), request.form.get("again", "")
    if new != again:
        return _password_page({"again": "两次输入的新密码不一致"}, 400)
    try:
        services().change_own_password(me.view.id, request.form.get("current", ""), new)
    except ValidationFailed as exc:
        field = "new" if exc.field == "password" else exc.field or "_form"
        return _password_page({field: str(exc)}, 400)
    flash("密码已修改", "ok")
    return redirect(url_for("notices.index"))
