"""Form fields and JSON bodies into ``ScheduleRequest``: pure parsing, no app or database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from broadcast.errors import ValidationFailed
from web.emergency_inputs import emergency_from_form, emergency_from_json
from web.forms import FORM_ERROR, errors_for
from web.inputs import (
    notice_text,
    parse_aware_datetime,
    parse_int,
    parse_local_datetime,
    parse_skip_dates,
    parse_weekdays,
    quiet_hours_value,
    schedule_from_form,
    schedule_from_json,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


def test_form_now_is_a_one_off_at_now() -> None:
    req = schedule_from_form(7, {"when": "now"}, ["1", "2", ""], NOW, SHANGHAI)
    assert (req.notice_id, req.kind, req.at, req.villages) == (7, "once", NOW, [1, 2])
    assert (req.priority, req.repeat, req.volume) == (50, 1, 80)


def test_form_at_is_read_in_the_configured_zone() -> None:
    form = {"when": "at", "at": "2025-03-01T11:30", "priority": "90", "volume": "60"}
    req = schedule_from_form(7, form, ["1"], NOW, SHANGHAI)
    assert req.at == datetime(2025, 3, 1, 3, 30, tzinfo=UTC)
    assert req.at is not None and req.at.tzinfo is not None
    assert (req.priority, req.volume) == (90, 60)


def test_form_daily() -> None:
    req = schedule_from_form(7, {"when": "daily", "time_of_day": " 07:30 "}, ["1"], NOW, SHANGHAI)
    assert (req.kind, req.time_of_day, req.at) == ("daily", "07:30", None)


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"when": "at", "at": ""}, "at"),
        ({"when": "at", "at": "明天"}, "at"),
        ({"when": "daily", "time_of_day": ""}, "time_of_day"),
        ({"when": "hourly"}, "when"),
        ({"when": "weekly", "time_of_day": ""}, "time_of_day"),
        ({"when": "every_n_days", "time_of_day": "07:00", "interval_days": "三"}, "interval_days"),
        ({"when": "daily", "time_of_day": "07:00", "end_date": "12/31"}, "end_date"),
        ({"when": "daily", "time_of_day": "07:00", "skip_dates": "国庆"}, "skip_dates"),
        ({"when": "now", "window_minutes": "半小时"}, "window_minutes"),
        ({"when": "now", "repeat": "two"}, "repeat"),
        ({"when": "now", "priority": "1.5"}, "priority"),
    ],
)
def test_form_errors_name_their_field(form: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        schedule_from_form(7, form, ["1"], NOW, SHANGHAI)
    assert caught.value.field == field


def test_json_defaults_to_playing_now() -> None:
    req = schedule_from_json({"notice_id": 3, "villages": ["dc", 2]}, NOW)
    assert (req.kind, req.at, req.villages) == ("once", NOW, ["dc", 2])


def test_form_weekly_with_dates_holidays_and_window() -> None:
    form = {
        "when": "weekly",
        "time_of_day": "18:30",
        "start_date": "2026-10-01",
        "end_date": "2026/12/31",
        "skip_dates": "2026-10-01 至 10-03，2027-01-01\n2026-12-25",
        "window_minutes": " 30 ",
        "interval_days": "ignored for weekly",
    }
    req = schedule_from_form(7, form, ["1"], NOW, SHANGHAI, weekdays=["4", "1", "4"])
    assert (req.kind, req.time_of_day, req.weekdays) == ("weekly", "18:30", [1, 4])
    assert (req.start_date, req.end_date) == (date(2026, 10, 1), date(2026, 12, 31))
    assert req.skip_dates == [
        date(2026, 10, 1),
        date(2026, 10, 2),
        date(2026, 10, 3),
        date(2026, 12, 25),
        date(2027, 1, 1),
    ]
    assert (req.window_minutes, req.interval_days, req.at) == (30, 1, None)


def test_form_every_n_days_and_one_offs_ignore_repeating_fields() -> None:
    form = {"when": "every_n_days", "time_of_day": "12:00", "interval_days": "3"}
    req = schedule_from_form(7, form, ["1"], NOW, SHANGHAI, weekdays=["1"])
    assert (req.kind, req.interval_days, req.weekdays) == ("every_n_days", 3, [])
    once = schedule_from_form(
        7, {"when": "now", "skip_dates": "2026-10-01", "end_date": "x"}, ["1"], NOW, SHANGHAI
    )
    assert (once.skip_dates, once.end_date, once.window_minutes) == ([], None, None)


def test_skip_dates_and_weekdays() -> None:
    assert parse_skip_dates("") == []
    assert parse_skip_dates(["2026-10-02", "2026-10-01", "2026-10-02"]) == [
        date(2026, 10, 1),
        date(2026, 10, 2),
    ]
    assert len(parse_skip_dates("2026-12-30~2027-01-02")) == 4
    assert parse_skip_dates("2026-10-06 到 10-07") == [date(2026, 10, 6), date(2026, 10, 7)]
    assert parse_skip_dates("2026-12-30 至 01-02")[-1] == date(2027, 1, 2)
    with pytest.raises(ValidationFailed, match="结束早于开始"):
        parse_skip_dates("2026-12-30 至 2026-01-02")
    with pytest.raises(ValidationFailed, match="最多 366"):
        parse_skip_dates("2026-01-01 至 2027-12-31")
    with pytest.raises(ValidationFailed, match="2026-02-30"):
        parse_skip_dates("2026-02-30")
    assert parse_weekdays(["7", 1, "1"]) == [1, 7]
    with pytest.raises(ValidationFailed) as caught:
        parse_weekdays(["8"])
    assert caught.value.field == "weekdays"


def test_quiet_hours_values() -> None:
    assert quiet_hours_value(None) is None
    for none in ("", " - ", "无", "08:00-08:00"):
        assert quiet_hours_value(none) == "-"
    assert quiet_hours_value(" 21:30 – 06:00 ") == "21:30-06:00"
    for bad in ("夜里", 2200, "25:00-06:00"):
        with pytest.raises(ValidationFailed) as caught:
            quiet_hours_value(bad)
        assert caught.value.field == "quiet_hours"


def test_emergency_form() -> None:
    form = {
        "notice_id": "5",
        "severity": "2",
        "event_type": "other",
        "event_type_other": " 危化品泄漏 ",
        "drill": "1",
    }
    req = emergency_from_form(form, ["2", "1"])
    assert (req.notice_id, req.severity, req.event_type, req.drill) == (5, 2, "危化品泄漏", True)
    assert (req.repeat, req.priority, req.volume) == (2, 95, 100)
    assert req.villages == [2, 1]


@pytest.mark.parametrize(
    ("form", "villages", "field"),
    [
        ({"notice_id": "5", "severity": "2", "event_type": "防汛"}, [], "villages"),
        ({"notice_id": "", "severity": "2", "event_type": "防汛"}, ["1"], "notice_id"),
        ({"notice_id": "5", "severity": "", "event_type": "防汛"}, ["1"], "severity"),
        ({"notice_id": "5", "severity": "5", "event_type": "防汛"}, ["1"], "severity"),
        ({"notice_id": "5", "severity": "1", "event_type": ""}, ["1"], "event_type"),
        ({"notice_id": "5", "severity": "1", "event_type": "other"}, ["1"], "event_type"),
        ({"notice_id": "5", "severity": "1", "event_type": "防汛", "repeat": "0"}, ["1"], "repeat"),
    ],
)
def test_emergency_form_errors(form: dict[str, str], villages: list[str], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        emergency_from_form(form, villages)
    assert caught.value.field == field


def test_emergency_json() -> None:
    body = {"notice_id": 1, "villages": ["dc"], "severity": 1, "event_type": "台风"}
    req, confirmed = emergency_from_json(body)
    assert (req.drill, confirmed, req.repeat) == (False, False, 2)
    req, confirmed = emergency_from_json({**body, "drill": True, "confirm": True, "repeat": 3})
    assert (req.drill, confirmed, req.repeat) == (True, True, 3)
    for extra, field in (
        ({"confirm": "yes"}, "confirm"),
        ({"drill": 1}, "drill"),
        ({"severity": "II"}, "severity"),
        ({"event_type": 3}, "event_type"),
        ({"target": "all"}, "target"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            emergency_from_json({**body, **extra})
        assert caught.value.field == field


def test_json_repeating_fields() -> None:
    body = {
        "notice_id": 3,
        "villages": [1],
        "kind": "weekly",
        "time_of_day": "18:30",
        "weekdays": [4, 1],
        "start_date": "2026-10-01",
        "end_date": "2026-12-31",
        "skip_dates": ["2026-10-01", "2026-10-02"],
        "window_minutes": 20,
    }
    req = schedule_from_json(body, NOW)
    assert (req.kind, req.weekdays, req.at, req.window_minutes) == ("weekly", [1, 4], None, 20)
    assert (req.start_date, req.end_date) == (date(2026, 10, 1), date(2026, 12, 31))
    assert req.skip_dates == [date(2026, 10, 1), date(2026, 10, 2)]
    with pytest.raises(ValidationFailed) as caught:
        schedule_from_json({"notice_id": 3, "villages": [1]}, NOW, at_required=True)
    assert caught.value.field == "at"


def test_json_at_must_be_aware() -> None:
    req = schedule_from_json({"notice_id": 3, "villages": [1], "at": "2025-03-01T12:00+08:00"}, NOW)
    assert req.at == datetime(2025, 3, 1, 4, 0, tzinfo=UTC)
    with pytest.raises(ValidationFailed) as caught:
        schedule_from_json({"notice_id": 3, "villages": [1], "at": "2025-03-01T12:00"}, NOW)
    assert caught.value.field == "at"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"villages": [1]}, "notice_id"),
        ({"notice_id": True, "villages": [1]}, "notice_id"),
        ({"notice_id": 1, "villages": [True]}, "villages"),
        ({"notice_id": 1, "villages": [1], "kind": 2}, "kind"),
        ({"notice_id": 1, "villages": [1], "kind": "daily", "time_of_day": 730}, "time_of_day"),
        ({"notice_id": 1, "villages": [1], "extra": 1}, "extra"),
        ({"notice_id": 1, "villages": [1], "kind": "weekly", "weekdays": "1,4"}, "weekdays"),
        ({"notice_id": 1, "villages": [1], "kind": "weekly", "weekdays": [0]}, "weekdays"),
        ({"notice_id": 1, "villages": [1], "kind": "daily", "skip_dates": "10-01"}, "skip_dates"),
        (
            {"notice_id": 1, "villages": [1], "kind": "daily", "skip_dates": [20261001]},
            "skip_dates",
        ),
        ({"notice_id": 1, "villages": [1], "kind": "daily", "end_date": "明年"}, "end_date"),
        ({"notice_id": 1, "villages": [1], "window_minutes": 1.5}, "window_minutes"),
    ],
)
def test_json_errors_name_their_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        schedule_from_json(body, NOW)
    assert caught.value.field == field


def test_parse_int() -> None:
    assert parse_int(" 5 ", "x", "数") == 5
    assert parse_int("", "x", "数", 9) == 9
    assert parse_int(None, "x", "数", 9) == 9
    with pytest.raises(ValidationFailed, match="请填写数"):
        parse_int(None, "x", "数")
    with pytest.raises(ValidationFailed, match="数须为整数"):
        parse_int(1.5, "x", "数")


def test_datetime_helpers() -> None:
    assert parse_local_datetime("2025-03-01T08:00:30", SHANGHAI) == datetime(
        2025, 3, 1, 0, 0, 30, tzinfo=UTC
    )
    assert parse_aware_datetime("2025-03-01T00:00:00Z") == datetime(2025, 3, 1, tzinfo=UTC)
    with pytest.raises(ValidationFailed):
        parse_aware_datetime(12)


def test_notice_text() -> None:
    assert notice_text("通知", "text") == "通知"
    with pytest.raises(ValidationFailed) as caught:
        notice_text("  ", "body")
    assert caught.value.field == "body"


def test_errors_land_on_their_form_fields() -> None:
    fields = ("title", "body")
    assert errors_for(ValidationFailed("请填写标题", "title"), fields) == {"title": "请填写标题"}
    assert errors_for(ValidationFailed("其他", "kind"), fields) == {FORM_ERROR: "其他"}
