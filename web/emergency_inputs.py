"""Emergency console input: form fields and JSON into an ``EmergencyRequest``, and the targets
an operator confirms (villages and their loudspeaker counts). Pure functions over plain values.

The checks here are the ones needed to show a confirmation before anything is sent; the
domain checks everything again when the emergency is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from broadcast.errors import NotFound, ValidationFailed
from broadcast.planning import SEVERITY_NAMES, EmergencyRequest
from broadcast.regions import ZoneView
from broadcast.views import SpeakerView, VillageView
from web.inputs import json_refs, json_speakers, parse_int, village_refs

EVENT_TYPES = ("防汛", "台风", "暴雨", "地质灾害", "地震", "森林火灾", "寒潮冰冻", "公共卫生")
OTHER_EVENT = "other"
DEFAULT_REPEAT = 2
REPEAT_CHOICES = (1, 2, 3, 5)
MAX_EVENT_TYPE = 64
FORM_FIELDS = ("villages", "notice_id", "severity", "event_type", "event_type_other", "repeat")
# Villager groups are not offered yet: the console could not count their loudspeakers.
JSON_FIELDS = frozenset(
    {
        "notice_id",
        "villages",
        "zones",
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


@dataclass(frozen=True)
class Targets:
    """Where an emergency goes, as the operator must see it before sending: every village
    it reaches (chosen, or through a zone), and single loudspeakers outside those."""

    villages: tuple[VillageView, ...]
    zones: tuple[ZoneView, ...] = ()
    speakers: tuple[SpeakerView, ...] = ()

    @property
    def loudspeakers(self) -> int:
        return sum(v.speaker_count for v in self.villages) + len(self.speakers)

    @property
    def online(self) -> int:
        return sum(v.online_count for v in self.villages) + sum(s.online for s in self.speakers)

    def as_dict(self) -> dict[str, Any]:
        return {
            "zones": [z.name for z in self.zones],
            "speakers": [s.id for s in self.speakers],
            "targets": [
                {
                    "id": v.id,
                    "code": v.code,
                    "name": v.name,
                    "loudspeakers": v.speaker_count,
                    "online": v.online_count,
                }
                for v in self.villages
            ],
            "loudspeakers": self.loudspeakers,
            "online": self.online,
        }


def _by_ref(ref: str | int, by_id: Mapping[int, Any], named: Mapping[str, Any]) -> Any:
    """Match a reference as the domain does: an id first, then a code or name."""
    found = None
    if isinstance(ref, int) or (ref.isdigit() and len(ref) < 9):
        found = by_id.get(int(ref))
    return found if found is not None else named.get(str(ref))


def resolve_targets(
    req: EmergencyRequest,
    villages: Sequence[VillageView],
    zones: Sequence[ZoneView] = (),
    speakers: Sequence[SpeakerView] = (),
) -> Targets:
    """Expand an emergency's villages, zones and loudspeakers into what they reach."""
    by_id = {v.id: v for v in villages}
    named = {**{v.code: v for v in villages}, **{v.name: v for v in villages}}
    chosen: dict[int, VillageView] = {}
    for ref in req.villages:
        village = _by_ref(ref, by_id, named)
        if village is None:
            raise NotFound(f"找不到村：{ref}")
        chosen[village.id] = village
    by_name = {v.name: v for v in villages}
    picked_zones: dict[int, ZoneView] = {}
    for ref in req.zones:
        zone = _by_ref(ref, {z.id: z for z in zones}, {z.name: z for z in zones})
        if zone is None:
            raise NotFound(f"找不到区域：{ref}")
        picked_zones[zone.id] = zone
        chosen.update((by_name[n].id, by_name[n]) for n in zone.village_names if n in by_name)
    singles: dict[str, SpeakerView] = {}
    known_speakers = {s.id: s for s in speakers if not s.revoked}
    for sid in req.speakers:
        speaker = known_speakers.get(sid)
        if speaker is None:
            raise NotFound(f"找不到喇叭 {sid}")
        if speaker.village_id not in chosen:
            singles[sid] = speaker
    return Targets(
        tuple(sorted(chosen.values(), key=lambda v: v.code)),
        tuple(picked_zones.values()),
        tuple(singles.values()),
    )


def _check(req: EmergencyRequest) -> EmergencyRequest:
    if not (req.villages or req.zones or req.speakers):
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
        speakers=json_speakers(data),
        severity=_severity(data.get("severity")),
        event_type=event_type.strip(),
        drill=drill,
        priority=parse_int(data.get("priority"), "priority", "优先级", 95),
        repeat=parse_int(data.get("repeat"), "repeat", "重复次数", DEFAULT_REPEAT),
        volume=parse_int(data.get("volume"), "volume", "音量", 100),
    )
    return _check(req), confirm
