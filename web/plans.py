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
from broadcast.recurrence import WEEKDAY_NAMES, QuietHours
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


# -- timelines: a village's day or week as blocks placed by time -----------------------------
DAY_MIN_SPAN = timedelta(minutes=20)
DAY_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class Block:
    """One play on a timeline row; positions are percentages of the row's width."""

    left: float
    width: float
    title: str
    schedule_id: int
    planned: datetime
    start: datetime
    end: datetime
    volume: int
    priority: int
    problems: tuple[str, ...]
    delay_left: float = 0.0  # the queueing delay drawn from the planned time to the start
    delay_width: float = 0.0

    @property
    def queued(self) -> bool:
        return self.start > self.planned

    @property
    def times(self) -> str:
        """ "07:00–07:01:12": seconds only where they are not zero."""
        return f"{_hms(self.start)}–{_hms(self.end)}"


def _hms(t: datetime) -> str:
    return f"{t:%H:%M}" if t.second == 0 else f"{t:%H:%M:%S}"


@dataclass(frozen=True)
class Span:
    left: float
    width: float


@dataclass
class TimelineRow:
    label: str
    day: date
    blocks: list[Block] = field(default_factory=list)
    quiet: list[Span] = field(default_factory=list)


@dataclass
class Timeline:
    village_name: str
    quiet: str
    start: datetime  # the left edge of every row (local), and the width of a row
    span: timedelta
    rows: list[TimelineRow] = field(default_factory=list)
    scale: list[tuple[float, str]] = field(default_factory=list)

    @property
    def plays(self) -> list[Block]:
        return [b for row in self.rows for b in row.blocks]

    @property
    def common_problems(self) -> tuple[str, ...]:
        """Problems every play here has (no loudspeakers, some offline): said once."""
        plays = self.plays
        if len(plays) < 2:
            return ()
        shared = set.intersection(*(set(b.problems) for b in plays))
        return tuple(p for p in plays[0].problems if p in shared)


def _pct(offset: timedelta, span: timedelta) -> float:
    return round(max(0.0, min(100.0, offset / span * 100)), 3)


def quiet_spans(quiet: QuietHours, left: datetime, span: timedelta) -> list[Span]:
    """The quiet band(s) of ``left``'s day and its neighbours, clipped to the row."""
    if quiet.none:
        return []
    spans = []
    for shift in (-1, 0, 1):
        day = left.date() + timedelta(days=shift)
        begin = datetime.combine(day, quiet.start, tzinfo=left.tzinfo)
        end = datetime.combine(day, quiet.end, tzinfo=left.tzinfo)
        if end <= begin:
            end += timedelta(days=1)
        lo, hi = max(begin, left), min(end, left + span)
        if hi > lo:
            spans.append(Span(_pct(lo - left, span), _pct(hi - lo, span)))
    return spans


def _block(play: PlannedPlay, left: datetime, span: timedelta, zone: ZoneInfo) -> Block:
    start, end = play.start_at.astimezone(zone), play.end_at.astimezone(zone)
    planned = play.slot.planned_at.astimezone(zone)
    return Block(
        left=_pct(start - left, span),
        width=_pct(min(end, left + span) - start, span),
        title=play.slot.notice_title,
        schedule_id=play.slot.schedule_id,
        planned=planned,
        start=start,
        end=end,
        volume=play.volume,
        priority=play.slot.priority,
        problems=tuple(play.problems),
        delay_left=_pct(planned - left, span),
        delay_width=_pct(start - planned, span) if start > planned else 0.0,
    )


def _scale(left: datetime, span: timedelta) -> list[tuple[float, str]]:
    """Tick labels every 5, 10 or 30 minutes, or 1, 2 or 3 hours: at most about six."""
    minutes = span / timedelta(minutes=1)
    step = next((m for m in (5, 10, 30, 60, 120, 180) if minutes / m <= 6), 360)
    t = left.replace(second=0, microsecond=0)
    t += timedelta(minutes=-(t.hour * 60 + t.minute) % step)
    marks = []
    while t <= left + span:
        marks.append((_pct(t - left, span), f"{t:%H:%M}"))
        t += timedelta(minutes=step)
    return marks


def day_timeline(
    plays: Iterable[PlannedPlay], village_name: str, quiet: QuietHours, day: date, zone: ZoneInfo
) -> Timeline:
    """One day, zoomed to the hours that have plays (at least two hours, with a margin), so
    a notice of a minute or two is wide enough to read on a phone."""
    mine = sorted(
        (p for p in plays if p.slot.village_name == village_name
         and p.start_at.astimezone(zone).date() == day),
        key=lambda p: p.start_at,
    )  # fmt: skip
    midnight = datetime.combine(day, time(0, 0), tzinfo=zone)
    if mine:
        lo = max(midnight, min(p.slot.planned_at for p in mine).astimezone(zone) - DAY_MARGIN)
        hi = min(
            midnight + timedelta(days=1), max(p.end_at for p in mine).astimezone(zone) + DAY_MARGIN
        )
        lo = lo.replace(minute=lo.minute - lo.minute % 5, second=0, microsecond=0)
        if hi - lo < DAY_MIN_SPAN:
            hi = min(lo + DAY_MIN_SPAN, midnight + timedelta(days=1))
            lo = hi - DAY_MIN_SPAN
    else:
        lo, hi = midnight + timedelta(hours=6), midnight + timedelta(hours=22)
    span = hi - lo
    row = TimelineRow(f"{lo:%H:%M}–{hi:%H:%M}", day, quiet=quiet_spans(quiet, lo, span))
    row.blocks = [_block(p, lo, span, zone) for p in mine]
    return Timeline(village_name, str(quiet), lo, span, [row], _scale(lo, span))


def week_timeline(
    plays: Iterable[PlannedPlay],
    village_name: str,
    quiet: QuietHours,
    first: date,
    days: int,
    zone: ZoneInfo,
    today: date,
) -> Timeline:
    """One row per day, each the whole day from 00:00 to 24:00."""
    mine = [p for p in plays if p.slot.village_name == village_name]
    span = timedelta(days=1)
    timeline = Timeline(
        village_name, str(quiet), datetime.combine(first, time(0), tzinfo=zone), span
    )
    for n in range(days):
        day = first + timedelta(days=n)
        left = datetime.combine(day, time(0), tzinfo=zone)
        row = TimelineRow(day_label(day, today), day, quiet=quiet_spans(quiet, left, span))
        row.blocks = [
            _block(p, left, span, zone)
            for p in sorted(mine, key=lambda p: p.start_at)
            if p.start_at.astimezone(zone).date() == day
        ]
        timeline.rows.append(row)
    timeline.scale = [(_pct(timedelta(hours=h), span), f"{h:02d}") for h in range(0, 25, 6)]
    return timeline
