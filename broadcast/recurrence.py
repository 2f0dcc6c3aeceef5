"""Occurrence expansion for schedules and quiet-hour checks: pure functions over plain values."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from broadcast.errors import ValidationFailed

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
KINDS = ("once", "daily", "weekly", "every_n_days")
WEEKDAY_NAMES = ("一", "二", "三", "四", "五", "六", "日")


def parse_time_of_day(value: str, field: str = "time_of_day") -> time:
    match = _HHMM.match(value.strip())
    if not match:
        raise ValidationFailed(f"时间格式应为 时:分（00:00–23:59），收到“{value}”", field)
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class Recurrence:
    """When a schedule plays.

    - ``once``: at ``start_at``.
    - ``daily``: every day at ``time_of_day`` (local, in ``zone``).
    - ``weekly``: on ``weekdays`` (ISO numbers, 1 = Monday) at ``time_of_day``.
    - ``every_n_days``: every ``interval_days`` days counted from ``start_at``'s local date.

    Repeating kinds start on or after ``start_at``, stop after ``end_date`` (inclusive,
    local) and skip ``skip_dates`` (holidays).
    """

    kind: str
    start_at: datetime
    zone: ZoneInfo
    time_of_day: time | None = None
    weekdays: frozenset[int] = frozenset()
    interval_days: int = 1
    end_date: date | None = None
    skip_dates: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.start_at.tzinfo is None:
            raise ValueError("start_at must be timezone-aware")
        if self.kind not in KINDS:
            raise ValueError(f"unknown recurrence kind {self.kind!r}")
        if self.kind != "once" and self.time_of_day is None:
            raise ValueError(f"a {self.kind} recurrence needs time_of_day")
        if self.kind == "weekly" and not self.weekdays <= frozenset(range(1, 8)):
            raise ValueError("weekdays are ISO numbers 1..7")
        if self.kind == "weekly" and not self.weekdays:
            raise ValueError("a weekly recurrence needs at least one weekday")
        if self.interval_days < 1:
            raise ValueError("interval_days must be at least 1")

    @property
    def first_date(self) -> date:
        return self.start_at.astimezone(self.zone).date()

    def _day_matches(self, day: date) -> bool:
        if day in self.skip_dates:
            return False
        if self.kind == "weekly":
            return day.isoweekday() in self.weekdays
        if self.kind == "every_n_days":
            return (day - self.first_date).days % self.interval_days == 0
        return True

    def occurrences(self, after: datetime) -> Iterator[datetime]:
        """Planned instants strictly after ``after``, in order, as UTC datetimes."""
        if after.tzinfo is None:
            raise ValueError("after must be timezone-aware")
        if self.kind == "once":
            if self.start_at > after:
                yield self.start_at.astimezone(UTC)
            return
        assert self.time_of_day is not None
        day = max(after, self.start_at).astimezone(self.zone).date() - timedelta(days=1)
        while True:
            day += timedelta(days=1)
            if self.end_date is not None and day > self.end_date:
                return
            if not self._day_matches(day):
                continue
            local = datetime.combine(day, self.time_of_day, tzinfo=self.zone)
            if local > after and local >= self.start_at:
                yield local.astimezone(UTC)

    def next_after(self, after: datetime) -> datetime | None:
        return next(self.occurrences(after), None)

    def between(self, start: datetime, end: datetime) -> list[datetime]:
        """Occurrences in the half-open interval (start, end]."""
        found = []
        for occ in self.occurrences(start):
            if occ > end:
                break
            found.append(occ)
        return found

    def occurs_at(self, instant: datetime) -> bool:
        return self.next_after(instant - timedelta(microseconds=1)) == instant

    def local_times(self) -> set[time]:
        """The local times of day at which this recurrence can start."""
        if self.kind == "once":
            return {self.start_at.astimezone(self.zone).time().replace(second=0, microsecond=0)}
        assert self.time_of_day is not None
        return {self.time_of_day}


@dataclass(frozen=True)
class QuietHours:
    """A daily band in which routine broadcasts never start; may cross midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, value: str, field: str = "quiet_hours") -> QuietHours:
        """``"22:00-06:00"``; an empty string or ``"-"`` means none (start == end)."""
        value = value.strip()
        if value in ("", "-"):
            return cls(time(0, 0), time(0, 0))
        parts = [p.strip() for p in value.replace("–", "-").replace("～", "-").split("-")]
        if len(parts) != 2:
            raise ValidationFailed(f"静音时段格式应为 22:00-06:00，收到“{value}”", field)
        return cls(parse_time_of_day(parts[0], field), parse_time_of_day(parts[1], field))

    def contains(self, t: time) -> bool:
        t = t.replace(second=0, microsecond=0, tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    @property
    def none(self) -> bool:
        return self.start == self.end

    def value(self) -> str:
        """As stored and parsed back: ``"22:00-06:00"``, or ``"-"`` for none."""
        return "-" if self.none else f"{self.start:%H:%M}-{self.end:%H:%M}"

    def __str__(self) -> str:
        """As shown to staff: the band, or 无."""
        return "无" if self.none else self.value()


@dataclass(frozen=True)
class VolumeBand:
    """A daily band (may cross midnight) in which routine broadcasts play at most
    ``ceiling`` (0-100)."""

    start: time
    end: time
    ceiling: int

    @classmethod
    def parse(cls, band: str, ceiling: int, field: str = "band") -> VolumeBand:
        """``"06:00-07:30"`` and a ceiling 0-100; the band may not be empty."""
        quiet = QuietHours.parse(band, field)
        if quiet.none:
            raise ValidationFailed("音量时段的开始和结束时间不能相同", field)
        if not 0 <= ceiling <= 100:
            raise ValidationFailed("音量上限须在 0–100 之间", "max_volume")
        return cls(quiet.start, quiet.end, ceiling)

    def contains(self, t: time) -> bool:
        return QuietHours(self.start, self.end).contains(t)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def capped_volume(volume: int, bands: Iterable[VolumeBand], t: time) -> int:
    """``volume`` lowered to the strictest ceiling whose band contains local time ``t``."""
    for band in bands:
        if band.contains(t):
            volume = min(volume, band.ceiling)
    return volume
