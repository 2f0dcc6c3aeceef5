"""Panel: how a village hears notices — voice, speech rate and audio format (村庄 → 播音)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from broadcast.errors import ValidationFailed
from broadcast.variants import FORMAT_LABELS, VillageSound
from web.auth import require_login, session_user
from web.context import services
from web.forms import errors_for
from web.notice_form import RATES, VOICES

logger = logging.getLogger(__name__)

bp = Blueprint("village_sound", __name__)
bp.before_request(require_login)

FIELDS = ("voice", "rate", "audio_format")


def sound_label(sound: VillageSound) -> str:
    """Short, for the village list: ``默认（MP3）``, ``语速较慢 · Opus``, ``cmn · MP3``."""
    default = services().settings.audio.voice
    parts = []
    if sound.voice is not None and sound.voice != default:
        parts.append(dict(VOICES).get(sound.voice, sound.voice).split("（")[0])
    if sound.rate is not None:
        parts.append(f"语速{dict(RATES).get(sound.rate, str(sound.rate))}")
    fmt = "Opus" if sound.audio_format == "opus" else "MP3"
    return " · ".join([*parts, fmt]) if parts or fmt != "MP3" else "默认（MP3）"


@bp.app_context_processor
def _helpers() -> dict[str, object]:
    def village_sound_label(village_id: int) -> str:
        return sound_label(services().village_sound(village_id))

    return {"village_sound_label": village_sound_label}


def _page(village_id: int, form: dict[str, str], errors: dict[str, str], status: int) -> Response:
    svc = services()
    a = svc.settings.audio
    village = svc.find_village(village_id)
    voices = [("", f"默认（{dict(VOICES).get(a.voice, a.voice)}）"), *VOICES]
    if form["voice"] and form["voice"] not in dict(voices):
        voices.append((form["voice"], form["voice"]))
    rates = [("", f"默认（{a.rate}）"), *((str(r), f"{label}（{r}）") for r, label in RATES)]
    if form["rate"] and form["rate"] not in dict(rates):
        rates.append((form["rate"], form["rate"]))
    html = render_template(
        "villages/sound.html",
        village=village,
        form=form,
        errors=errors,
        voices=voices,
        rates=rates,
        formats=list(FORMAT_LABELS.items()),
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/villages/<int:village_id>/sound")
def edit(village_id: int) -> ResponseReturnValue:
    sound = services().village_sound(village_id)
    form = {
        "voice": sound.voice or "",
        "rate": "" if sound.rate is None else str(sound.rate),
        "audio_format": sound.audio_format,
    }
    return _page(village_id, form, {}, 200)


@bp.post("/villages/<int:village_id>/sound")
def save(village_id: int) -> ResponseReturnValue:
    form = {name: request.form.get(name, "").strip() for name in FIELDS}
    try:
        if form["rate"] and not form["rate"].isdigit():
            raise ValidationFailed("语速须为整数", "rate")
        rate = int(form["rate"]) if form["rate"] else None
        saved = services().set_village_sound(
            village_id, form["voice"] or None, rate, form["audio_format"] or "mp3"
        )
    except ValidationFailed as exc:
        return _page(village_id, form, errors_for(exc, FIELDS), 400)
    village = services().find_village(village_id)
    user = session_user()
    logger.info("sound of %s set to %s by %s", village.name, saved, user.username if user else "?")
    flash(f"{village.name}的播音设置：{sound_label(saved)}", "ok")
    return redirect(url_for("villages.index"))
