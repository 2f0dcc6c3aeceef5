"""The "what will play where" preview from real schedules, via the use case and the CLI."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from broadcast.errors import ValidationFailed
from broadcast.planning import ScheduleRequest
from broadcast.settings import Settings
from cunxiang.cli import main
from tests.conftest import ServicesFactory, require

SH = ZoneInfo("Asia/Shanghai")


def test_preview_shows_conflicts_and_problems(
    settings: Settings,
    make_services: ServicesFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require("espeak-ng")
    services = make_services(clock=lambda: datetime(2026, 11, 22, 9, 0, tzinfo=SH))
    east = services.add_village("东村", "dc")
    west = services.add_village("西村", "xc")
    services.add_speaker("dc-01", east.id)
    long_notice = services.add_notice("早间节目", "各位村民早上好。" * 12)
    short_notice = services.add_notice("通知", "请注意。")
    morning = services.add_schedule(
        ScheduleRequest(long_notice.id, [east.id, west.id], "daily", time_of_day="07:00")
    )
    services.add_schedule(
        ScheduleRequest(
            short_notice.id, [east.id], "weekly", time_of_day="07:00", weekdays=[1], priority=80
        )
    )
    plays = services.preview_plan(date(2026, 11, 23), days=2)  # Monday and Tuesday
    table = [
        (p.slot.village_name, p.start_at.astimezone(SH).strftime("%d %H:%M"), p.slot.notice_title)
        for p in plays
    ]
    assert table[:3] == [
        ("东村", "23 07:00", "通知"),
        ("东村", "23 07:00", "早间节目"),
        ("东村", "24 07:00", "早间节目"),
    ]
    monday_morning = plays[1]
    assert monday_morning.start_at > monday_morning.slot.planned_at
    assert any("推迟" in p for p in monday_morning.problems)
    assert any("离线" in p for p in monday_morning.problems)  # dc-01 never connected
    west_plays = [p for p in plays if p.slot.village_name == "西村"]
    assert len(west_plays) == 2 and all("该村没有喇叭" in p.problems for p in west_plays)
    assert {p.slot.schedule_id for p in west_plays} == {morning.id}

    with pytest.raises(ValidationFailed):
        services.preview_plan(date(2026, 11, 23), days=0)

    if settings.database_url is not None:  # the CLI must open the same database
        monkeypatch.setenv("CUNXIANG_DATABASE_URL", settings.database_url.get_secret_value())
    d = ["--data-dir", str(settings.data_dir)]
    code = main([*d, "plan", "--date", "2026-11-23", "--village", "东村", "--strict"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines()[0].startswith("village\tstart")
    assert "东村\t11-23 07:00:00" in out
    assert "plays" in err
    assert main([*d, "plan", "--date", "23/11"]) == 2
