"""Schedules as staff read them: recurrence in plain Chinese, and the week ahead per village
(from the domain's preview of what will play where).

Pure functions over read models, the time zone and "now" passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from broadcast.models import EMERGENCY_PRIORITY
from broadcast.preview import PlannedPlay
from broadcast.recurrence import WEEKDAY_NAMES
from broadcast.views import ScheduleView

WEEK_DAYS = 7


def weekdays_text(days: Iterable[int]) -> str:
    """``[1, 4]`` -> "一、四"; three or more days in a row read as a span: "一至五"."""
    ordered = sorted(set(days))
    runs: list[list[int]] = []
    for day in ordered:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        names = [WEEKDAY_NAMES[d - 1] for d in run]
        parts.append(f"{names[0]}至{names[-1]}" if len(run) >= 3 else "、".join(names))
    return "、".join(parts)


def date_runs(dates: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive dates folded into (first, last) ranges."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(dates)):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def span(first: date, last: date) -> str:
    """ "2026-10-01 至 10-07"; the year repeats only when it changes."""
    if first == last:
        return first.isoformat()
    tail = f"{last:%m-%d}" if last.year == first.year else last.isoformat()
    return f"{first.isoformat()} 至 {tail}"


def skip_text(dates: Iterable[date]) -> str:
    return "、".join(span(a, b) for a, b in date_runs(dates))


def skip_input(dates: Iterable[date]) -> str:
    """The holidays as they are typed into the form (full dates, ranges with 至)."""
    return ", ".join(
        a.isoformat() if a == b else f"{a.isoformat()} 至 {b.isoformat()}"
        for a, b in date_runs(dates)
    )


def is_emergency(s: ScheduleView) -> bool:
    return s.priority >= EMERGENCY_PRIORITY


def describe(s: ScheduleView, zone: ZoneInfo) -> str:
    """When a schedule plays: "每天 07:00", "每周一、四 18:30", "每隔 3 天 12:00", "一次 …"."""
    tod = s.time_of_day or ""
    if s.kind == "daily":
        return f"每天 {tod}"
    if s.kind == "weekly":
        if len(set(s.weekdays)) == WEEK_DAYS:
            return f"每天 {tod}"
        return f"每周{weekdays_text(s.weekdays)} {tod}"
    if s.kind == "every_n_days":
        return f"每隔 {s.interval_days} 天 {tod}" if s.interval_days > 1 else f"每天 {tod}"
    return f"一次 {s.start_at.astimezone(zone):%Y-%m-%d %H:%M}"


def date_range_text(s: ScheduleView, zone: ZoneInfo, today: date) -> str:
    """The days a repeating schedule is limited to, or "" when it runs from today on."""
    if s.kind == "once":
        return ""
    first = s.start_at.astimezone(zone).date()
    if first > today:
        return span(first, s.end_date) if s.end_date else f"{first.isoformat()} 起"
    return f"至 {s.end_date.isoformat()}" if s.end_date else ""


def window_minutes(s: ScheduleView, default_seconds: int) -> tuple[int, bool]:
    """(minutes an occurrence may still start late, whether that is the default)."""
    seconds = s.window_seconds or default_seconds
    return max(1, seconds // 60), s.window_seconds is None


def targets_text(s: ScheduleView) -> str:
    """ "东村、西村 · 区域 沿河村庄 · 小组 东村一组 · 喇叭 dc-01"."""
    parts = ["、".join(s.village_names)] if s.village_names else []
    for label, names in (("区域", s.zone_names), ("小组", s.group_names), ("喇叭", s.speaker_ids)):
        if names:
            parts.append(f"{label} {'、'.join(names)}")
    return " · ".join(parts)


@dataclass(frozen=True)
class Slot:
    """One play in a village's day: when it starts (after queueing) and what to look at."""

    at: time
    schedule_id: int
    title: str
    delayed: bool
    problems: tuple[str, ...]
    past: bool


@dataclass
class DayPlan:
    day: date
    slots: list[Slot] = field(default_factory=list)


@dataclass
class VillagePlan:
    name: str
    days: list[DayPlan] = field(default_factory=list)
    # Problems every play here has (no loudspeakers, some offline): said once, not per play.
    problems: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return sum(len(d.slots) for d in self.days)


def week_ahead(
    plays: Iterable[PlannedPlay], village_names: Iterable[str], now: datetime, zone: ZoneInfo
) -> list[VillagePlan]:
    """The preview's plays grouped by village (in the order given) and local day."""
    by_village: dict[str, list[PlannedPlay]] = {name: [] for name in village_names}
    for play in plays:
        by_village.setdefault(play.slot.village_name, []).append(play)
    plans = []
    for name, items in by_village.items():
        common: set[str] = set()
        if len(items) > 1:
            common = set.intersection(*(set(p.problems) for p in items))
        shared = tuple(p for p in items[0].problems if p in common) if common else ()
        plan = VillagePlan(name, problems=shared)
        days: dict[date, DayPlan] = {}
        for play in sorted(items, key=lambda p: (p.start_at, p.slot.schedule_id)):
            local = play.start_at.astimezone(zone)
            day = days.setdefault(local.date(), DayPlan(local.date()))
            day.slots.append(
                Slot(
                    at=local.time(),
                    schedule_id=play.slot.schedule_id,
                    title=play.slot.notice_title,
                    delayed=play.delayed > timedelta(0),
                    problems=tuple(p for p in play.problems if p not in common),
                    past=play.start_at < now,
                )
            )
        plan.days = [days[d] for d in sorted(days)]
        plans.append(plan)
    return plans


def day_label(day: date, today: date) -> str:
    """ "今天 11-22 周日", "明天 11-23 周一", "11-24 周二"."""
    weekday = f"周{WEEKDAY_NAMES[day.weekday()]}"
    names = {0: "今天", 1: "明天", 2: "后天"}
    prefix = names.get((day - today).days)
    label = f"{day:%m-%d} {weekday}"
    return f"{prefix} {label}" if prefix else label
