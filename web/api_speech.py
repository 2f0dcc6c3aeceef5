"""API ``/api/v1`` for speech: the pronunciation lexicon, recordings uploaded as notices, and
rendering a notice again. The routes join the ``api`` blueprint (same authentication)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from broadcast.errors import ValidationFailed
from web import serialize
from web.api import _body, _created, _username, bp
from web.context import services
from web.errors import MESSAGES, json_error
from web.uploads import UPLOAD_MB, chosen_file, saved_upload, sound_from_form

logger = logging.getLogger(__name__)


def create_recording() -> ResponseReturnValue:
    """``POST /notices`` as multipart: ``title``, the ``audio`` file, optional ``body``
    (a transcript), ``repeat`` and ``chime``."""
    form = request.form
    upload = chosen_file(request.files)
    if upload is None:
        raise ValidationFailed("请在 audio 字段上传录音文件", "audio")
    with saved_upload(upload) as path:
        view = services().add_recording(
            form.get("title", ""),
            path,
            upload.filename or "",
            _username(),
            sound_from_form(form),
            form.get("body", ""),
        )
    logger.info("recording notice %s created by %s via the API", view.id, view.created_by)
    return _created(serialize.notice(view), url_for("api.notice", notice_id=view.id))


@bp.post("/notices/<int:notice_id>/render")
def render_notice(notice_id: int) -> ResponseReturnValue:
    """重新合成: the notice's text again, with the current lexicon."""
    view = services().rerender_notice(notice_id)
    logger.info("notice %s rendered again by %s via the API", notice_id, _username())
    return jsonify(serialize.notice(view))


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge) -> ResponseReturnValue:
    if request.endpoint == "api.create_notice":
        return json_error(413, f"录音文件不能超过 {UPLOAD_MB} MB")
    return json_error(413, MESSAGES[413])


# -- the pronunciation lexicon -----------------------------------------------------------


def _entry_fields(data: dict[str, Any]) -> tuple[str, str, str]:
    values = []
    for name, label in (("term", "词语"), ("replacement", "读法"), ("note", "备注")):
        value = data.get(name, "")
        if value is None and name == "note":
            value = ""
        if not isinstance(value, str):
            raise ValidationFailed(f"{label}须为字符串", name)
        values.append(value)
    return values[0], values[1], values[2]


@bp.get("/lexicon")
def lexicon() -> ResponseReturnValue:
    return jsonify(entries=serialize.jsonable(services().list_lexicon()))


@bp.post("/lexicon")
def add_lexicon_entry() -> ResponseReturnValue:
    term, replacement, note = _entry_fields(_body())
    view = services().add_lexicon_entry(term, replacement, note, _username())
    location = url_for("api.lexicon_entry", entry_id=view.id)
    return _created(serialize.jsonable(view), location)


@bp.get("/lexicon/<int:entry_id>")
def lexicon_entry(entry_id: int) -> ResponseReturnValue:
    return jsonify(serialize.jsonable(services().get_lexicon_entry(entry_id)))


@bp.put("/lexicon/<int:entry_id>")
def replace_lexicon_entry(entry_id: int) -> ResponseReturnValue:
    term, replacement, note = _entry_fields(_body())
    view = services().update_lexicon_entry(entry_id, term, replacement, note)
    return jsonify(serialize.jsonable(view))


@bp.delete("/lexicon/<int:entry_id>")
def delete_lexicon_entry(entry_id: int) -> ResponseReturnValue:
    services().delete_lexicon_entry(entry_id)
    return Response(status=204)


# -- how a village hears notices: voice, speech rate, audio format ----------------------------


def _sound_json(village_id: int) -> dict[str, Any]:
    sound = services().village_sound(village_id)
    return {"voice": sound.voice, "rate": sound.rate, "audio_format": sound.audio_format}


@bp.get("/villages/<int:village_id>/sound")
def village_sound(village_id: int) -> ResponseReturnValue:
    return jsonify(_sound_json(village_id))


@bp.put("/villages/<int:village_id>/sound")
def set_village_sound(village_id: int) -> ResponseReturnValue:
    """``{"voice": null, "rate": 120, "audio_format": "opus"}``: null is the default. The
    variants the village's schedules need are rendered before this returns."""
    data = _body()
    voice, rate, fmt = data.get("voice"), data.get("rate"), data.get("audio_format", "mp3")
    if voice is not None and not isinstance(voice, str):
        raise ValidationFailed("voice 须为字符串或 null", "voice")
    if rate is not None and (not isinstance(rate, int) or isinstance(rate, bool)):
        raise ValidationFailed("rate 须为整数或 null", "rate")
    if not isinstance(fmt, str):
        raise ValidationFailed("audio_format 须为 mp3 或 opus", "audio_format")
    services().set_village_sound(village_id, voice, rate, fmt)
    logger.info("village %s sound set by %s via the API", village_id, _username())
    return jsonify(_sound_json(village_id))


def check_registered(app: Flask) -> None:
    """Fail at start-up, not on first use, if these routes missed the app."""
    if "api.lexicon" not in app.view_functions:
        raise RuntimeError("web.api_speech was imported after the api blueprint was registered")
