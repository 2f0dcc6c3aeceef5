"""Checking an emergency before it is sent: what it reaches, as the operator must confirm it
(villages, villager groups and single loudspeakers, with loudspeaker and online counts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from broadcast.models import Loudspeaker
from broadcast.notices import get_notice
from broadcast.planning import EmergencyRequest, check_emergency, resolve_targets
from broadcast.regions import ZoneView, zone_view
from broadcast.views import VillageView


@dataclass(frozen=True)
class GroupTarget:
    code: str
    name: str  # with its village: 东村一组
    speaker_count: int
    online_count: int


@dataclass(frozen=True)
class SpeakerTarget:
    id: str
    village_name: str
    online: bool


@dataclass(frozen=True)
class EmergencySummary:
    """Every village reached (chosen, or through a zone) with its loudspeakers; villager
    groups and single loudspeakers outside those villages; the distinct totals."""

    notice_title: str
    notice_duration_ms: int
    villages: tuple[VillageView, ...]
    zones: tuple[ZoneView, ...]
    groups: tuple[GroupTarget, ...]
    speakers: tuple[SpeakerTarget, ...]
    loudspeakers: int
    online: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "zones": [z.name for z in self.zones],
            "groups": [
                {
                    "code": g.code,
                    "name": g.name,
                    "loudspeakers": g.speaker_count,
                    "online": g.online_count,
                }
                for g in self.groups
            ],
            "speakers": [sp.id for sp in self.speakers],
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


def _active(speakers: list[Loudspeaker]) -> list[Loudspeaker]:
    return [sp for sp in speakers if sp.revoked_at is None]


def summarise_emergency(s: Session, req: EmergencyRequest) -> EmergencySummary:
    """Check ``req`` as sending it would (raises ValidationFailed / NotFound) and say
    exactly what it reaches."""
    check_emergency(req)
    notice = get_notice(s, req.notice_id)
    targets = resolve_targets(s, req.villages, req.zones, req.groups, req.speakers)
    whole = {v.id: v for v in targets.villages}
    for zone in targets.zones:
        whole.update((v.id, v) for v in zone.villages)
    reached: dict[str, Loudspeaker] = {}
    villages = []
    for v in sorted(whole.values(), key=lambda v: v.code):
        active = _active(v.speakers)
        reached.update((sp.id, sp) for sp in active)
        online = sum(1 for sp in active if sp.online)
        villages.append(VillageView(v.id, v.code, v.name, len(active), online, v.quiet_hours))
    groups = []
    for g in targets.groups:
        if g.village_id in whole:
            continue
        members = [sp for sp in _active(g.village.speakers) if sp.group_id == g.id]
        reached.update((sp.id, sp) for sp in members)
        groups.append(
            GroupTarget(
                g.code, f"{g.village.name}{g.name}", len(members), sum(sp.online for sp in members)
            )
        )
    singles = []
    for sp in targets.speakers:
        if sp.id not in reached:
            reached[sp.id] = sp
            singles.append(SpeakerTarget(sp.id, sp.village.name, sp.online))
    return EmergencySummary(
        notice_title=notice.title,
        notice_duration_ms=notice.audio_duration_ms,
        villages=tuple(villages),
        zones=tuple(zone_view(z) for z in targets.zones),
        groups=tuple(groups),
        speakers=tuple(singles),
        loudspeakers=len(reached),
        online=sum(1 for sp in reached.values() if sp.online),
    )
