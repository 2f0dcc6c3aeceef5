"""Recordings uploaded instead of text, and the per-notice sound options of forms and JSON.

Only the routes in ``UPLOAD_ENDPOINTS`` accept a request the size of a recording; every other
route keeps the app's small ``MAX_CONTENT_LENGTH``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Request
from werkzeug.datastructures import FileStorage, MultiDict

from audio import MAX_UPLOAD_BYTES, UPLOAD_EXTENSIONS
from broadcast.errors import ValidationFailed
from broadcast.sound import NoticeSound
from web.inputs import optional_int

# The panel's new-notice form and the API's notice creation.
UPLOAD_ENDPOINTS = frozenset({"notices.new", "api.create_notice"})
# The recording plus the text fields of the form around it.
UPLOAD_REQUEST_BYTES = MAX_UPLOAD_BYTES + 512 * 1024
UPLOAD_MB = MAX_UPLOAD_BYTES // (1024 * 1024)
UPLOAD_ACCEPT = ",".join((*UPLOAD_EXTENSIONS, "audio/*"))
SOUND_FIELDS = ("voice", "rate", "repeat", "chime", "closing")
_TRUE = frozenset({"1", "true", "on", "yes", "是", "有"})
_FALSE = frozenset({"0", "false", "off", "no", "否", "无", ""})


class UploadRequest(Request):
    """A request whose size limit is raised for the upload routes (matched before any body
    is read, so the CSRF check that reads the form already sees the larger limit)."""

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is None and self.endpoint in UPLOAD_ENDPOINTS:
            return UPLOAD_REQUEST_BYTES
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


def chosen_file(files: MultiDict[str, FileStorage], name: str = "audio") -> FileStorage | None:
    """The uploaded file of a form field, or None when no file was chosen."""
    upload = files.get(name)
    if upload is None or not upload.filename:
        return None
    return upload


@contextmanager
def saved_upload(upload: FileStorage) -> Iterator[Path]:
    """The upload written to a private temporary file (removed afterwards). The name on
    disk never comes from the client beyond a known audio extension."""
    suffix = os.path.splitext(upload.filename or "")[1].lower()
    if suffix not in UPLOAD_EXTENSIONS:
        suffix = ""
    with tempfile.TemporaryDirectory(prefix="cunxiang-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        upload.save(path)
        yield path


def _flag(value: object, field: str, label: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    raise ValidationFailed(f"{label}须为 true 或 false", field)


def _text(value: object, field: str, label: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{label}须为字符串", field)
    return value


def sound_from_json(data: Mapping[str, Any]) -> NoticeSound:
    """Sound options of a JSON body (all optional): voice, rate, repeat, chime, closing."""
    voice = _text(data.get("voice"), "voice", "语音")
    return NoticeSound(
        voice=voice if voice and voice.strip() else None,
        rate=optional_int(data.get("rate"), "rate", "语速"),
        repeat=optional_int(data.get("repeat"), "repeat", "朗读遍数"),
        chime=_flag(data.get("chime"), "chime", "提示音"),
        closing=_text(data.get("closing"), "closing", "结束语"),
    )


def sound_from_form(form: MultiDict[str, str]) -> NoticeSound:
    """Sound options of a form. The panel's chime checkbox comes with a hidden
    ``chime_shown``, so that an unticked box means "no chime" rather than "the default"."""
    values: dict[str, Any] = {name: form.get(name) for name in SOUND_FIELDS}
    if "chime_shown" in form:
        values["chime"] = "chime" in form and form.get("chime") != "0"
    return sound_from_json(values)


def form_values(form: MultiDict[str, str], defaults: Mapping[str, str]) -> dict[str, str]:
    """The sound fields as posted, for showing the form again after an error."""
    out = dict(defaults)
    for name in SOUND_FIELDS:
        if name in form:
            out[name] = form.get(name, "")
    if "chime_shown" in form:
        out["chime"] = "1" if "chime" in form else ""
    return out
