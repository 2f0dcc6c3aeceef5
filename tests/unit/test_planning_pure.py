"""Pure parts of planning: volume ceilings, quiet-hour values, the preview's capped volume,
timelines, and the programme form's buttons."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from broadcast.errors import ValidationFailed
from broadcast.preview import Slot, VillageFacts, arrange
from broadcast.programmes import ItemRequest
from broadcast.recurrence import QuietHours, VolumeBand, capped_volume
from web import plans
from web.programmes import apply_op, item_from_json, parse_item

SH = ZoneInfo("Asia/Shanghai")


def test_volume_bands_cap_and_cross_midnight() -> None:
    morning = VolumeBand.parse("06:00-07:30", 60)
    night = VolumeBand.parse("21:00-06:30", 30)
    bands = [morning, night]
    assert capped_volume(90, bands, time(6, 0)) == 30  # both apply: the strictest wins
    assert capped_volume(90, bands, time(7, 29)) == 60
    assert capped_volume(90, bands, time(7, 30)) == 90  # the end is not in the band
    assert capped_volume(50, bands, time(7, 0)) == 50  # never raised
    assert capped_volume(90, bands, time(23, 15)) == 30
    assert str(night) == "21:00-06:30"
    for band, ceiling in (("07:00-07:00", 50), ("7-8", 50), ("07:00-08:00", 101)):
        with pytest.raises(ValidationFailed):
            VolumeBand.parse(band, ceiling)


def test_quiet_hours_value_round_trips() -> None:
    none = QuietHours.parse("08:00-08:00")
    assert (none.value(), str(none)) == ("-", "无")
    assert QuietHours.parse(none.value()) == QuietHours.parse("-")
    assert QuietHours.parse("22:00–06:00").value() == "22:00-06:00"


def _slot(sid: int, at: datetime, priority: int, volume: int = 80) -> Slot:
    return Slot(sid, f"#{sid}", 1, "东村", at, timedelta(minutes=2), priority,
                timedelta(minutes=15), volume=volume)  # fmt: skip


def test_preview_caps_routine_volume_at_the_planned_time() -> None:
    at = datetime(2026, 11, 23, 7, 0, tzinfo=SH)
    facts = {1: VillageFacts(QuietHours.parse("22:00-06:00"), "Asia/Shanghai", 1, 0,
                             (VolumeBand.parse("06:00-07:30", 60),))}  # fmt: skip
    plays = arrange([_slot(1, at, 50, 90), _slot(2, at, 95, 100), _slot(3, at, 50, 40)], facts)
    assert [(p.slot.schedule_id, p.volume) for p in plays] == [(2, 100), (1, 60), (3, 40)]


def test_day_timeline_zooms_to_the_plays_and_shows_queueing() -> None:
    at = datetime(2026, 11, 23, 7, 0, tzinfo=SH)
    facts = {1: VillageFacts(QuietHours.parse("22:00-06:58"), "Asia/Shanghai", 1, 0)}
    plays = arrange([_slot(1, at, 80), _slot(2, at, 50)], facts)
    tl = plans.day_timeline(plays, "东村", facts[1].quiet, date(2026, 11, 23), SH)
    assert tl.start == datetime(2026, 11, 23, 6, 55, tzinfo=SH)
    assert tl.span == timedelta(minutes=20)
    first, second = tl.plays
    assert (first.left, first.width, first.queued) == (25.0, 10.0, False)
    assert second.queued and second.left == 35.0 and second.times == "07:02–07:04"
    assert (second.delay_left, second.delay_width) == (25.0, 10.0)
    assert [(q.left, q.width) for q in tl.rows[0].quiet] == [(0.0, 15.0)]  # 06:55-06:58
    assert [label for _, label in tl.scale] == ["06:55", "07:00", "07:05", "07:10", "07:15"]


def test_week_timeline_rows_and_quiet_spans() -> None:
    quiet = QuietHours.parse("22:00-06:00")
    tl = plans.week_timeline([], "东村", quiet, date(2026, 11, 23), 7, SH, date(2026, 11, 23))
    assert len(tl.rows) == 7 and tl.rows[0].label.startswith("今天")
    assert [(q.left, q.width) for q in tl.rows[0].quiet] == [(0.0, 25.0), (91.667, 8.333)]
    assert plans.quiet_spans(QuietHours.parse("-"), tl.start, tl.span) == []


def test_programme_form_buttons_and_items() -> None:
    items = [ItemRequest("chime"), ItemRequest("notice", 3), ItemRequest("silence", seconds=2)]
    assert parse_item("notice:3") == ItemRequest("notice", notice_id=3)
    assert parse_item("silence:5") == ItemRequest("silence", seconds=5)
    for bad in ("notice:", "music:1", "chime:2", "silence:-1"):
        with pytest.raises(ValidationFailed):
            parse_item(bad)
    assert apply_op("up:1", items, {})[:2] == [items[1], items[0]]
    assert apply_op("down:2", items, {}) == items  # already last
    assert apply_op("remove:0", items, {}) == items[1:]
    assert apply_op("add_silence", items, {"silence": "4"})[-1] == ItemRequest("silence", seconds=4)
    assert apply_op("add_notice", [], {"add_notice": "7"}) == [ItemRequest("notice", 7)]
    with pytest.raises(ValidationFailed, match="选择"):
        apply_op("add_notice", items, {"add_notice": ""})
    with pytest.raises(ValidationFailed):
        apply_op("up:9", items, {})
    assert item_from_json({"kind": "silence", "seconds": 3}, 1) == ItemRequest("silence", None, 3)
    for bad in ({"kind": "notice", "notice_id": "3"}, {"seconds": 3}, {"kind": "chime", "x": 1}):
        with pytest.raises(ValidationFailed):
            item_from_json(bad, 1)
