"""The scheduler arms jobs from schedule rows at the right instants, without waiting on a clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from broadcast.planning import ScheduleRequest
from scheduler.runner import BroadcastScheduler
from tests.conftest import ServicesFactory, require

SH = ZoneInfo("Asia/Shanghai")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_daily_schedule_across_midnight_and_catch_up(make_services: ServicesFactory) -> None:
    require("espeak-ng")
    clock = Clock(datetime(2026, 11, 22, 23, 30, tzinfo=SH))
    services = make_services(clock=clock)
    village = services.add_village("北岭村", "330000000003")
    services.add_speaker("beiling-01", village.id)
    notice = services.add_notice("夜间提醒", "请关好门窗。")
    view = services.add_schedule(
        ScheduleRequest(notice.id, [village.id], "daily", time_of_day="00:15")
    )
    assert view.next_at == datetime(2026, 11, 23, 0, 15, tzinfo=SH)

    sched = BroadcastScheduler(services)
    sched.sync()
    assert sched.next_run(view.id) == datetime(2026, 11, 23, 0, 15, tzinfo=SH)

    # The job fires at 00:15: one broadcast; the next job is armed for the following night.
    clock.now = datetime(2026, 11, 23, 0, 15, tzinfo=SH)
    sched._fire(view.id, clock.now)
    assert len(services.list_broadcasts()) == 1
    assert sched.next_run(view.id) == datetime(2026, 11, 24, 0, 15, tzinfo=SH)

    # Down from 00:14 to 00:18 the next night: still inside the grace window, plays once.
    clock.now = datetime(2026, 11, 24, 0, 18, tzinfo=SH)
    sched.sync()
    sched.sync()
    planned = [b.planned_at for b in services.list_broadcasts()]
    assert planned == [
        datetime(2026, 11, 24, 0, 15, tzinfo=SH),
        datetime(2026, 11, 23, 0, 15, tzinfo=SH),
    ]

    # Down for five hours: too late, it does not play at dawn.
    clock.now = datetime(2026, 11, 25, 5, 15, tzinfo=SH)
    sched.sync()
    assert len(services.list_broadcasts()) == 2
    assert sched.next_run(view.id) == datetime(2026, 11, 26, 0, 15, tzinfo=SH)

    # Disabled: the job is removed, not parked in the future.
    services.set_schedule_enabled(view.id, False)
    sched.sync()
    assert sched.next_run(view.id) is None
    assert clock.now - timedelta(days=3) < clock.now  # the clock never moved on its own
