"""``/media/<sha256>.mp3`` and ``.opus``: audio for loudspeakers (expiring token) and the
panel (session)."""

from __future__ import annotations

import io
import logging

from flask import Blueprint, abort, request, send_file
from flask.typing import ResponseReturnValue

from broadcast.media import media_type
from web.auth import session_user
from web.context import services

logger = logging.getLogger(__name__)

bp = Blueprint("media", __name__)


def _token_ok(sha256: str) -> bool | None:
    """True/False for a presented token, None when the request carries none."""
    exp, token = request.args.get("exp"), request.args.get("token")
    if exp is None and token is None:
        return None
    if exp is None or token is None or not exp.isdigit() or len(exp) > 12:
        return False
    return services().check_media_token(sha256, int(exp), token)


@bp.get("/media/<sha256>.mp3")
def audio(sha256: str) -> ResponseReturnValue:
    return _serve(sha256, "mp3")


@bp.get("/media/<sha256>.opus")
def audio_opus(sha256: str) -> ResponseReturnValue:
    return _serve(sha256, "opus")


def _serve(sha256: str, ext: str) -> ResponseReturnValue:
    mimetype = media_type(ext)
    if mimetype is None:
        abort(404)
    if session_user() is None:
        granted = _token_ok(sha256)
        if granted is None:
            abort(401)
        if not granted:
            logger.info(
                "refused media %s for %s: bad or expired token", sha256, request.remote_addr
            )
            abort(403)
    path = services().media_path(sha256, ext)
    if path is None:
        abort(404)
    # Sent from memory (a notice's audio is a few MB at most): werkzeug's threaded server
    # leaves an open file unclosed when a player drops the connection mid-download.
    body = io.BytesIO(path.read_bytes())
    response = send_file(body, mimetype=mimetype, conditional=True, etag=sha256)
    # Content-addressed, so it never changes; private because access is controlled.
    response.cache_control.no_cache = None
    response.cache_control.private = True
    response.cache_control.max_age = 86_400
    return response
