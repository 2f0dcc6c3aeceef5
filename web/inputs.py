"""Turning form fields and JSON bodies into domain requests. Pure functions over plain values."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from broadcast.errors import ValidationFailed
from broadcast.planning import MAX_SKIP_DATES, ScheduleRequest
from broadcast.recurrence import QuietHours

DEFAULT_PRIORITY = 50
DEFAULT_REPEAT = 1
DEFAULT_VOLUME = 80
# Panel choice of when to play -> the domain's schedule kind ("now" and "at" are one-offs).
WHEN_CHOICES = ("now", "at", "daily", "weekly", "every_n_days")
REPEATING = frozenset({"daily", "weekly", "every_n_days"})
SCHEDULE_FIELDS = frozenset(
    {
        "notice_id",
        "villages",
        "kind",
        "at",
        "time_of_day",
        "priority",
        "repeat",
        "volume",
        "weekdays",
        "interval_days",
        "start_date",
        "end_date",
        "skip_dates",
        "window_minutes",
        "zones",
        "groups",
        "speakers",
    }
)
# Separators between holiday dates typed by hand: commas (both widths), 、, ; and whitespace.
_DATE_SEPARATORS = re.compile(r"[,，、;；\s]+")
# A range of holidays: "2026-10-01至2026-10-07", "2026-10-01~10-07", "2026-10-01 到 10-07".
_DATE_RANGE = re.compile(r"^(.+?)\s*(?:至|到|~|～)\s*(.+)$")


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


def parse_date(value: object, field: str, label: str) -> date:
    """A calendar date written ``2026-10-01`` (also ``2026/10/01`` or ``2026.10.01``)."""
    if isinstance(value, str):
        text = value.strip().replace("/", "-").replace(".", "-")
        try:
            return date.fromisoformat(text)
        except ValueError:
            parts = text.split("-")
            if len(parts) == 3 and all(p.isdigit() for p in parts):
                try:
                    return date(int(parts[0]), int(parts[1]), int(parts[2]))
                except ValueError:
                    pass
    raise ValidationFailed(f"{label}格式应为 年-月-日，如 2026-10-01，收到“{value}”", field)


def optional_date(value: object, field: str, label: str) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_date(value, field, label)


def _date_range(first: date, last_text: str, field: str) -> list[date]:
    """Every day from ``first`` to the end of a range.

    The end may leave out the year: it is then the next such day ("12-30 至 01-02" crosses
    New Year).
    """
    last_text = last_text.strip().replace("/", "-").replace(".", "-")
    if last_text.count("-") == 1:
        last = parse_date(f"{first.year}-{last_text}", field, "跳过日期")
        if last < first:
            last = parse_date(f"{first.year + 1}-{last_text}", field, "跳过日期")
    else:
        last = parse_date(last_text, field, "跳过日期")
    if last < first:
        raise ValidationFailed(f"日期范围 {first} 至 {last} 的结束早于开始", field)
    if (last - first).days >= MAX_SKIP_DATES:
        raise ValidationFailed(f"跳过日期最多 {MAX_SKIP_DATES} 个", field)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def parse_skip_dates(value: str | Iterable[object], field: str = "skip_dates") -> list[date]:
    """Holidays: ``"2026-10-01 至 10-07, 2027-01-01"`` typed in the panel, or a JSON list.

    Ranges are spelled with 至, 到 or ~ around the separator-free dates. Sorted, no repeats.
    """
    if isinstance(value, str):
        # Hold ranges together while splitting on separators.
        text = re.sub(r"\s*(至|到|~|～)\s*", r"\1", value.strip())
        items: list[object] = [t for t in _DATE_SEPARATORS.split(text) if t]
    else:
        items = list(value)
    found: set[date] = set()
    for item in items:
        if not isinstance(item, str):
            raise ValidationFailed("跳过日期须为“年-月-日”字符串", field)
        ranged = _DATE_RANGE.match(item)
        if ranged:
            first = parse_date(ranged.group(1), field, "跳过日期")
            found.update(_date_range(first, ranged.group(2), field))
        else:
            found.add(parse_date(item, field, "跳过日期"))
        if len(found) > MAX_SKIP_DATES:
            raise ValidationFailed(f"跳过日期最多 {MAX_SKIP_DATES} 个", field)
    return sorted(found)


def parse_weekdays(values: Iterable[object], field: str = "weekdays") -> list[int]:
    """ISO weekday numbers (1 = Monday … 7 = Sunday), from checkboxes or a JSON list."""
    days: set[int] = set()
    for value in values:
        day = parse_int(value, field, "星期")
        if not 1 <= day <= 7:
            raise ValidationFailed("星期须为 1（周一）到 7（周日）", field)
        days.add(day)
    return sorted(days)


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


def village_refs(values: Iterable[str]) -> list[str | int]:
    """Checked ids (or codes) of villages or zones from a form; blanks dropped."""
    refs: list[str | int] = []
    for value in values:
        value = value.strip()
        if value:
            refs.append(int(value) if value.isdigit() else value)
    return refs


def json_refs(data: Mapping[str, Any], name: str, label: str) -> list[str | int]:
    """An optional list of ids, codes or names (villages, zones, groups)."""
    value = data.get(name, [])
    if not isinstance(value, list) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in value
    ):
        raise ValidationFailed(f"{name} 须为{label}编号或名称的列表", name)
    return list(value)


def json_speakers(data: Mapping[str, Any]) -> list[str]:
    value = data.get("speakers", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed("speakers 须为喇叭编号的列表", "speakers")
    return list(value)


def schedule_from_form(
    notice_id: int,
    form: Mapping[str, str],
    villages: list[str],
    now: datetime,
    zone: ZoneInfo,
    weekdays: Iterable[str] = (),
    zones: Iterable[str] = (),
    speakers: Iterable[str] = (),
    groups: Iterable[str] = (),
) -> ScheduleRequest:
    """The panel's 播放 form. ``villages`` and ``zones`` are checked ids, ``weekdays`` 1..7,
    ``speakers`` single loudspeakers an edited schedule already had."""
    when = form.get("when", "now")
    at: datetime | None = None
    time_of_day: str | None = None
    if when == "now":
        at = now
    elif when == "at":
        at = parse_local_datetime(form.get("at", ""), zone)
    elif when in REPEATING:
        time_of_day = form.get("time_of_day", "").strip()
        if not time_of_day:
            raise ValidationFailed("请填写几点播放（时:分）", "time_of_day")
    else:
        raise ValidationFailed("请选择播放时间", "when")
    repeating = when in REPEATING
    return ScheduleRequest(
        notice_id=notice_id,
        villages=village_refs(villages),
        kind=when if repeating else "once",
        at=at,
        time_of_day=time_of_day,
        priority=parse_int(form.get("priority"), "priority", "优先级", DEFAULT_PRIORITY),
        repeat=parse_int(form.get("repeat"), "repeat", "重复次数", DEFAULT_REPEAT),
        volume=parse_int(form.get("volume"), "volume", "音量", DEFAULT_VOLUME),
        weekdays=parse_weekdays(weekdays) if when == "weekly" else [],
        interval_days=(
            parse_int(form.get("interval_days"), "interval_days", "间隔天数")
            if when == "every_n_days"
            else 1
        ),
        start_date=optional_date(form.get("start_date"), "start_date", "开始日期")
        if repeating
        else None,
        end_date=optional_date(form.get("end_date"), "end_date", "结束日期") if repeating else None,
        skip_dates=parse_skip_dates(form.get("skip_dates", "")) if repeating else [],
        window_minutes=optional_int(form.get("window_minutes"), "window_minutes", "有效时长"),
        zones=village_refs(zones),
        groups=[g for g in (v.strip() for v in groups) if g],
        speakers=[s for s in (v.strip() for v in speakers) if s],
    )


def schedule_from_json(
    data: Mapping[str, Any], now: datetime, *, at_required: bool = False
) -> ScheduleRequest:
    """The API's schedule body; a one-off without ``at`` plays now unless ``at_required``."""
    unknown = sorted(set(data) - SCHEDULE_FIELDS)
    if unknown:
        raise ValidationFailed(f"未知字段：{', '.join(unknown)}", unknown[0])
    notice_id = parse_int(data.get("notice_id"), "notice_id", "通知编号")
    villages = json_refs(data, "villages", "村")
    kind = data.get("kind", "once")
    if not isinstance(kind, str):
        raise ValidationFailed("kind 须为 once、daily、weekly 或 every_n_days", "kind")
    at: datetime | None = None
    if kind == "once":
        if data.get("at") is not None:
            at = parse_aware_datetime(data["at"])
        elif at_required:
            raise ValidationFailed("请填写播放时间", "at")
        else:
            at = now
    time_of_day = data.get("time_of_day")
    if time_of_day is not None and not isinstance(time_of_day, str):
        raise ValidationFailed("time_of_day 须为 HH:MM 字符串", "time_of_day")
    weekdays = data.get("weekdays", [])
    if not isinstance(weekdays, list):
        raise ValidationFailed("weekdays 须为 1–7 的列表（1 为周一）", "weekdays")
    skip_dates = data.get("skip_dates", [])
    if not isinstance(skip_dates, list):
        raise ValidationFailed("skip_dates 须为“年-月-日”字符串的列表", "skip_dates")
    return ScheduleRequest(
        notice_id=notice_id,
        villages=villages,
        kind=kind,
        at=at,
        time_of_day=time_of_day,
        priority=parse_int(data.get("priority"), "priority", "优先级", DEFAULT_PRIORITY),
        repeat=parse_int(data.get("repeat"), "repeat", "重复次数", DEFAULT_REPEAT),
        volume=parse_int(data.get("volume"), "volume", "音量", DEFAULT_VOLUME),
        weekdays=parse_weekdays(weekdays),
        interval_days=parse_int(data.get("interval_days"), "interval_days", "间隔天数", 1),
        start_date=optional_date(data.get("start_date"), "start_date", "开始日期"),
        end_date=optional_date(data.get("end_date"), "end_date", "结束日期"),
        skip_dates=parse_skip_dates(skip_dates),
        window_minutes=optional_int(data.get("window_minutes"), "window_minutes", "有效时长"),
        zones=json_refs(data, "zones", "区域"),
        groups=json_refs(data, "groups", "村民小组"),
        speakers=json_speakers(data),
    )


def quiet_hours_value(value: object) -> str | None:
    """A village's quiet hours as the domain takes them: a band, "-" for none, None for default.

    Every spelling of "none" (empty, "-", "无", a band that starts where it ends) becomes "-".
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(
            "quiet_hours 须为“22:00-06:00”、“-”（不设）或 null（默认）", "quiet_hours"
        )
    if value.strip() == "无":
        return "-"
    band = QuietHours.parse(value, "quiet_hours")
    return "-" if band.start == band.end else str(band)


def notice_text(text: object, field: str) -> str:
    """Text to synthesise; the domain checks length, this only refuses the empty case."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed("请填写通知内容", field)
    return text
