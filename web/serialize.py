"""Read models as JSON values: datetimes as ISO 8601 with their offset."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

from flask import url_for

from broadcast.models import BroadcastState
from broadcast.planning import SEVERITY_NAMES
from broadcast.views import BroadcastView, NoticeView


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def media_path(sha256: str) -> str:
    """The panel's (session-authorised) URL of an audio file."""
    return url_for("media.audio", sha256=sha256)


def notice(view: NoticeView) -> dict[str, Any]:
    out: dict[str, Any] = jsonable(view)
    out["audio_url"] = media_path(view.audio_sha256)
    return out


def broadcast(view: BroadcastView) -> dict[str, Any]:
    out: dict[str, Any] = jsonable(view)
    try:
        out["state_name"] = BroadcastState(view.state).name.lower()
    except ValueError:
        out["state_name"] = None
    out["severity_name"] = SEVERITY_NAMES.get(view.severity) if view.severity else None
    return out
