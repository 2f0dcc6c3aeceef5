"""Occurrence expansion and catch-up decisions, without a clock or a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from broadcast.errors import ValidationFailed
from broadcast.recurrence import QuietHours, Recurrence, parse_time_of_day
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
    window = timedelta(minutes=15)
    lookback = timedelta(hours=48)
    before = {seven - timedelta(days=d) for d in (1, 2, 3)}  # earlier mornings played
    # Back up 5 minutes after 07:00: play it now.
    p = plan(rec, seven + timedelta(minutes=5), window, before, lookback)
    assert (p.due, p.missed) == ([seven], [])
    assert p.next_at == seven + timedelta(days=1)
    # Already fired: nothing twice.
    p = plan(rec, seven + timedelta(minutes=5), window, before | {seven}, lookback)
    assert (p.due, p.missed) == ([], [])
    # Back up 5 hours late: too late to play; recorded as missed.
    p = plan(rec, seven + timedelta(hours=5), window, before, lookback)
    assert (p.due, p.missed) == ([], [seven])
    # Down for a day and a half: both mornings missed, once each.
    p = plan(rec, seven + timedelta(hours=36), window, {seven}, lookback)
    assert (p.due, p.missed) == ([], [seven + timedelta(days=1)])


def test_weekly_on_chosen_weekdays_across_a_month_end() -> None:
    # Mondays and Thursdays at 18:30, from Thursday 26 November 2026.
    rec = Recurrence(
        "weekly", datetime(2026, 11, 26, tzinfo=SH), SH, time(18, 30), frozenset({1, 4})
    )
    got = rec.between(datetime(2026, 11, 26, tzinfo=SH), datetime(2026, 12, 8, tzinfo=SH))
    assert [t.astimezone(SH).strftime("%m-%d %a") for t in got] == [
        "11-26 Thu",
        "11-30 Mon",
        "12-03 Thu",
        "12-07 Mon",
    ]


def test_every_n_days_counts_from_the_start_date_across_february() -> None:
    rec = Recurrence(
        "every_n_days", datetime(2027, 2, 25, 9, 0, tzinfo=SH), SH, time(12, 0), interval_days=3
    )
    got = rec.between(datetime(2027, 2, 25, 12, 0, tzinfo=SH), datetime(2027, 3, 10, tzinfo=SH))
    assert [t.astimezone(SH).date().isoformat() for t in got] == [
        "2027-02-28",
        "2027-03-03",
        "2027-03-06",
        "2027-03-09",
    ]


def test_date_range_and_skipped_holidays() -> None:
    rec = Recurrence(
        "daily",
        datetime(2026, 9, 29, tzinfo=SH),
        SH,
        time(7, 0),
        end_date=date(2026, 10, 8),
        skip_dates=frozenset(date(2026, 10, d) for d in range(1, 8)),
    )
    got = rec.between(datetime(2026, 9, 1, tzinfo=SH), datetime(2027, 1, 1, tzinfo=SH))
    assert [t.astimezone(SH).date().isoformat() for t in got] == [
        "2026-09-29",
        "2026-09-30",
        "2026-10-08",
    ]
    assert rec.next_after(datetime(2026, 10, 8, 7, 0, tzinfo=SH)) is None


def test_bad_recurrences_are_refused() -> None:
    start = datetime(2026, 1, 1, tzinfo=SH)
    with pytest.raises(ValueError):
        Recurrence("weekly", start, SH, time(7, 0))
    with pytest.raises(ValueError):
        Recurrence("weekly", start, SH, time(7, 0), frozenset({0}))
    with pytest.raises(ValueError):
        Recurrence("every_n_days", start, SH, time(7, 0), interval_days=0)
    with pytest.raises(ValueError):
        Recurrence("hourly", start, SH, time(7, 0))


@pytest.mark.parametrize(
    ("band", "inside", "outside"),
    [
        ("22:00-06:00", ["22:00", "23:59", "00:00", "05:59"], ["06:00", "12:00", "21:59"]),
        ("12:00-14:00", ["12:00", "13:59"], ["11:59", "14:00", "00:00"]),
        ("-", [], ["00:00", "23:00"]),
    ],
)
def test_quiet_hours_across_midnight(band: str, inside: list[str], outside: list[str]) -> None:
    quiet = QuietHours.parse(band)
    assert all(quiet.contains(parse_time_of_day(t)) for t in inside)
    assert not any(quiet.contains(parse_time_of_day(t)) for t in outside)


@pytest.mark.parametrize("bad", ["22:00", "22-06", "22:00-6:00", "a-b-c"])
def test_quiet_hours_format(bad: str) -> None:
    with pytest.raises(ValidationFailed):
        QuietHours.parse(bad)
