"""One notice from the core to three loudspeakers and back, on real parts:
mosquitto on a free port, espeak-ng and ffmpeg, SQLite (or PostgreSQL), HTTP media."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest
from sqlalchemy import func, select

from broadcast.models import Event
from broadcast.planning import ScheduleRequest
from broadcast.settings import Settings, load_settings
from cunxiang.provision import write_provisioning
from cunxiang.server import running
from devices.broker import free_port
from tests.conftest import ServicesFactory, require
from tests.helpers import pin_broker_port, wait_until


def _settings_with_port(settings: Settings, media_server: bool = False) -> Settings:
    values = settings.model_dump()
    values["web"] = {"host": "127.0.0.1", "port": free_port(0)}
    if media_server:  # the loudspeakers download from web/media_server.py, not the panel
        values["web"]["media_port"] = free_port(0)
    # A broadcast now, whatever the hour the test runs at.
    values["schedule"] = {**values["schedule"], "quiet_hours": "-"}
    values["database_url"] = (
        settings.database_url.get_secret_value() if settings.database_url else None
    )
    return pin_broker_port(load_settings(None, **values))


@pytest.mark.parametrize("media_server", [False, True], ids=["panel-media", "media-server"])
def test_notice_scheduled_for_three_loudspeakers_is_heard_by_each_once(
    settings: Settings, make_services: ServicesFactory, media_server: bool
) -> None:
    for binary in ("mosquitto", "espeak-ng", "ffmpeg"):
        require(binary)
    settings = _settings_with_port(settings, media_server)
    services = make_services(settings)
    services.add_user("admin", "admin-password-1")
    village = services.add_village("测试村", "330000000001")
    services.set_quiet_hours(village.id, "-")  # plays "now", whatever the hour the test runs at
    for i in (1, 2, 3):
        write_provisioning(settings, services.add_speaker(f"spk-{i}", village.code))
    notice = services.add_notice("会议通知", "各位村民请注意，今晚七点在村委会开会。")

    with running(settings, simulate_dir=settings.speakers_dir, services=services) as run:
        assert run.simulator is not None
        assert (run.media is not None) == media_server
        assert run.simulator.wait_connected(20)
        wait_until(lambda: all(sp.online for sp in services.list_speakers()), timeout=20)

        services.add_schedule(ScheduleRequest(notice.id, [village.id], "once", at=services.now()))

        def all_finished() -> bool:
            rows = services.playback_log()
            return len(rows) == 3 and all(r.outcome == "finished" for r in rows)

        wait_until(all_finished, timeout=90)
        rows = services.playback_log()
        for row in rows:
            assert row.received_at is not None and row.started_at is not None
            assert row.finished_at is not None
            assert row.received_at <= row.started_at <= row.finished_at
            # It really played for the audio's duration (null sink), not instantly.
            played_ms = (row.finished_at - row.started_at).total_seconds() * 1000
            assert played_ms >= notice.audio_duration_ms - 50

        # Every receipt is recorded once, and each loudspeaker played once.
        with services.sessions() as s:
            counts = s.execute(
                select(Event.kind, func.count()).group_by(Event.kind).order_by(Event.kind)
            ).all()
        by_kind = dict(counts)
        assert by_kind["received"] == 3
        assert by_kind["downloaded"] == 3
        assert by_kind["started"] == 3
        assert by_kind["finished"] == 3
        for speaker in run.simulator.speakers:
            assert len(speaker.played) == 1

        # A later scheduler pass does not fire the occurrence again.
        run.scheduler.sync()
        assert len(services.list_broadcasts()) == 1
        assert services.list_broadcasts()[0].state == 3  # succeeded

        # The API returns the same log.
        auth = base64.b64encode(b"admin:admin-password-1").decode()
        request = urllib.request.Request(
            f"{run.url}/api/v1/log", headers={"Authorization": f"Basic {auth}"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
            body = json.loads(resp.read())
        api_rows = body["log"] if isinstance(body, dict) else body
        assert sorted(r["speaker_id"] for r in api_rows) == ["spk-1", "spk-2", "spk-3"]
        assert all(r["outcome"] == "finished" for r in api_rows)
