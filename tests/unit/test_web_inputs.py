"""Form fields and JSON bodies into ``ScheduleRequest``: pure parsing, no app or database."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from broadcast.errors import ValidationFailed
from web.forms import FORM_ERROR, errors_for
from web.inputs import (
    notice_text,
    parse_aware_datetime,
    parse_int,
    parse_local_datetime,
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
        ({"when": "weekly"}, "when"),
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
