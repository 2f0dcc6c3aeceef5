"""Schedules in plain Chinese and the week ahead per village: pure functions, no app."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from broadcast.preview import PlannedPlay, Slot
from broadcast.views import ScheduleView
from web.plans import (
    date_range_text,
    day_label,
    describe,
    skip_input,
    skip_text,
    targets_text,
    week_ahead,
    weekdays_text,
    window_minutes,
)

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 9, 26, 2, 0, tzinfo=UTC)  # Saturday 10:00 in Shanghai
TODAY = date(2026, 9, 26)


def view(**fields: Any) -> ScheduleView:
    values: dict[str, Any] = {
        "id": 1,
        "notice_id": 1,
        "notice_title": "早间节目",
        "kind": "daily",
        "start_at": NOW,
        "time_of_day": "07:00",
        "timezone": "Asia/Shanghai",
        "priority": 50,
        "repeat": 1,
        "volume": 80,
        "enabled": True,
        "village_names": ["东村"],
        "next_at": None,
    }
    values.update(fields)
    return ScheduleView(**values)


def test_recurrence_in_words() -> None:
    assert describe(view(), SH) == "每天 07:00"
    assert describe(view(kind="weekly", weekdays=[1, 4], time_of_day="18:30"), SH) == (
        "每周一、四 18:30"
    )
    assert describe(view(kind="weekly", weekdays=[1, 2, 3, 4, 5]), SH) == "每周一至五 07:00"
    assert describe(view(kind="weekly", weekdays=[1, 2, 3, 4, 5, 6, 7]), SH) == "每天 07:00"
    assert describe(view(kind="every_n_days", interval_days=3, time_of_day="12:00"), SH) == (
        "每隔 3 天 12:00"
    )
    assert describe(view(kind="once", time_of_day=None), SH) == "一次 2026-09-26 10:00"
    assert weekdays_text([6, 7, 1]) == "一、六、日"
    assert weekdays_text([1, 2, 3, 5, 6, 7]) == "一至三、五至日"


def test_dates_and_holidays() -> None:
    holidays = [date(2026, 10, d) for d in range(1, 8)] + [date(2027, 1, 1)]
    assert skip_text(holidays) == "2026-10-01 至 10-07、2027-01-01"
    assert skip_input(holidays) == "2026-10-01 至 2026-10-07, 2027-01-01"
    assert skip_text([date(2026, 12, 31), date(2027, 1, 1)]) == "2026-12-31 至 2027-01-01"
    later = datetime(2026, 10, 1, tzinfo=SH)
    assert date_range_text(view(start_at=later, end_date=date(2026, 10, 7)), SH, TODAY) == (
        "2026-10-01 至 10-07"
    )
    assert date_range_text(view(start_at=later), SH, TODAY) == "2026-10-01 起"
    assert date_range_text(view(end_date=date(2026, 12, 31)), SH, TODAY) == "至 2026-12-31"
    assert date_range_text(view(), SH, TODAY) == ""
    assert date_range_text(view(kind="once"), SH, TODAY) == ""


def test_window_targets_and_day_labels() -> None:
    assert window_minutes(view(), 900) == (15, True)
    assert window_minutes(view(window_seconds=1800), 900) == (30, False)
    full = view(zone_names=["沿河村庄"], group_names=["东村一组"], speaker_ids=["xc-01"])
    assert targets_text(full) == "东村 · 区域 沿河村庄 · 小组 东村一组 · 喇叭 xc-01"
    assert targets_text(view(village_names=[], zone_names=["沿河村庄"])) == "区域 沿河村庄"
    assert day_label(TODAY, TODAY) == "今天 09-26 周六"
    assert day_label(date(2026, 9, 27), TODAY) == "明天 09-27 周日"
    assert day_label(date(2026, 9, 30), TODAY) == "09-30 周三"


def play(village: str, hour: int, minute: int = 0, *problems: str, delay: int = 0) -> PlannedPlay:
    planned = datetime(2026, 9, 26, hour, minute, tzinfo=SH)
    slot = Slot(
        1, "早间节目", 1, village, planned, timedelta(seconds=30), 50, timedelta(minutes=15)
    )
    start = planned + timedelta(seconds=delay)
    return PlannedPlay(slot, start, start + slot.duration, list(problems))


def test_week_ahead_groups_by_village_and_day() -> None:
    plays = [
        play("东村", 7, 0, "1/2 个喇叭离线"),
        play("东村", 18, 0, "1/2 个喇叭离线", "推迟 20 秒开始", delay=20),
        play("南村", 12, 0, "该村没有喇叭"),
    ]
    plans = week_ahead(plays, ["东村", "西村"], NOW, SH)
    assert [p.name for p in plans] == ["东村", "西村", "南村"]
    east, west, south = plans
    assert east.problems == ("1/2 个喇叭离线",)  # shared by every play: said once
    (day,) = east.days
    assert day.day == TODAY
    assert [(s.at.isoformat(), s.past, s.delayed) for s in day.slots] == [
        ("07:00:00", True, False),
        ("18:00:20", False, True),
    ]
    assert day.slots[1].problems == ("推迟 20 秒开始",)
    assert (west.count, west.days, west.problems) == (0, [], ())
    assert south.problems == () and south.days[0].slots[0].problems == ("该村没有喇叭",)
