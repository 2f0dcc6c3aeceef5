"""Gateway ingest on a real database: verified receipts count once; bad input is dropped."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from broadcast.keys import KeyPair, b64
from broadcast.models import Event
from broadcast.planning import ScheduleRequest
from broadcast.settings import Settings
from devices import protocol
from devices.gateway import BrokerAddress, Gateway, epoch_ms
from devices.protocol import Topics
from tests.conftest import ServicesFactory, require
from tests.devices_rig import make_township


def test_receipts_are_verified_recorded_once_and_garbage_is_dropped(
    settings: Settings, make_services: ServicesFactory, caplog: pytest.LogCaptureFixture
) -> None:
    require("espeak-ng")
    # A broadcast now, whatever the hour the test runs at (no quiet hours).
    settings = settings.model_copy(
        update={"schedule": settings.schedule.model_copy(update={"quiet_hours": "-"})}
    )
    services = make_services(settings)
    village = services.add_village("河西村", "330000000002")
    prov = services.add_speaker("hexi-01", village.id)
    notice = services.add_notice("停水通知", "明天上午停水。")
    services.add_schedule(ScheduleRequest(notice.id, [village.id], "once", at=services.now()))
    [cmd] = services.due_commands()
    topics = Topics("cunxiang")
    gateway = Gateway(services, BrokerAddress("127.0.0.1", 1, "x", "y"), topics)

    # The command the gateway would publish verifies on the loudspeaker's side.
    wire = gateway.encode(cmd)
    got = protocol.verify_command(wire, prov.server_keys, "hexi-01", epoch_ms(services.now()))
    assert got.play is not None and got.play.sha256 == notice.audio_sha256
    assert got.expires_at - got.not_before == settings.schedule.window_seconds * 1000

    def event(kind: str, key_b64: str = prov.private_key_b64) -> bytes:
        ev = protocol.Event(cmd.id, "hexi-01", kind, epoch_ms(services.now()))
        return protocol.sign_event(ev, key_b64, "kid")

    forged = event("finished", b64(KeyPair.generate().private))
    with caplog.at_level(logging.WARNING):
        for payload in (b"", b"\xff\xfe", b"[]", b'{"body":1}', forged, b"x" * 100_000):
            gateway.handle(topics.event("hexi-01"), payload)
        gateway.handle(topics.availability("hexi-01"), b"nonsense")
        gateway.handle("cunxiang/elsewhere", b"{}")
        gateway.handle(topics.event("ghost"), event("received"))
    assert "refused" in caplog.text

    for kind in ("received", "received", "started", "finished", "finished"):
        gateway.handle(topics.event("hexi-01"), event(kind))
    with services.sessions() as s:
        rows = s.execute(select(Event.kind, func.count()).group_by(Event.kind))
        kinds = {kind: n for kind, n in rows}
    assert kinds == {"received": 1, "started": 1, "finished": 1}
    [row] = services.playback_log()
    assert row.outcome == "finished"

    gateway.handle(topics.availability("hexi-01"), protocol.availability(True))
    assert services.list_speakers()[0].online
    # A finished command is never re-sent, even after the resend interval.
    later = services.now() + timedelta(seconds=settings.commands.resend_seconds + 1)
    services.clock = lambda: later
    assert services.due_commands() == []


def test_outbox_passes_never_overlap_so_no_command_goes_out_twice(
    settings: Settings, make_services: ServicesFactory
) -> None:
    require("mosquitto")
    require("espeak-ng")
    with make_township(settings, make_services, 200) as town:
        gateway = town.new_gateway()
        published: list[str] = []
        real_publish = gateway._client.publish

        def counting(topic: str, *args: Any, **kwargs: Any) -> Any:
            published.append(topic)
            return real_publish(topic, *args, **kwargs)

        gateway._client.publish = counting  # type: ignore[method-assign]
        town.services.on_commands = lambda: None
        town.broadcast(town.services.add_notice("通知", "请注意。").id)
        start = threading.Barrier(3)

        def one_pass() -> None:
            start.wait()
            gateway.expire_and_publish()

        passes = [threading.Thread(target=one_pass) for _ in range(3)]
        for thread in passes:
            thread.start()
        for thread in passes:
            thread.join(60)
        assert gateway.flush(30)
        commands = [t for t in published if t.endswith("/command")]
        assert len(commands) == len(set(commands)) == 200
