"""The "what will play where" layout: overlaps, priorities, quiet hours, problems."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from broadcast.preview import Slot, VillageFacts, arrange, play_length
from broadcast.recurrence import QuietHours

SH = ZoneInfo("Asia/Shanghai")
QUIET = QuietHours(time(22, 0), time(6, 0))


def slot(sid: int, hh: int, mm: int, minutes: float, priority: int = 50, **kw: object) -> Slot:
    fields: dict[str, object] = {
        "schedule_id": sid,
        "notice_title": f"节目{sid}",
        "village_id": 1,
        "village_name": "上溪村",
        "planned_at": datetime(2026, 11, 23, hh, mm, tzinfo=SH),
        "duration": timedelta(minutes=minutes),
        "priority": priority,
        "window": timedelta(minutes=15),
    }
    fields.update(kw)
    return Slot(**fields)  # type: ignore[arg-type]


FACTS = {1: VillageFacts(QUIET, "Asia/Shanghai", speakers=2, offline=0)}


def local(dt: datetime) -> str:
    return dt.astimezone(SH).strftime("%H:%M:%S")


def test_overlapping_lower_priority_is_queued_after_the_higher() -> None:
    plays = arrange([slot(1, 7, 0, 10, priority=50), slot(2, 7, 0, 5, priority=80)], FACTS)
    assert [(p.slot.schedule_id, local(p.start_at), local(p.end_at)) for p in plays] == [
        (2, "07:00:00", "07:05:00"),
        (1, "07:05:00", "07:15:00"),
    ]
    assert plays[0].problems == []
    assert plays[1].problems == ["与更高优先级或更早的节目重叠，推迟 5 分钟开始"]


def test_an_item_pushed_past_its_window_will_not_play() -> None:
    plays = arrange([slot(1, 12, 0, 20), slot(2, 12, 1, 3)], FACTS)
    late = plays[1]
    assert local(late.start_at) == "12:20:00"
    assert "推迟后超出有效时长，将不会播出" in late.problems


def test_quiet_hours_missing_audio_and_offline_loudspeakers_are_reported() -> None:
    facts = {1: VillageFacts(QUIET, "Asia/Shanghai", speakers=3, offline=2)}
    plays = arrange([slot(1, 21, 50, 15, audio_missing=True)], facts)
    assert plays[0].problems == [
        "播放会持续到静音时段（22:00-06:00）",
        "缺少音频",
        "2/3 个喇叭离线",
    ]
    emergency = arrange([slot(2, 23, 0, 5, priority=95)], FACTS)
    assert emergency[0].problems == []
    routine = arrange([slot(3, 23, 0, 5)], FACTS)
    assert routine[0].problems == ["开始时间落在静音时段（22:00-06:00）内"]


def test_villages_are_laid_out_separately() -> None:
    other = {"village_id": 2, "village_name": "下林村"}
    facts = {**FACTS, 2: VillageFacts(QUIET, "Asia/Shanghai", speakers=0, offline=0)}
    plays = arrange([slot(1, 7, 0, 10), slot(2, 7, 0, 10, **other)], facts)
    assert [(p.slot.village_name, local(p.start_at)) for p in plays] == [
        ("上溪村", "07:00:00"),
        ("下林村", "07:00:00"),
    ]
    assert plays[1].problems == ["该村没有喇叭"]


def test_play_length_counts_repeats_and_pauses() -> None:
    assert play_length(30_000, 1) == timedelta(seconds=30)
    assert play_length(30_000, 2) == timedelta(seconds=62)
