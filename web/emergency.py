"""Panel: the emergency console (应急广播). Choose, confirm the exact targets, send.

Two steps on the server, no script needed: the form posts to ``confirm``, which shows the
targets and their loudspeaker count with a signed, expiring confirmation; only ``send`` with
that confirmation sends. Each confirmation sends at most once (per web process), so a double
tap or a resubmitted page does not send twice.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from broadcast.errors import CunxiangError, NotFound, ValidationFailed
from web.auth import require_login, session_user
from web.context import services
from web.emergency_confirm import awaiting_confirmation, waiting_message
from web.emergency_inputs import (
    DEFAULT_REPEAT,
    FORM_FIELDS,
    OTHER_EVENT,
    REPEAT_CHOICES,
    emergency_from_form,
)
from web.forms import errors_for

logger = logging.getLogger(__name__)

bp = Blueprint("emergency", __name__)
bp.before_request(require_login)

CONFIRM_SECONDS = 600
_SALT = "cunxiang.emergency.confirm"
_SENT = "cunxiang.emergency.sent"
TEXT_FIELDS = ("notice_id", "severity", "event_type", "event_type_other", "repeat", "drill")


class SentConfirmations:
    """Confirmations already used, each remembered with the broadcast it sent."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[str, tuple[float, int | None]] = {}
        self._lock = threading.Lock()

    def claim(self, nonce: str) -> tuple[bool, int | None]:
        """(True, None) for a fresh confirmation; (False, broadcast id or None) if used."""
        with self._lock:
            now = self._clock()
            for key, (at, _) in list(self._seen.items()):
                if at < now - 2 * CONFIRM_SECONDS:
                    del self._seen[key]
            if nonce in self._seen:
                return False, self._seen[nonce][1]
            self._seen[nonce] = (now, None)
            return True, None

    def settle(self, nonce: str, broadcast_id: int) -> None:
        with self._lock:
            self._seen[nonce] = (self._clock(), broadcast_id)

    def release(self, nonce: str) -> None:
        with self._lock:
            self._seen.pop(nonce, None)


def setup(app: Flask) -> None:
    app.extensions[_SENT] = SentConfirmations()
    app.register_blueprint(bp)


def _sent() -> SentConfirmations:
    return cast(SentConfirmations, current_app.extensions[_SENT])


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(current_app.secret_key), salt=_SALT)


def _username() -> str:
    user = session_user()
    return user.username if user is not None else ""


def _blank() -> dict[str, str]:
    values = dict.fromkeys(TEXT_FIELDS, "")
    values["repeat"] = str(DEFAULT_REPEAT)
    return values


def _form_page(
    form: dict[str, str],
    checked: list[str],
    errors: dict[str, str],
    status: int,
    zones: list[str] | None = None,
) -> Response:
    svc = services()
    html = render_template(
        "emergency/index.html",
        villages=svc.list_villages(),
        zones=svc.list_zones(),
        notices=svc.list_notices(),
        form=form,
        checked=set(checked),
        checked_zones=set(zones or []),
        errors=errors,
        repeat_choices=REPEAT_CHOICES,
        other_event=OTHER_EVENT,
        pending=awaiting_confirmation(),
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/emergency")
def index() -> ResponseReturnValue:
    return _form_page(_blank(), [], {}, 200)


def _posted() -> tuple[dict[str, str], list[str], list[str]]:
    form = {name: request.form.get(name, "") for name in TEXT_FIELDS}
    return form, request.form.getlist("villages"), request.form.getlist("zones")


@bp.post("/emergency/confirm")
def confirm() -> ResponseReturnValue:
    """Step one: check the choices and show exactly what will be sent where."""
    svc = services()
    form, checked, zones = _posted()
    try:
        req = emergency_from_form(form, checked, zones)
        notice = svc.get_notice(req.notice_id)
    except NotFound as exc:
        return _form_page(form, checked, {"notice_id": str(exc)}, 400, zones)
    except ValidationFailed as exc:
        return _form_page(form, checked, errors_for(exc, FORM_FIELDS), 400, zones)
    try:
        targets = svc.check_emergency(req)
    except NotFound as exc:  # a village or zone removed since the form was shown
        return _form_page(form, checked, {"villages": str(exc)}, 400, zones)
    except ValidationFailed as exc:
        return _form_page(form, checked, errors_for(exc, FORM_FIELDS), 400, zones)
    payload = {
        "form": form,
        "villages": checked,
        "zones": zones,
        "user": _username(),
        "nonce": uuid.uuid4().hex,
    }
    html = render_template(
        "emergency/confirm.html",
        req=req,
        notice=notice,
        targets=targets,
        confirmation=_signer().dumps(payload),
        minutes=CONFIRM_SECONDS // 60,
    )
    return Response(html, mimetype="text/html")


def _payload(token: str, max_age: int | None) -> dict[str, Any]:
    try:
        data = _signer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise
    except BadSignature:
        raise ValidationFailed("确认信息无效，请重新填写应急广播") from None
    if not isinstance(data, dict) or data.get("user") != _username():
        raise ValidationFailed("确认信息无效，请重新填写应急广播")
    # Signed by this app, so the shape is ours; copy it into plain strings all the same.
    return {
        "form": {str(k): str(v) for k, v in dict(data["form"]).items()},
        "villages": [str(v) for v in data["villages"]],
        "zones": [str(z) for z in data.get("zones", [])],
        "nonce": str(data["nonce"]),
    }


@bp.post("/emergency/send")
def send() -> ResponseReturnValue:
    """Step two: send what was confirmed, once; or go back to change it."""
    token = request.form.get("confirmation", "")
    if request.form.get("action") == "edit":
        data = _payload(token, None)
        return _form_page(data["form"], data["villages"], {}, 200, data["zones"])
    try:
        data = _payload(token, CONFIRM_SECONDS)
    except SignatureExpired:
        data = _payload(token, None)
        message = f"确认已超过 {CONFIRM_SECONDS // 60} 分钟，请重新核对后再发送"
        return _form_page(data["form"], data["villages"], {"_form": message}, 400, data["zones"])
    form, checked, zones = data["form"], data["villages"], data["zones"]
    nonce = str(data["nonce"])
    fresh, earlier = _sent().claim(nonce)
    if not fresh:
        flash("这条应急广播已经提交，没有重复发送", "ok")
        return redirect(
            url_for("log.index", broadcast_id=earlier) if earlier else url_for("emergency.index")
        )
    try:
        req = emergency_from_form(form, checked, zones)
        outcome = services().request_emergency(req, _username())
    except CunxiangError as exc:
        _sent().release(nonce)
        return _form_page(form, checked, errors_for(exc, FORM_FIELDS), 400, zones)
    if outcome.broadcast is None:  # more than one village: a second person confirms
        flash(waiting_message(outcome.village_count), "ok")
        return redirect(url_for("emergency.index") + f"#pending-{outcome.schedule_id}")
    broadcast = outcome.broadcast
    _sent().settle(nonce, broadcast.id)
    kind = "演练" if req.drill else "应急广播"
    logger.warning(
        "%s %s sent by %s to villages %s, zones %s: %d loudspeakers",
        "drill" if req.drill else "emergency",
        broadcast.id,
        _username(),
        checked,
        zones,
        broadcast.targeted,
    )
    flash(f"{kind}已发出：{broadcast.targeted} 个喇叭。如需停止，点“立即停止”。", "ok")
    return redirect(url_for("log.index", broadcast_id=broadcast.id))
