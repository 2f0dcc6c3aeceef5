"""Per-village voice, speech rate and audio format, end to end: variants rendered ahead of
firing, the play command naming its format, /media serving Opus, and a simulated
loudspeaker playing it (real mosquitto, espeak-ng, ffmpeg, SQLite or PostgreSQL)."""

from __future__ import annotations

import json
import logging
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from audio.probe import probe_audio
from broadcast.models import Command, NoticeVariant, Village
from broadcast.planning import ScheduleRequest
from broadcast.services import Services
from broadcast.settings import Settings
from broadcast.sound import NoticeSound
from broadcast.views import OutgoingCommand
from cunxiang.provision import write_provisioning
from tests.conftest import ServicesFactory, require
from tests.devices_rig import make_township, settled
from tests.helpers import Clock, csrf, wait_until
from web import create_app

# 10:00 in Shanghai: outside the default quiet hours.
DAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
BODY = "各位村民请注意，明天上午九点到村委会开会。"
PASSWORD = "admin-password-1"


@pytest.fixture
def services(settings: Settings, make_services: ServicesFactory) -> Services:
    require("espeak-ng")
    require("ffmpeg")
    svc = make_services(settings, Clock(DAY))
    svc.add_user("admin", PASSWORD)
    svc.add_village("东村", "dc")
    svc.add_speaker("dc-01", "dc")
    svc.add_village("山里村", "sl")
    svc.add_speaker("sl-01", "sl")
    return svc


def params_by_speaker(services: Services, broadcast_id: int) -> dict[str, dict[str, object]]:
    with services.sessions() as s:
        rows = s.scalars(select(Command).where(Command.broadcast_id == broadcast_id))
        return {c.speaker_id: dict(c.params) for c in rows}


def variants_of(services: Services, notice_id: int) -> list[NoticeVariant]:
    with services.sessions() as s:
        return list(s.scalars(select(NoticeVariant).where(NoticeVariant.notice_id == notice_id)))


def fire_now(services: Services, notice_id: int, villages: list[str | int]) -> int:
    at = services.now() + timedelta(minutes=5)
    view = services.add_schedule(ScheduleRequest(notice_id, villages, "once", at=at))
    broadcast_id = services.fire(view.id, at)
    assert broadcast_id is not None
    return broadcast_id


def test_each_village_gets_its_own_format_and_rate(services: Services) -> None:
    east, hill = services.find_village("dc"), services.find_village("sl")
    services.set_village_sound("sl", None, 120, "opus")
    notice = services.add_notice("开会", BODY)
    # Rendered when the notice was saved, for the sound the villages use: not at fire time.
    [variant] = variants_of(services, notice.id)
    assert (variant.voice, variant.rate, variant.audio_format) == ("", 120, "opus")
    jobs_before = services.renderer.synthesis_count

    broadcast_id = fire_now(services, notice.id, [east.id, hill.id])

    assert services.renderer.synthesis_count == jobs_before  # nothing rendered to fire
    params = params_by_speaker(services, broadcast_id)
    assert params["dc-01"]["audio_sha256"] == notice.audio_sha256
    assert params["dc-01"]["audio_format"] == "mp3"
    assert params["sl-01"]["audio_sha256"] == variant.audio_sha256
    assert params["sl-01"]["audio_format"] == "opus"
    assert params["sl-01"]["audio_size"] == variant.audio_size
    assert params["sl-01"]["duration_ms"] == variant.audio_duration_ms
    path = services.media_path(variant.audio_sha256, "opus")
    assert path is not None and path.suffix == ".opus"
    probe = probe_audio(path)
    assert (probe.codec, probe.channels) == ("opus", 1)
    # Spoken slower (120 against 150 words a minute), so it lasts longer.
    assert variant.audio_duration_ms > notice.audio_duration_ms
    assert variant.audio_size < notice.audio_size  # and 16 kbps Opus is smaller


def test_a_notice_with_its_own_rate_keeps_it_everywhere(services: Services) -> None:
    services.set_village_sound("sl", None, 120, "mp3")
    own = services.add_notice("快讯", BODY, sound=NoticeSound(rate=180))
    plain = services.add_notice("开会", BODY)
    assert variants_of(services, own.id) == []  # the notice's rate wins: nothing to render
    [variant] = variants_of(services, plain.id)
    assert (variant.rate, variant.audio_format) == (120, "mp3")


