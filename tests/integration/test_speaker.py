"""The reference loudspeaker's behaviour on a real mosquitto: priority queue and
pre-emption, stop, volume, ping, download back-off, restarts and re-announcing."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from devices import protocol
from devices.speaker import Faults
from tests.conftest import require
from tests.devices_rig import AUDIO, NOW, Rig, events_of, kinds_of, make_rig
from tests.helpers import wait_until
from tests.mqtt_probe import Probe


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    require("mosquitto")
    with make_rig(tmp_path) as rig:
        yield rig


@pytest.fixture
def server(rig: Rig) -> Iterator[Probe]:
    probe = rig.server_probe()
    probe.subscribe(rig.topics.all_of("event"))
    probe.subscribe(rig.topics.all_of("state"))
    yield probe
    probe.close()


def details(messages: list[tuple[str, bytes]], command_id: str, kind: str) -> dict[str, object]:
    """The details of an event, without the receipt count a final event carries."""
    for e in events_of(messages):
        if e["command_id"] == command_id and e["kind"] == kind:
            return {k: v for k, v in e["details"].items() if k != "receipts"}
    raise AssertionError(f"no {kind} event for {command_id}")


def test_higher_priority_preempts_and_equal_priority_queues(rig: Rig, server: Probe) -> None:
    speaker = rig.speaker("spk-a", start=True)
    topic = rig.topics.command("spk-a")
    send = lambda cmd: server.publish(topic, rig.sign(cmd))  # noqa: E731

    send(rig.play("spk-a", 1, priority=50, duration_ms=60_000, id="routine"))
    server.wait_for(lambda m: "started" in kinds_of(m, "routine"))
    send(rig.play("spk-a", 2, priority=50, duration_ms=100, id="same-priority"))
    send(rig.play("spk-a", 3, priority=95, duration_ms=100, id="emergency"))
    server.wait_for(lambda m: "finished" in kinds_of(m, "same-priority"))

    assert details(server.messages, "routine", "preempted") == {"by": "emergency"}
    assert speaker.played == ["emergency", "same-priority"]
    order = [
        (e["command_id"], e["kind"])
        for e in events_of(server.messages)
        if e["kind"] in ("started", "preempted", "finished")
    ]
    assert order == [
        ("routine", "started"),
        ("routine", "preempted"),
        ("emergency", "started"),
        ("emergency", "finished"),
        ("same-priority", "started"),
        ("same-priority", "finished"),
    ]
    # A lower priority waits for the current one instead of interrupting it.
    send(rig.play("spk-a", 4, priority=90, duration_ms=400, id="alarm"))
    server.wait_for(lambda m: "started" in kinds_of(m, "alarm"))
    send(rig.play("spk-a", 5, priority=10, duration_ms=100, id="music"))
    server.wait_for(lambda m: "finished" in kinds_of(m, "music"))
    assert speaker.played[-2:] == ["alarm", "music"]
    assert "preempted" not in kinds_of(server.messages, "alarm")


def test_stop_ends_what_it_outranks_and_reports_each(rig: Rig, server: Probe) -> None:
    speaker = rig.speaker("spk-a", start=True)
    topic = rig.topics.command("spk-a")
    send = lambda cmd: server.publish(topic, rig.sign(cmd))  # noqa: E731
    send(rig.play("spk-a", 1, priority=50, duration_ms=60_000, id="playing"))
    server.wait_for(lambda m: "started" in kinds_of(m, "playing"))
    send(rig.play("spk-a", 2, priority=40, duration_ms=100, id="queued"))
    server.wait_for(lambda m: "downloaded" in kinds_of(m, "queued"))
    send(rig.command("spk-a", 3, type="stop", priority=50, id="stop-1"))
    server.wait_for(lambda m: "finished" in kinds_of(m, "stop-1"))
    assert details(server.messages, "stop-1", "finished") == {"stopped": 2}
    assert kinds_of(server.messages, "playing")[-1] == "stopped"
    assert kinds_of(server.messages, "queued")[-1] == "stopped"

    # A routine stop does not silence an emergency; a stop naming its broadcast does.
    send(rig.play("spk-a", 4, priority=95, duration_ms=60_000, id="alarm", broadcast_id=7))
    server.wait_for(lambda m: "started" in kinds_of(m, "alarm"))
    send(rig.command("spk-a", 5, type="stop", priority=50, id="stop-2"))
    server.wait_for(lambda m: "finished" in kinds_of(m, "stop-2"))
    assert details(server.messages, "stop-2", "finished") == {"stopped": 0}
    send(rig.command("spk-a", 6, type="stop", priority=10, id="stop-3", broadcast_id=7))
    server.wait_for(lambda m: "stopped" in kinds_of(m, "alarm"))
    assert speaker.played == []


def test_volume_persists_and_scales_routine_audio_not_emergencies(
    rig: Rig, server: Probe, tmp_path: Path
) -> None:
    require("sh")
    log = tmp_path / "player.log"
    # A real player command: it is given the file and the level, and exits 0.
    player = f"sh -c {shlex.quote(f'echo {{volume}} {{file}} >> {log}')}"
    config = rig.config("spk-a")
    config = type(config)(**{**config.__dict__, "player": player})
    from devices.speaker import Loudspeaker

    speaker = Loudspeaker(config, clock_ms=lambda: NOW)
    speaker.start()
    rig.started.append(speaker)
    assert speaker.wait_connected(10)
    topic = rig.topics.command("spk-a")
    server.publish(topic, rig.sign(rig.command("spk-a", 1, type="volume", volume=50, id="v")))
    server.wait_for(lambda m: "finished" in kinds_of(m, "v"))
    assert details(server.messages, "v", "finished") == {"volume": 50}
    assert speaker.volume == 50
    server.wait_for(
        lambda m: any(t.endswith("spk-a/state") and json.loads(p)["volume"] == 50 for t, p in m)
    )
    server.publish(topic, rig.sign(rig.play("spk-a", 2, priority=50, id="routine")))
    server.wait_for(lambda m: "finished" in kinds_of(m, "routine"))
    server.publish(topic, rig.sign(rig.play("spk-a", 3, priority=95, id="alarm")))
    server.wait_for(lambda m: "finished" in kinds_of(m, "alarm"))
    levels = sorted(int(line.split()[0]) for line in log.read_text().splitlines())
    assert levels == [40, 80]  # routine: 80 x 50 %; emergency: its own 80
    assert all(line.split()[1].endswith(".audio") for line in log.read_text().splitlines())
    speaker.stop()
    rig.started.remove(speaker)
    assert Loudspeaker(config, clock_ms=lambda: NOW).volume == 50


def test_ping_answers_with_the_state(rig: Rig, server: Probe) -> None:
    rig.speaker("spk-a", start=True)
    server.publish(rig.topics.command("spk-a"), rig.sign(rig.command("spk-a", 4, id="p")))
    server.wait_for(lambda m: "finished" in kinds_of(m, "p"))
    state = details(server.messages, "p", "finished")["state"]
    assert isinstance(state, dict)
    assert state["last_seq"] == 4 and state["playing"] is None and state["queue"] == 0
    assert state["firmware"].startswith("cunxiang-reference")


def test_download_is_retried_with_back_off_until_it_works(rig: Rig, server: Probe) -> None:
    speaker = rig.speaker("spk-a", start=True)
    cmd = rig.play("spk-a", 1, path="/later.mp3")
    server.publish(rig.topics.command("spk-a"), rig.sign(cmd))
    # The first attempt finds nothing (404); the file appears; a retry fetches it.
    wait_until(lambda: rig.media.hits.get("/later.mp3", 0) >= 1, timeout=20)
    rig.media.files["/later.mp3"] = AUDIO
    server.wait_for(lambda m: "finished" in kinds_of(m, cmd.id), timeout=30)
    assert rig.media.hits["/later.mp3"] >= 2
    assert speaker.played == [cmd.id]


def test_a_loudspeaker_told_to_wait_answers_at_once_and_downloads_later(
    rig: Rig, server: Probe
) -> None:
    speaker = rig.speaker("spk-a", start=True, faults=Faults(download_after=3.0))
    cmd = rig.play("spk-a", 1)
    server.publish(rig.topics.command("spk-a"), rig.sign(cmd))
    server.wait_for(lambda m: "received" in kinds_of(m, cmd.id))
    path = urlsplit(cmd.play.url).path if cmd.play else ""
    assert rig.media.hits.get(path, 0) == 0  # answered; nothing fetched yet
    server.wait_for(lambda m: "finished" in kinds_of(m, cmd.id), timeout=30)
    assert rig.media.hits[path] == 1
    assert speaker.played == [cmd.id]


def test_download_that_never_works_fails_at_expiry(rig: Rig, server: Probe) -> None:
    now = int(time.time() * 1000)
    speaker = rig.speaker("spk-a", start=True, clock_ms=None)
    cmd = rig.play(
        "spk-a", 1, path="/missing.mp3", issued_at=now, not_before=now, expires_at=now + 2500
    )
    server.publish(rig.topics.command("spk-a"), rig.sign(cmd))
    server.wait_for(lambda m: "failed" in kinds_of(m, cmd.id), timeout=30)
    assert details(server.messages, cmd.id, "failed") == {"reason": "download_failed"}
    assert rig.media.hits["/missing.mp3"] >= 2
    assert speaker.played == []


def test_a_restart_mid_play_reports_the_interrupted_command(rig: Rig, server: Probe) -> None:
    speaker = rig.speaker("spk-a", start=True)
    server.publish(
        rig.topics.command("spk-a"), rig.sign(rig.play("spk-a", 1, duration_ms=60_000, id="long"))
    )
    server.wait_for(lambda m: "started" in kinds_of(m, "long"))
    speaker.stop()
    rig.started.remove(speaker)
    again = rig.speaker("spk-a", start=True)
    server.wait_for(lambda m: "failed" in kinds_of(m, "long"))
    assert details(server.messages, "long", "failed") == {"reason": "interrupted"}
    assert again.played == [] and again.last_seq == 1


def test_loudspeaker_announces_itself_again_when_the_server_comes_online(
    rig: Rig, server: Probe
) -> None:
    speaker = rig.speaker("spk-a")
    speaker.announce_quiet_s = 0.0
    speaker.start()
    rig.started.append(speaker)
    assert speaker.wait_connected(10)
    server.subscribe(rig.topics.all_of("availability"))
    online = protocol.availability(True)
    before = sum(1 for t, p in server.messages if t.endswith("spk-a/availability") and p == online)
    server.publish(rig.topics.server_state, online, retain=True)
    server.wait_for(
        lambda m: sum(1 for t, p in m if t.endswith("spk-a/availability") and p == online) > before
    )
    speaker.stop()
    rig.started.remove(speaker)
    server.wait_for(lambda m: (rig.topics.availability("spk-a"), protocol.availability(False)) in m)
