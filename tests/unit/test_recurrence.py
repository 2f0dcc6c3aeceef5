"""Occurrence expansion and catch-up decisions, without a clock or a database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from broadcast.errors import ValidationFailed
from broadcast.recurrence import Recurrence, parse_time_of_day
from scheduler.planner import plan

SH = ZoneInfo("Asia/Shanghai")


def test_daily_occurrences_cross_midnight_in_shanghai() -> None:
    # 23:30 local is 15:30 UTC; the schedule starts on the evening of 22 November.
    rec = Recurrence("daily", datetime(2026, 11, 22, 20, 0, tzinfo=SH), SH, time(0, 15))
    after = datetime(2026, 11, 22, 23, 30, tzinfo=SH)
    got = [t.astimezone(SH) for t in rec.between(after, after + timedelta(days=3))]
    assert got == [
        datetime(2026, 11, 23, 0, 15, tzinfo=SH),
        datetime(2026, 11, 24, 0, 15, tzinfo=SH),
        datetime(2026, 11, 25, 0, 15, tzinfo=SH),
    ]
    # 00:15 in Shanghai is the previous day 16:15 in UTC.
    assert rec.next_after(after) == datetime(2026, 11, 22, 16, 15, tzinfo=UTC)


def test_daily_occurrence_at_the_current_minute_is_not_repeated() -> None:
    rec = Recurrence("daily", datetime(2026, 1, 1, tzinfo=SH), SH, time(7, 0))
    at_seven = datetime(2026, 3, 1, 7, 0, tzinfo=SH)
    assert rec.next_after(at_seven) == datetime(2026, 3, 2, 7, 0, tzinfo=SH)
    assert rec.next_after(at_seven - timedelta(seconds=1)) == at_seven


def test_daily_never_before_its_start() -> None:
    rec = Recurrence("daily", datetime(2026, 5, 10, 12, 0, tzinfo=SH), SH, time(7, 0))
    assert rec.next_after(datetime(2026, 5, 1, tzinfo=SH)) == datetime(2026, 5, 11, 7, 0, tzinfo=SH)


def test_daily_across_month_and_year_end() -> None:
    rec = Recurrence("daily", datetime(2026, 1, 1, tzinfo=SH), SH, time(18, 30))
    got = rec.between(datetime(2026, 12, 30, 19, 0, tzinfo=SH), datetime(2027, 1, 2, tzinfo=SH))
    assert [t.astimezone(SH).date().isoformat() for t in got] == ["2026-12-31", "2027-01-01"]


def test_once_occurs_only_once() -> None:
    at = datetime(2026, 11, 22, 10, 0, tzinfo=SH)
    rec = Recurrence("once", at, SH)
    assert rec.next_after(at - timedelta(seconds=1)) == at
    assert rec.next_after(at) is None


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        Recurrence("once", datetime(2026, 1, 1), SH)  # noqa: DTZ001 - the point of the test
    rec = Recurrence("once", datetime(2026, 1, 1, tzinfo=SH), SH)
    with pytest.raises(ValueError):
        rec.next_after(datetime(2025, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize("bad", ["24:00", "7:00", "07:60", "", "noon"])
def test_time_of_day_must_be_hh_mm(bad: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_time_of_day(bad)


def test_catch_up_fires_unfired_occurrences_inside_the_grace_window_only() -> None:
    rec = Recurrence("daily", datetime(2026, 1, 1, tzinfo=SH), SH, time(7, 0))
    seven = datetime(2026, 3, 1, 7, 0, tzinfo=SH)
    grace = timedelta(minutes=5)
    # Back up 3 minutes after 07:00: play it now.
    p = plan(rec, seven + timedelta(minutes=3), grace, fired=set())
    assert p.overdue == [seven]
    assert p.next_at == seven + timedelta(days=1)
    # Already fired: nothing twice.
    assert plan(rec, seven + timedelta(minutes=3), grace, fired={seven}).overdue == []
    # Back up 5 hours late: too late to play.
    assert plan(rec, seven + timedelta(hours=5), grace, fired=set()).overdue == []
