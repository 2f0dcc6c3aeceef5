"""Panel login: Flask-Login over ``Services.authenticate``, with a limit on failed attempts."""

from __future__ import annotations

import logging
import time
from typing import cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user, login_user, logout_user

from broadcast.accounts import UserView
from web.context import services
from web.ratelimit import LoginLimiter

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

_LIMITER = "cunxiang.login_limiter"
TOO_MANY = "登录失败次数过多，请 5 分钟后再试"
WRONG = "用户名或密码错误"


class PanelUser:
    """The Flask-Login user: a ``UserView`` with the attributes Flask-Login expects."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, view: UserView) -> None:
        self.view = view

    @property
    def is_active(self) -> bool:
        return self.view.active

    @property
    def username(self) -> str:
        return self.view.username

    def get_id(self) -> str:
        return str(self.view.id)


def _load_user(user_id: str) -> PanelUser | None:
    if not user_id.isdigit():
        return None
    view = services().get_user(int(user_id))
    return PanelUser(view) if view is not None else None


def setup(app: Flask) -> None:
    manager = LoginManager()
    manager.user_loader(_load_user)
    manager.init_app(app)
    app.extensions[_LIMITER] = LoginLimiter(time.monotonic)
    app.register_blueprint(bp)


def limiter() -> LoginLimiter:
    return cast(LoginLimiter, current_app.extensions[_LIMITER])


def session_user() -> PanelUser | None:
    """The user logged in through the session cookie, if any."""
    user = current_user
    if user is not None and user.is_authenticated and isinstance(user, PanelUser):
        return user
    return None


def check_credentials(username: str, password: str) -> tuple[UserView | None, bool]:
    """(user, blocked): authenticate one attempt, counting failures per username and address."""
    key = LoginLimiter.key(username, request.remote_addr)
    lim = limiter()
    if lim.blocked(key):
        logger.warning("login blocked for %r from %s", username, request.remote_addr)
        return None, True
    user = services().authenticate(username, password)
    if user is None:
        lim.record_failure(key)
        logger.info("failed login for %r from %s", username, request.remote_addr)
    else:
        lim.reset(key)
    return user, False


def require_login() -> ResponseReturnValue | None:
    """``before_request`` hook of every panel blueprint."""
    if session_user() is not None:
        return None
    if request.method not in ("GET", "HEAD"):
        return redirect(url_for("auth.login"))
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))


def safe_next(target: str | None) -> str:
    """Only a local path may follow a login; anything else goes to the start page."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("notices.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        if session_user() is not None:
            return redirect(safe_next(request.args.get("next")))
        return render_template("login.html", username="", error=None)
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not username or not password:
        return _login_failed(username, "请填写用户名和密码", 400)
    user, blocked = check_credentials(username, password)
    if blocked:
        return _login_failed(username, TOO_MANY, 429)
    if user is None:
        return _login_failed(username, WRONG, 401)
    session.clear()
    login_user(PanelUser(user))
    session.permanent = True
    logger.info("user %s logged in", user.username)
    return redirect(safe_next(request.args.get("next")))


def _login_failed(username: str, message: str, status: int) -> Response:
    html = render_template("login.html", username=username, error=message)
    return Response(html, status=status, mimetype="text/html")


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
