"""Emergency console input: form fields and JSON into an ``EmergencyRequest``. Pure functions
over plain values; what the emergency reaches is summarised by the domain
(``Services.check_emergency``).

The checks here are the ones needed to show a confirmation before anything is sent; the
domain checks everything again when the emergency is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from broadcast.errors import ValidationFailed
from broadcast.planning import SEVERITY_NAMES, EmergencyRequest
from web.inputs import json_refs, json_speakers, parse_int, village_refs

EVENT_TYPES = ("防汛", "台风", "暴雨", "地质灾害", "地震", "森林火灾", "寒潮冰冻", "公共卫生")
OTHER_EVENT = "other"
DEFAULT_REPEAT = 2
REPEAT_CHOICES = (1, 2, 3, 5)
MAX_EVENT_TYPE = 64
FORM_FIELDS = ("villages", "notice_id", "severity", "event_type", "event_type_other", "repeat")
# The console form offers villages and zones; the API also takes villager groups.
JSON_FIELDS = frozenset(
    {
        "notice_id",
        "villages",
        "zones",
        "groups",
        "speakers",
        "severity",
        "event_type",
        "drill",
        "repeat",
        "volume",
        "priority",
        "confirm",
    }
)


def _check(req: EmergencyRequest) -> EmergencyRequest:
    if not (req.villages or req.zones or req.groups or req.speakers):
        raise ValidationFailed("请至少选择一个村或区域", "villages")
    if req.severity not in SEVERITY_NAMES:
        raise ValidationFailed("请选择事件级别（I–IV 级）", "severity")
    if not req.event_type:
        raise ValidationFailed("请选择或填写事件类型", "event_type")
    if len(req.event_type) > MAX_EVENT_TYPE:
        raise ValidationFailed(f"事件类型不能超过 {MAX_EVENT_TYPE} 字", "event_type")
    if not 1 <= req.repeat <= 10:
        raise ValidationFailed("重复次数须在 1–10 之间", "repeat")
    return req


def _severity(value: object) -> int:
    try:
        return parse_int(value, "severity", "事件级别")
    except ValidationFailed:
        raise ValidationFailed("请选择事件级别（I–IV 级）", "severity") from None


def emergency_from_form(
    form: Mapping[str, str], villages: Sequence[str], zones: Sequence[str] = ()
) -> EmergencyRequest:
    """The console's form; ``event_type`` is a listed type or ``other`` with its own text."""
    event_type = form.get("event_type", "").strip()
    if event_type == OTHER_EVENT:
        event_type = form.get("event_type_other", "").strip()
    refs, zone_refs = village_refs(villages), village_refs(zones)
    if not (refs or zone_refs):  # checked in the order the form asks
        raise ValidationFailed("请至少选择一个村或区域", "villages")
    notice_id = form.get("notice_id", "")
    if not notice_id.strip():
        raise ValidationFailed("请选择要播放的通知", "notice_id")
    return _check(
        EmergencyRequest(
            notice_id=parse_int(notice_id, "notice_id", "通知"),
            villages=refs,
            zones=zone_refs,
            severity=_severity(form.get("severity")),
            event_type=event_type,
            drill=form.get("drill", "") in ("1", "on", "true"),
            repeat=parse_int(form.get("repeat"), "repeat", "重复次数", DEFAULT_REPEAT),
        )
    )


def emergency_from_json(data: Mapping[str, Any]) -> tuple[EmergencyRequest, bool]:
    """The API's body and whether it carries ``"confirm": true``."""
    unknown = sorted(set(data) - JSON_FIELDS)
    if unknown:
        raise ValidationFailed(f"未知字段：{', '.join(unknown)}", unknown[0])
    event_type = data.get("event_type", "")
    if not isinstance(event_type, str):
        raise ValidationFailed("event_type 须为字符串", "event_type")
    drill = data.get("drill", False)
    if not isinstance(drill, bool):
        raise ValidationFailed("drill 须为 true 或 false", "drill")
    confirm = data.get("confirm", False)
    if not isinstance(confirm, bool):
        raise ValidationFailed("confirm 须为 true 或 false", "confirm")
    req = EmergencyRequest(
        notice_id=parse_int(data.get("notice_id"), "notice_id", "通知编号"),
        villages=json_refs(data, "villages", "村"),
        zones=json_refs(data, "zones", "区域"),
        groups=json_refs(data, "groups", "村民小组"),
        speakers=json_speakers(data),
        severity=_severity(data.get("severity")),
        event_type=event_type.strip(),
        drill=drill,
        priority=parse_int(data.get("priority"), "priority", "优先级", 95),
        repeat=parse_int(data.get("repeat"), "repeat", "重复次数", DEFAULT_REPEAT),
        volume=parse_int(data.get("volume"), "volume", "音量", 100),
    )
    return _check(req), confirm
