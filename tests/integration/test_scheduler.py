"""The scheduler against a real database, with a clock the test moves (no waiting)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from broadcast.errors import ValidationFailed
from broadcast.planning import ScheduleRequest
from broadcast.services import Services
from scheduler.runner import BroadcastScheduler
from tests.conftest import ServicesFactory, require
from tests.helpers import Clock

SH = ZoneInfo("Asia/Shanghai")


@dataclass
class Town:
    services: Services
    clock: Clock
    sched: BroadcastScheduler
    village_id: int
    notice_id: int

    def daily(self, at: str, **kw: object) -> int:
        req = ScheduleRequest(self.notice_id, [self.village_id], "daily", time_of_day=at, **kw)  # type: ignore[arg-type]
        return self.services.add_schedule(req).id

    def planned(self) -> list[tuple[datetime, bool]]:
        """(local planned time, missed) of every broadcast, oldest first."""
        return sorted(
            (b.planned_at.astimezone(SH), b.missed) for b in self.services.list_broadcasts()
        )


@pytest.fixture
def town(make_services: ServicesFactory) -> Iterator[Town]:
    require("espeak-ng")
    clock = Clock(datetime(2026, 11, 22, 10, 0, tzinfo=SH))
    services = make_services(clock=clock)
    village = services.add_village("北岭村", "330000000003")
    services.add_speaker("beiling-01", village.id)
    notice = services.add_notice("提醒", "请关好门窗。")
    sched = BroadcastScheduler(services)
    services.on_schedules_changed = sched.sync
    yield Town(services, clock, sched, village.id, notice.id)


def test_daily_schedule_across_midnight(town: Town) -> None:
    town.services.set_quiet_hours(town.village_id, "-")
    town.clock.now = datetime(2026, 11, 22, 23, 30, tzinfo=SH)
    sid = town.daily("00:15")
    # 00:15 in Shanghai is 16:15 UTC of the previous day.
    assert town.sched.next_run(sid) == datetime(2026, 11, 23, 0, 15, tzinfo=SH)
    town.clock.now = datetime(2026, 11, 23, 0, 15, tzinfo=SH)
    town.sched.fire_due(town.clock.now)
    assert town.planned() == [(datetime(2026, 11, 23, 0, 15, tzinfo=SH), False)]
    assert town.sched.next_run(sid) == datetime(2026, 11, 24, 0, 15, tzinfo=SH)


def test_routine_schedules_inside_quiet_hours_are_refused(town: Town) -> None:
    for at in ("22:00", "23:59", "00:00", "05:59"):
        with pytest.raises(ValidationFailed) as err:
            town.daily(at)
        assert "静音时段为 22:00-06:00" in str(err.value)
        assert err.value.field == "time_of_day"
    town.daily("06:00")
    town.services.set_quiet_hours(town.village_id, "20:00-07:00")
    with pytest.raises(ValidationFailed):
        town.daily("06:30")
    late = datetime(2026, 11, 22, 21, 0, tzinfo=SH)
    with pytest.raises(ValidationFailed) as err:
        town.services.add_schedule(
            ScheduleRequest(town.notice_id, [town.village_id], "once", at=late)
        )
    assert err.value.field == "at"


def test_catch_up_after_five_minutes_and_five_hours_of_downtime(town: Town) -> None:
    sid = town.daily("07:00")
    seven = datetime(2026, 11, 23, 7, 0, tzinfo=SH)
    # Down from 06:58 to 07:05: inside the 15-minute window, it plays once, late.
    town.clock.now = seven + timedelta(minutes=5)
    town.sched.sync()
    town.sched.sync()
    assert town.planned() == [(seven, False)]
    assert len(town.services.due_commands()) == 1
    # Down from 06:58 the next day until 12:00: recorded as missed, never played.
    town.clock.now = seven + timedelta(days=1, hours=5)
    town.sched.sync()
    town.sched.sync()
    assert town.planned() == [(seven, False), (seven + timedelta(days=1), True)]
    assert len(town.services.due_commands()) == 0
    log = town.services.list_broadcasts()
    assert log[0].missed and log[0].state == 4 and log[0].targeted == 0
    assert town.sched.next_run(sid) == seven + timedelta(days=2)


def test_schedule_edited_or_deleted_while_its_job_is_pending(town: Town) -> None:
    sid = town.daily("07:00")
    assert town.sched.next_run(sid) == datetime(2026, 11, 23, 7, 0, tzinfo=SH)
    req = ScheduleRequest(
        town.notice_id,
        [town.village_id],
        "weekly",
        time_of_day="18:30",
        weekdays=[3],
        end_date=date(2026, 12, 31),
    )
    town.services.update_schedule(sid, req)
    assert town.sched.next_run(sid) == datetime(2026, 11, 25, 18, 30, tzinfo=SH)  # Wednesday
    # A job armed for 07:00 before the edit fires anyway: the old time no longer plays.
    town.clock.now = datetime(2026, 11, 23, 7, 0, tzinfo=SH)
    assert town.services.fire(sid, town.clock.now) is None
    assert town.planned() == []
    town.services.delete_schedule(sid)
    assert town.sched.next_run(sid) is None
    assert town.services.fire(sid, datetime(2026, 11, 25, 18, 30, tzinfo=SH)) is None


def test_disabled_schedule_has_no_job(town: Town) -> None:
    sid = town.daily("12:00")
    assert town.sched.next_run(sid) is not None
    town.services.set_schedule_enabled(sid, False)
    assert town.sched.next_run(sid) is None
