"""The new-notice form: text read by the machine, or a recording; and how it sounds."""

from __future__ import annotations

from flask import Response, render_template, request

from audio import MAX_UPLOAD_BYTES
from audio.options import MAX_CLOSING_CHARS, MAX_REPEAT
from broadcast.errors import ValidationFailed
from broadcast.views import NoticeView
from web.context import services
from web.uploads import (
    SOUND_FIELDS,
    UPLOAD_ACCEPT,
    UPLOAD_MB,
    chosen_file,
    form_values,
    saved_upload,
    sound_from_form,
)

FIELDS = ("title", "body", "kind", "audio", *SOUND_FIELDS)
KINDS = ("text", "recording")
# Mandarin voices offered in the panel (the API takes any installed espeak-ng voice).
VOICES = (("cmn-latn-pinyin", "普通话（推荐）"), ("cmn", "普通话（按汉字直接读）"))
RATES = ((120, "较慢"), (135, "稍慢"), (150, "正常"), (165, "稍快"), (180, "较快"))


def defaults() -> dict[str, str]:
    a = services().settings.audio
    return {
        "voice": a.voice,
        "rate": str(a.rate),
        "repeat": str(a.repeat),
        "chime": "1" if a.chime else "",
        "closing": a.closing,
    }


def blank() -> dict[str, str]:
    return {"title": "", "body": "", "kind": "text", **defaults()}


def posted() -> dict[str, str]:
    form = request.form
    kind = form.get("kind", "")
    if kind not in KINDS:  # a client without the choice: a chosen file decides
        kind = "recording" if chosen_file(request.files) is not None else "text"
    return {
        "title": form.get("title", ""),
        "body": form.get("body", ""),
        "kind": kind,
        **form_values(form, defaults()),
    }


def save(form: dict[str, str], username: str) -> NoticeView:
    """Create the notice the form describes; raises ValidationFailed on a field."""
    sound = sound_from_form(request.form)
    if form["kind"] != "recording":
        return services().add_notice(form["title"], form["body"], username, sound)
    upload = chosen_file(request.files)
    if upload is None:
        raise ValidationFailed("请选择要上传的录音文件", "audio")
    with saved_upload(upload) as path:
        return services().add_recording(
            form["title"], path, upload.filename or "", username, sound, form["body"]
        )


def voice_choices(current: str) -> list[tuple[str, str]]:
    choices = list(VOICES)
    default = services().settings.audio.voice
    for voice in (default, current):
        if voice and voice not in dict(choices):
            choices.append((voice, voice))
    return choices


def rate_choices(current: str) -> list[tuple[str, str]]:
    default = services().settings.audio.rate
    labels = {str(rate): label for rate, label in RATES}
    values = {rate for rate, _ in RATES} | {default}
    if current.isdigit():
        values.add(int(current))
    out = []
    for rate in sorted(values):
        label = labels.get(str(rate), str(rate))
        out.append((str(rate), f"{label}（默认）" if rate == default else label))
    return out


def page(form: dict[str, str], errors: dict[str, str], status: int) -> Response:
    html = render_template(
        "notices/new.html",
        form=form,
        errors=errors,
        voices=voice_choices(form.get("voice", "")),
        rates=rate_choices(form.get("rate", "")),
        repeats=range(1, MAX_REPEAT + 1),
        max_closing=MAX_CLOSING_CHARS,
        upload_accept=UPLOAD_ACCEPT,
        upload_mb=UPLOAD_MB,
        upload_limit=MAX_UPLOAD_BYTES,
        sound_open=any(name in errors for name in SOUND_FIELDS),
    )
    return Response(html, status=status, mimetype="text/html")
