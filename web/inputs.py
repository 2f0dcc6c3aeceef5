"""Turning form fields and JSON bodies into domain requests. Pure functions over plain values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from broadcast.errors import ValidationFailed
from broadcast.planning import ScheduleRequest

DEFAULT_PRIORITY = 50
DEFAULT_REPEAT = 1
DEFAULT_VOLUME = 80
# Panel choice of when to play -> the domain's schedule kind.
WHEN_CHOICES = ("now", "at", "daily")
SCHEDULE_FIELDS = frozenset(
    {"notice_id", "villages", "kind", "at", "time_of_day", "priority", "repeat", "volume"}
)


def parse_int(value: object, field: str, label: str, default: int | None = None) -> int:
    """An integer from a form string or a JSON number; ``default`` when blank or absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise ValidationFailed(f"请填写{label}", field)
        return default
    if isinstance(value, bool):
        raise ValidationFailed(f"{label}须为整数", field)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValidationFailed(f"{label}须为整数", field)


def optional_int(value: object, field: str, label: str) -> int | None:
    """An integer, or None when blank or absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_int(value, field, label)


def parse_local_datetime(value: str, zone: ZoneInfo, field: str = "at") -> datetime:
    """A ``datetime-local`` value (``YYYY-MM-DDTHH:MM[:SS]``) read as wall time in ``zone``."""
    value = value.strip()
    if not value:
        raise ValidationFailed("请填写播放时间", field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("播放时间格式不对，应为 年-月-日 时:分", field) from None
    if parsed.tzinfo is not None:
        return parsed
    return parsed.replace(tzinfo=zone)


def parse_aware_datetime(value: object, field: str = "at") -> datetime:
    """An ISO 8601 timestamp that names its offset (``2025-03-01T10:00:00+08:00``)."""
    if not isinstance(value, str):
        raise ValidationFailed("时间须为 ISO 8601 字符串", field)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            "时间须为 ISO 8601 格式，如 2025-03-01T10:00:00+08:00", field
        ) from None
    if parsed.tzinfo is None:
        raise ValidationFailed("时间须带时区偏移，如 +08:00", field)
    return parsed


def _villages_from(values: list[str]) -> list[str | int]:
    refs: list[str | int] = []
    for value in values:
        value = value.strip()
        if value:
            refs.append(int(value) if value.isdigit() else value)
    return refs


def schedule_from_form(
    notice_id: int, form: Mapping[str, str], villages: list[str], now: datetime, zone: ZoneInfo
) -> ScheduleRequest:
    """The panel's 播放 form. ``villages`` are the checked village ids."""
    when = form.get("when", "now")
    at: datetime | None = None
    time_of_day: str | None = None
    if when == "now":
        kind, at = "once", now
    elif when == "at":
        kind, at = "once", parse_local_datetime(form.get("at", ""), zone)
    elif when == "daily":
        kind, time_of_day = "daily", form.get("time_of_day", "").strip()
        if not time_of_day:
            raise ValidationFailed("请填写每天的播放时间", "time_of_day")
    else:
        raise ValidationFailed("请选择播放时间", "when")
    return ScheduleRequest(
        notice_id=notice_id,
        villages=_villages_from(villages),
        kind=kind,
        at=at,
        time_of_day=time_of_day,
        priority=parse_int(form.get("priority"), "priority", "优先级", DEFAULT_PRIORITY),
        repeat=parse_int(form.get("repeat"), "repeat", "重复次数", DEFAULT_REPEAT),
        volume=parse_int(form.get("volume"), "volume", "音量", DEFAULT_VOLUME),
    )


def schedule_from_json(data: Mapping[str, Any], now: datetime) -> ScheduleRequest:
    """The API's schedule body; a one-off without ``at`` plays now."""
    unknown = sorted(set(data) - SCHEDULE_FIELDS)
    if unknown:
        raise ValidationFailed(f"未知字段：{', '.join(unknown)}", unknown[0])
    notice_id = parse_int(data.get("notice_id"), "notice_id", "通知编号")
    raw_villages = data.get("villages")
    if not isinstance(raw_villages, list) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in raw_villages
    ):
        raise ValidationFailed("villages 须为村编号或代码的列表", "villages")
    villages: list[str | int] = list(raw_villages)
    kind = data.get("kind", "once")
    if not isinstance(kind, str):
        raise ValidationFailed("kind 须为 once 或 daily", "kind")
    at = data.get("at")
    time_of_day = data.get("time_of_day")
    if time_of_day is not None and not isinstance(time_of_day, str):
        raise ValidationFailed("time_of_day 须为 HH:MM 字符串", "time_of_day")
    return ScheduleRequest(
        notice_id=notice_id,
        villages=villages,
        kind=kind,
        at=(parse_aware_datetime(at) if at is not None else now) if kind == "once" else None,
        time_of_day=time_of_day,
        priority=parse_int(data.get("priority"), "priority", "优先级", DEFAULT_PRIORITY),
        repeat=parse_int(data.get("repeat"), "repeat", "重复次数", DEFAULT_REPEAT),
        volume=parse_int(data.get("volume"), "volume", "音量", DEFAULT_VOLUME),
    )


def notice_text(text: object, field: str) -> str:
    """Text to synthesise; the domain checks length, this only refuses the empty case."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed("请填写通知内容", field)
    return text
