"""What will play where: occurrences laid out per village, with conflicts and problems.

Pure functions over plain values; ``planning.preview_slots`` gathers the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from broadcast.recurrence import QuietHours, VolumeBand, capped_volume

# Pause between repeats of a notice, as the loudspeakers play them.
REPEAT_PAUSE = timedelta(seconds=2)


@dataclass(frozen=True)
class Slot:
    """One occurrence of one schedule in one village."""

    schedule_id: int
    notice_title: str
    village_id: int
    village_name: str
    planned_at: datetime
    duration: timedelta  # all repeats included
    priority: int
    window: timedelta
    audio_missing: bool = False
    volume: int = 80  # as scheduled, before the village's ceiling


@dataclass(frozen=True)
class VillageFacts:
    quiet: QuietHours
    zone_key: str
    speakers: int
    offline: int
    ceilings: tuple[VolumeBand, ...] = ()


@dataclass
class PlannedPlay:
    slot: Slot
    start_at: datetime
    end_at: datetime
    problems: list[str] = field(default_factory=list)
    volume: int = 80  # what the command will carry: capped by the ceiling at the planned time

    @property
    def delayed(self) -> timedelta:
        return self.start_at - self.slot.planned_at


def play_length(audio_ms: int, repeat: int) -> timedelta:
    return timedelta(milliseconds=audio_ms) * repeat + REPEAT_PAUSE * (repeat - 1)


def arrange(slots: list[Slot], facts: dict[int, VillageFacts]) -> list[PlannedPlay]:
    """Lay out each village's occurrences as its loudspeakers would play them.

    Items play one at a time. When items overlap, the higher priority plays first and
    the other is queued after it (equal priorities keep their planned order). Each
    item gets the problems a planner must see before publishing.
    """
    plays: list[PlannedPlay] = []
    by_village: dict[int, list[Slot]] = {}
    for slot in slots:
        by_village.setdefault(slot.village_id, []).append(slot)
    for village_id, items in by_village.items():
        fact = facts[village_id]
        zone = ZoneInfo(fact.zone_key)
        pending = sorted(items, key=lambda s: (s.planned_at, -s.priority, s.schedule_id))
        free_at: datetime | None = None
        while pending:
            now = pending[0].planned_at if free_at is None else max(free_at, pending[0].planned_at)
            ready = [s for s in pending if s.planned_at <= now]
            slot = max(ready, key=lambda s: (s.priority, -s.planned_at.timestamp()))
            pending.remove(slot)
            start = now
            volume = slot.volume
            if slot.priority < 90:
                planned_local = slot.planned_at.astimezone(zone).time()
                volume = capped_volume(slot.volume, fact.ceilings, planned_local)
            play = PlannedPlay(slot, start, start + slot.duration, volume=volume)
            free_at = play.end_at
            if play.delayed > timedelta(0):
                play.problems.append(
                    f"与更高优先级或更早的节目重叠，推迟 {_minutes(play.delayed)}开始"
                )
            if play.delayed >= slot.window:
                play.problems.append("推迟后超出有效时长，将不会播出")
            if slot.priority < 90 and fact.quiet.contains(start.astimezone(zone).time()):
                play.problems.append(f"开始时间落在静音时段（{fact.quiet}）内")
            elif slot.priority < 90 and fact.quiet.contains(play.end_at.astimezone(zone).time()):
                play.problems.append(f"播放会持续到静音时段（{fact.quiet}）")
            if slot.audio_missing:
                play.problems.append("缺少音频")
            if fact.speakers == 0:
                play.problems.append("该村没有喇叭")
            elif fact.offline:
                play.problems.append(f"{fact.offline}/{fact.speakers} 个喇叭离线")
            plays.append(play)
    plays.sort(key=lambda p: (p.slot.village_name, p.start_at))
    return plays


def _minutes(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} 秒"
    return f"{seconds // 60} 分 {seconds % 60} 秒" if seconds % 60 else f"{seconds // 60} 分钟"