def test_schedules_get_the_variants_a_village_sound_change_needs(services: Services) -> None:
    notice = services.add_notice("开会", BODY)
    hill = services.find_village("sl")
    at = services.now() + timedelta(hours=1)
    services.add_schedule(ScheduleRequest(notice.id, [hill.id], "once", at=at))
    assert variants_of(services, notice.id) == []
    services.set_village_sound("sl", None, None, "opus")
    [variant] = variants_of(services, notice.id)
    assert variant.audio_format == "opus"
    assert services.audio_in_use() >= {notice.audio_sha256, variant.audio_sha256}


def test_a_missing_variant_falls_back_to_the_notice_audio_and_says_so(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    notice = services.add_notice("开会", BODY)
    hill = services.find_village("sl")
    with services.sessions.begin() as s:  # as if set behind the panel's back
        village = s.get(Village, hill.id)
        assert village is not None
        village.audio_format = "opus"
    at = services.now() + timedelta(minutes=5)
    schedule = services.add_schedule(ScheduleRequest(notice.id, [hill.id], "once", at=at))
    with services.sessions.begin() as s:  # saving the schedule rendered it: take it away
        for row in s.scalars(select(NoticeVariant)):
            s.delete(row)
    with caplog.at_level(logging.WARNING, logger="broadcast.variants"):
        broadcast_id = services.fire(schedule.id, at)
    assert broadcast_id is not None
    params = params_by_speaker(services, broadcast_id)["sl-01"]
    assert (params["audio_sha256"], params["audio_format"]) == (notice.audio_sha256, "mp3")
    assert any("no opus audio" in r.getMessage() for r in caplog.records)


def test_a_recording_gets_an_opus_copy(services: Services, tmp_path: Path) -> None:
    services.set_village_sound("sl", None, None, "opus")
    wav = tmp_path / "录音.wav"
    subprocess.run(["espeak-ng", "-v", "cmn", "-w", str(wav), "今天下午三点开会。"], check=True)
    notice = services.add_recording("录音", wav, "录音.wav")
    [variant] = variants_of(services, notice.id)
    assert (variant.voice, variant.rate, variant.audio_format) == ("", 0, "opus")
    path = services.media_path(variant.audio_sha256, "opus")
    assert path is not None
    assert abs(probe_audio(path).duration_ms - notice.audio_duration_ms) < 500


# -- the panel ------------------------------------------------------------------------------


@pytest.fixture
def client(services: Services) -> Iterator[FlaskClient]:
    client = create_app(services, testing=True).test_client()
    token = csrf(client.get("/login").text)
    resp = client.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 302
    yield client


def test_the_village_page_sets_voice_rate_and_format(
    client: FlaskClient, services: Services
) -> None:
    hill = services.find_village("sl")
    page = client.get(f"/villages/{hill.id}/sound")
    assert page.status_code == 200
    assert "播音设置" in page.text and "Opus" in page.text
    resp = client.post(
        f"/villages/{hill.id}/sound",
        data={"voice": "", "rate": "120", "audio_format": "opus", "csrf_token": csrf(page.text)},
    )
    assert resp.status_code == 302
    assert services.village_sound("sl").rate == 120
    assert services.village_sound("sl").audio_format == "opus"
    listing = client.get("/villages").text
    assert "语速较慢 · Opus" in listing and "默认（MP3）" in listing


def test_the_village_page_refuses_bad_values_on_their_field(
    client: FlaskClient, services: Services
) -> None:
    hill = services.find_village("sl")
    token = csrf(client.get(f"/villages/{hill.id}/sound").text)
    for data, message in (
        ({"voice": "xx-nonexistent", "rate": "", "audio_format": "mp3"}, "没有安装语音"),
        ({"voice": "", "rate": "999", "audio_format": "mp3"}, "语速须在"),
        ({"voice": "", "rate": "", "audio_format": "wav"}, "音频格式只能是"),
    ):
        resp = client.post(f"/villages/{hill.id}/sound", data={**data, "csrf_token": token})
        assert resp.status_code == 400
        assert message in resp.text
    assert services.village_sound("sl").audio_format == "mp3"


def test_media_serves_opus_with_its_content_type(client: FlaskClient, services: Services) -> None:
    services.set_village_sound("sl", None, None, "opus")
    notice = services.add_notice("开会", BODY)
    [variant] = variants_of(services, notice.id)
    with client.get(f"/media/{variant.audio_sha256}.opus") as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == "audio/ogg; codecs=opus"
        assert resp.data[:4] == b"OggS"
    assert client.get(f"/media/{variant.audio_sha256}.mp3").status_code == 404
    assert client.get(f"/media/{notice.audio_sha256}.opus").status_code == 404
    assert client.get(f"/media/{notice.audio_sha256}.wav").status_code == 404


# -- on the wire, to a loudspeaker --------------------------------------------------------------


def test_an_opus_village_gets_an_opus_command_and_its_loudspeaker_plays_it(
    settings: Settings, make_services: ServicesFactory
) -> None:
    for binary in ("mosquitto", "espeak-ng", "ffmpeg"):
        require(binary)
    with make_township(settings, make_services, speakers=1) as town:
        svc = town.services
        hill = svc.add_village("山里村", "330000000098")
        write_provisioning(town.settings, svc.add_speaker("sim-hill", hill.id))
        town.broker.reload(svc.broker_accounts())
        svc.set_village_sound(hill.id, None, None, "opus")
        notice = svc.add_notice("停水通知", "明天上午八点到十二点停水，请提前储水。")
        [variant] = variants_of(svc, notice.id)
        town.new_gateway()
        sim = town.simulate(ids=[*town.speaker_ids, "sim-hill"])
        assert sim.wait_connected(20)
        at = svc.now()
        schedule = svc.add_schedule(
            ScheduleRequest(notice.id, [town.village_id, hill.id], "once", at=at)
        )
        broadcast_id = max(b.id for b in svc.list_broadcasts())
        assert schedule.id
        wait_until(lambda: settled(town, broadcast_id, 2), timeout=90)

        rows = {r.speaker_id: r for r in town.log(broadcast_id)}
        assert rows["sim-hill"].outcome == "finished"
        assert rows[town.speaker_ids[0]].outcome == "finished"
        params = params_by_speaker(svc, broadcast_id)
        assert (params["sim-hill"]["audio_format"], params["sim-hill"]["audio_sha256"]) == (
            "opus",
            variant.audio_sha256,
        )
        # The loudspeaker checked the hash of what it downloaded, then played it through.
        assert sim.by_id["sim-hill"].played.count(rows["sim-hill"].command_id) == 1
        # The signed command names the format and an .opus URL that serves Ogg Opus.
        with svc.sessions() as s:
            row = s.scalar(
                select(Command).where(
                    Command.broadcast_id == broadcast_id, Command.speaker_id == "sim-hill"
                )
            )
            assert row is not None
            out = OutgoingCommand(
                row.id,
                row.speaker_id,
                row.seq,
                row.type,
                row.priority,
                dict(row.params),
                row.issued_at,
                row.not_before,
                row.expires_at,
                row.attempts,
            )
        assert town.gateway is not None
        play = json.loads(town.gateway.encode(out))["body"]["play"]
        assert (play["format"], play["sha256"], play["size"]) == (
            "opus",
            variant.audio_sha256,
            variant.audio_size,
        )
        url = play["url"]
        assert f"/media/{variant.audio_sha256}.opus?" in url
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.headers["Content-Type"] == "audio/ogg; codecs=opus"
            data = resp.read()  # all of it: the server closes its file at the end
        assert data[:4] == b"OggS" and len(data) == variant.audio_size


def test_the_api_reads_and_sets_a_village_sound(client: FlaskClient, services: Services) -> None:
    import base64

    auth = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}
    hill = services.find_village("sl")
    url = f"/api/v1/villages/{hill.id}/sound"
    assert client.get(url, headers=auth).get_json() == {
        "voice": None,
        "rate": None,
        "audio_format": "mp3",
    }
    resp = client.put(url, json={"rate": 120, "audio_format": "opus"}, headers=auth)
    assert resp.status_code == 200, resp.text
    assert resp.get_json() == {"voice": None, "rate": 120, "audio_format": "opus"}
    bad = client.put(url, json={"rate": "fast"}, headers=auth)
    assert bad.status_code == 400
    assert bad.get_json()["error"] and "rate" in bad.text
    assert client.put(url, json={"audio_format": "wav"}, headers=auth).status_code == 400
