"""Panel login and access: Flask-Login over ``Services.authenticate``, a limit on failed
attempts, sessions that end (``web.session_hours`` after login, ``web.idle_minutes``
without a request), and the role of the account checked on every route (``web.access``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user, login_user, logout_user

from broadcast import audit
from broadcast.accounts import UserView
from web import access
from web.context import services
from web.errors import json_error, wants_json
from web.ratelimit import LoginLimiter

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

_LIMITER = "cunxiang.login_limiter"
TOO_MANY = "登录失败次数过多，请 5 分钟后再试"
WRONG = "用户名或密码错误"
FORBIDDEN = "没有权限：当前账号的角色不能进行这项操作"
IDLE = "长时间未操作，已自动退出，请重新登录"
_SEEN = "seen"  # session key: when the session last made a request (epoch seconds)
# Real elapsed time for idle sessions (not the domain clock, which tests move in hours);
# tests replace it in ``app.extensions``.
SESSION_CLOCK = "cunxiang.session_clock"


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

    @property
    def role(self) -> str:
        return self.view.role

    def may(self, permission: str) -> bool:
        return self.view.may(permission)

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
    app.extensions.setdefault(SESSION_CLOCK, time.time)
    with app.app_context():
        hours = services().settings.web.session_hours
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=hours)
    app.register_blueprint(bp)
    app.before_request(guard)
    app.teardown_request(_forget_actor)


def _session_now() -> float:
    clock = cast(Callable[[], float], current_app.extensions[SESSION_CLOCK])
    return clock()


def _forget_actor(_exc: BaseException | None) -> None:
    audit.set_actor(None)


def _idle_expired() -> bool:
    """True (and the session ended) when it went unused longer than ``web.idle_minutes``."""
    now = _session_now()
    seen = session.get(_SEEN)
    limit = services().settings.web.idle_minutes * 60
    if isinstance(seen, int | float) and now - seen > limit:
        logout_user()
        session.clear()
        return True
    # Written at most once a minute, so that polling pages do not rewrite the cookie always.
    if not isinstance(seen, int | float) or now - seen >= 60:
        session[_SEEN] = int(now)
    return False


def forbidden() -> Response:
    if wants_json():
        return json_error(403, FORBIDDEN, "forbidden")
    html = render_template("error.html", status=403, message=FORBIDDEN)
    return Response(html, status=403, mimetype="text/html")


def guard() -> ResponseReturnValue | None:
    """``before_request`` of the whole app: names the actor for the audit log, sends anyone
    not logged in to the login page (401 JSON under /media) and refuses a route the
    account's role may not use (403). The API authenticates itself (``authorize``)."""
    audit.set_actor(None)
    endpoint = request.endpoint
    if access.is_public(endpoint) or request.blueprint == "api":
        user = session_user()
        if user is not None:
            audit.set_actor(user.username)
        return None
    assert endpoint is not None
    user = session_user()
    if user is not None and _idle_expired():
        user = None
        if request.method in ("GET", "HEAD"):
            flash(IDLE, "bad")
    if user is None:
        return require_login()
    audit.set_actor(user.username)
    if not user.may(access.permission_for(endpoint, request.method)):
        logger.info("%s (%s) refused %s %s", user.username, user.role, request.method, request.path)
        return forbidden()
    return None


def authorize(view: UserView) -> ResponseReturnValue | None:
    """For the API, once it knows who calls: name the actor and check the role."""
    audit.set_actor(view.username)
    endpoint = request.endpoint or ""
    if not view.may(access.permission_for(endpoint, request.method)):
        logger.info("%s (%s) refused %s %s", view.username, view.role, request.method, request.path)
        return json_error(403, FORBIDDEN, "forbidden")
    return None


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
    session[_SEEN] = int(_session_now())
    services().record_login(user.id, user.username, request.remote_addr)
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
