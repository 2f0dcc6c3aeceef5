"""Occurrence expansion for schedules: pure functions over plain values."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from broadcast.errors import ValidationFailed

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_time_of_day(value: str, field: str = "time_of_day") -> time:
    match = _HHMM.match(value.strip())
    if not match:
        raise ValidationFailed(f"时间格式应为 时:分（00:00–23:59），收到“{value}”", field)
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class Recurrence:
    """What a schedule row says about when it plays.

    ``kind`` is ``once`` (play at ``start_at``) or ``daily`` (play every day at
    ``time_of_day`` in ``zone``, on or after ``start_at``).
    """

    kind: str
    start_at: datetime
    zone: ZoneInfo
    time_of_day: time | None = None

    def __post_init__(self) -> None:
        if self.start_at.tzinfo is None:
            raise ValueError("start_at must be timezone-aware")
        if self.kind == "daily" and self.time_of_day is None:
            raise ValueError("a daily recurrence needs time_of_day")
        if self.kind not in ("once", "daily"):
            raise ValueError(f"unknown recurrence kind {self.kind!r}")

    def occurrences(self, after: datetime) -> Iterator[datetime]:
        """Planned instants strictly after ``after``, in order, as UTC datetimes."""
        if after.tzinfo is None:
            raise ValueError("after must be timezone-aware")
        if self.kind == "once":
            if self.start_at > after:
                yield self.start_at.astimezone(UTC)
            return
        assert self.time_of_day is not None
        first = max(after, self.start_at - timedelta(microseconds=1))
        day = first.astimezone(self.zone).date()
        while True:
            local = datetime.combine(day, self.time_of_day, tzinfo=self.zone)
            if local > after and local >= self.start_at:
                yield local.astimezone(UTC)
            day += timedelta(days=1)

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
