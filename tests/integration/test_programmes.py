"""Programmes (playlists) assembled from real audio, volume ceilings applied when firing
and in the preview, and the domain fixes of the planning issue."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from audio.probe import probe_audio
from audio.sequence import CHIME_MS
from broadcast.errors import Conflict, ValidationFailed
from broadcast.models import Command
from broadcast.planning import EmergencyRequest, ScheduleRequest
from broadcast.programmes import ItemRequest, ProgrammeRequest
from tests.conftest import ServicesFactory, require
from tests.helpers import Clock

SH = ZoneInfo("Asia/Shanghai")


def test_programme_is_assembled_and_plays_like_a_notice(make_services: ServicesFactory) -> None:
    require("espeak-ng")
    require("ffmpeg")
    clock = Clock(datetime(2026, 11, 22, 9, 0, tzinfo=SH))
    services = make_services(clock=clock)
    east = services.add_village("东村", "dc")
    services.add_speaker("dc-01", east.id)
    first = services.add_notice("天气", "今天晴，最高气温十五度。")
    second = services.add_notice("防火", "请注意用火安全。")
    req = ProgrammeRequest(
        "早间节目",
        [
            ItemRequest("chime"),
            ItemRequest("notice", first.id),
            ItemRequest("silence", seconds=2),
            ItemRequest("notice", second.id),
        ],
    )
    prog = services.save_programme(req, created_by="admin")
    expected = CHIME_MS + first.audio_duration_ms + 2000 + second.audio_duration_ms
    assert prog.total_ms == expected
    assert [i.title for i in prog.items] == ["提示音", "天气", "静音 2 秒", "防火"]
    # The assembled file is real audio in the notice profile, as long as its items.
    path = services.media_path(prog.audio_sha256)
    assert path is not None
    probe = probe_audio(path)
    assert (probe.codec, probe.channels, probe.sample_rate) == ("mp3", 1, 16000)
    assert abs(probe.duration_ms - expected) < 1000
    notice = services.get_notice(prog.notice_id)
    assert (notice.kind, notice.title) == ("programme", "早间节目")

    # Reordering assembles it again: a different file, same total.
    reordered = services.save_programme(
        ProgrammeRequest("早间节目", list(reversed(req.items))), prog.id
    )
    assert reordered.audio_sha256 != prog.audio_sha256
    assert reordered.total_ms == expected
    assert reordered.items[0].title == "防火"

    # Scheduled exactly like a notice: the play command carries the programme's audio.
    view = services.add_schedule(ScheduleRequest(prog.notice_id, [east.id], "once", at=clock.now))
    assert view.notice_title == "早间节目"
    with services.sessions() as s:
        cmd = s.scalars(select(Command).where(Command.type == "play")).one()
        assert cmd.params["audio_sha256"] == reordered.audio_sha256
    with pytest.raises(Conflict):
        services.delete_programme(prog.id)


def test_programme_refuses_bad_items(make_services: ServicesFactory) -> None:
    require("espeak-ng")
    services = make_services()
    notice = services.add_notice("天气", "今天晴。")
    cases = [
        (ProgrammeRequest("", [ItemRequest("chime")]), "名称"),
        (ProgrammeRequest("空", []), "至少"),
        (ProgrammeRequest("静", [ItemRequest("silence", seconds=0)]), "静音"),
        (ProgrammeRequest("无", [ItemRequest("notice", 999)]), "找不到通知"),
        (ProgrammeRequest("怪", [ItemRequest("music")]), "不支持"),
    ]
    for req, words in cases:
        with pytest.raises(ValidationFailed, match=words):
            services.save_programme(req)
    prog = services.save_programme(ProgrammeRequest("节目", [ItemRequest("notice", notice.id)]))
    with pytest.raises(ValidationFailed, match="不能再放节目单"):
        services.save_programme(ProgrammeRequest("套娃", [ItemRequest("notice", prog.notice_id)]))
    with pytest.raises(Conflict):
        services.save_programme(ProgrammeRequest("节目", [ItemRequest("chime")]))
    services.delete_programme(prog.id)
    assert services.list_programmes() == []


def test_volume_ceiling_caps_routine_commands_not_emergencies(
    make_services: ServicesFactory,
) -> None:
    require("espeak-ng")
    clock = Clock(datetime(2026, 11, 23, 6, 30, tzinfo=SH))
    services = make_services(clock=clock)
    east = services.add_village("东村", "dc")
    west = services.add_village("西村", "xc")
    services.add_speaker("dc-01", east.id)
    services.add_speaker("xc-01", west.id)
    services.set_quiet_hours(east.id, "23:00-05:00")
    services.set_quiet_hours(west.id, "23:00-05:00")
    bands = services.set_volume_ceilings(east.id, [("06:00-07:30", 60), ("22:00-06:30", 40)])
    assert [str(b) for b in bands] == ["06:00-07:30", "22:00-06:30"]
    notice = services.add_notice("通知", "请注意。")
    services.add_schedule(
        ScheduleRequest(notice.id, [east.id, west.id], "once", at=clock.now, volume=90)
    )
    services.send_emergency(
        EmergencyRequest(notice.id, [east.id], severity=2, event_type="防汛", volume=100)
    )
    with services.sessions() as s:
        volumes = {
            (c.speaker_id, c.priority): c.params["volume"]
            for c in s.scalars(select(Command).where(Command.type == "play"))
        }
    assert volumes == {("dc-01", 50): 60, ("xc-01", 50): 90, ("dc-01", 95): 100}

    # The preview shows the capped volume at the planned time.
    services.add_schedule(
        ScheduleRequest(notice.id, [east.id], "daily", time_of_day="07:00", volume=80)
    )
    services.add_schedule(
        ScheduleRequest(notice.id, [east.id], "daily", time_of_day="12:00", volume=80)
    )
    plays = services.preview_plan(date(2026, 11, 24))
    assert [(p.start_at.astimezone(SH).hour, p.volume) for p in plays] == [(7, 60), (12, 80)]

    with pytest.raises(ValidationFailed):
        services.set_volume_ceilings(east.id, [("07:00-07:00", 50)])
    with pytest.raises(ValidationFailed):
        services.set_volume_ceilings(east.id, [("07:00-08:00", 150)])
    services.set_volume_ceilings(east.id, [])
    assert services.volume_ceilings(east.id) == []


def test_quiet_hours_none_is_stored_as_dash(make_services: ServicesFactory) -> None:
    services = make_services()
    village = services.add_village("东村", "dc")
    assert services.set_quiet_hours(village.id, "08:00-08:00").quiet_hours == "-"
    assert services.find_village(village.id).quiet_hours == "-"
    assert services.set_quiet_hours(village.id, "-").quiet_hours == "-"
    # What is stored parses back: previews and firing work.
    assert services.preview_plan(date(2026, 11, 24)) == []


def test_editing_every_n_days_keeps_its_rhythm(make_services: ServicesFactory) -> None:
    require("espeak-ng")
    clock = Clock(datetime(2026, 11, 22, 9, 0, tzinfo=SH))
    services = make_services(clock=clock)
    village = services.add_village("东村", "dc")
    notice = services.add_notice("通知", "请注意。")
    req = ScheduleRequest(
        notice.id, [village.id], "every_n_days", time_of_day="08:00", interval_days=3
    )
    view = services.add_schedule(req)
    days = [date(2026, 11, 25), date(2026, 11, 28), date(2026, 12, 1)]
    clock.now += timedelta(days=4)  # the 26th: between two plays
    edited = services.update_schedule(
        view.id,
        ScheduleRequest(
            notice.id, [village.id], "every_n_days", time_of_day="18:00", interval_days=3
        ),
    )
    assert edited.next_at is not None
    assert edited.next_at.astimezone(SH).date() == days[1]
    plays = services.preview_plan(date(2026, 11, 26), days=6)
    assert [p.start_at.astimezone(SH).date() for p in plays] == days[1:]
    assert edited.village_ids == [village.id] and edited.zone_ids == []


def test_emergency_summary_counts_villages_groups_and_speakers(
    make_services: ServicesFactory,
) -> None:
    require("espeak-ng")
    services = make_services()
    services.add_area("county", "370102000000", "历下区")
    services.add_area("town", "370102001000", "解放路街道")
    east = services.add_village("东村", "dc")
    west = services.add_village("西村", "xc")
    services.add_speaker("dc-01", east.id)
    services.add_speaker("xc-01", west.id)
    services.add_speaker("xc-02", west.id)
    group = services.add_group(west.id, "一组", "370102001001001")
    services.assign_speaker("xc-02", group.id)
    services.set_availability("xc-02", True)
    notice = services.add_notice("通知", "请注意。")
    summary = services.check_emergency(
        EmergencyRequest(
            notice.id,
            [east.id],
            severity=1,
            event_type="防汛",
            groups=[group.code],
            speakers=["dc-01", "xc-01"],
        )
    )
    assert [v.name for v in summary.villages] == ["东村"]
    assert [(g.name, g.speaker_count, g.online_count) for g in summary.groups] == [
        ("西村一组", 1, 1)
    ]
    assert [sp.id for sp in summary.speakers] == ["xc-01"]
    assert (summary.loudspeakers, summary.online) == (3, 1)
    with pytest.raises(ValidationFailed, match="级别"):
        services.check_emergency(EmergencyRequest(notice.id, [east.id], 7, "防汛"))
