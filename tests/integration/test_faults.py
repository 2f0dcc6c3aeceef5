"""Faults on real parts (mosquitto, SQLite or PostgreSQL, HTTP media, simulated
loudspeakers): each ends with every reachable loudspeaker having played exactly once and
every receipt recorded exactly once."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from broadcast.keys import KeyPair, b64
from broadcast.settings import Settings
from broadcast.views import IncomingEvent
from devices import protocol
from devices.gateway import epoch_ms
from devices.protocol import CLOCK_TOLERANCE_MS
from devices.speaker import Faults, SpeakerConfig
from tests.conftest import ServicesFactory, require
from tests.devices_rig import (
    Township,
    assert_played_once_and_receipts_complete,
    make_township,
    settled,
)
from tests.helpers import wait_until

FLEET = 100


@pytest.fixture(autouse=True)
def _binaries() -> None:
    for binary in ("mosquitto", "espeak-ng", "ffmpeg"):
        require(binary)


def online(town: Township, *ids: str) -> bool:
    speakers = {s.id: s for s in town.services.list_speakers()}
    return all(speakers[sid].online for sid in ids or town.speaker_ids)


def test_broker_killed_and_restarted_in_the_middle_of_a_broadcast(
    settings: Settings, make_services: ServicesFactory
) -> None:
    with make_township(settings, make_services, FLEET) as town:
        notice = town.services.add_notice("演练", "请注意，这是一次演练。")
        sim = town.simulate()
        town.new_gateway()
        assert sim.wait_connected(60)
        wait_until(lambda: online(town), timeout=60)

        bid = town.broadcast(notice.id)
        wait_until(lambda: town.kind_counts().get("received", 0) >= FLEET // 5, timeout=60)
        town.broker.kill()  # SIGKILL: whatever it held in memory is gone
        town.broker.start(town.services.broker_accounts())

        wait_until(lambda: settled(town, bid, FLEET), timeout=180)
        assert_played_once_and_receipts_complete(town, bid, town.speaker_ids)


def test_gateway_restarted_with_unacknowledged_commands_in_the_outbox(
    settings: Settings, make_services: ServicesFactory
) -> None:
    with make_township(settings, make_services, 20) as town:
        notice = town.services.add_notice("通知", "请注意。")
        sim = town.simulate()
        first = town.new_gateway()
        assert sim.wait_connected(60)
        wait_until(lambda: online(town), timeout=60)

        # The first gateway publishes a broadcast and dies before any receipt is recorded.
        town.services.on_commands = lambda: None
        one = town.broadcast(notice.id)
        first.expire_and_publish()
        first.abort()
        # Another broadcast is written while no gateway runs: its commands wait unsent.
        two = town.broadcast(notice.id)
        assert {r.status for r in town.log(two)} == {"pending"}

        town.new_gateway()
        wait_until(lambda: settled(town, one, 20) and settled(town, two, 20), timeout=120)
        assert_played_once_and_receipts_complete(town, one, town.speaker_ids)
        assert_played_once_and_receipts_complete(town, two, town.speaker_ids)
        for speaker in sim.speakers:
            assert len(speaker.played) == 2  # equal priorities queue: one, then two


def test_receipts_the_gateway_took_but_never_wrote_are_delivered_again(
    settings: Settings, make_services: ServicesFactory
) -> None:
    """The gateway receives every receipt of a broadcast but cannot write them (its database
    is unreachable), then dies. The broker still holds them, unacknowledged, and hands them
    to the next gateway. Resends are off, so no loudspeaker is asked twice."""
    fleet = 20
    with make_township(settings, make_services, fleet, resend_seconds=3600) as town:
        notice = town.services.add_notice("通知", "请注意。")
        sim = town.simulate()
        first = town.new_gateway()
        assert sim.wait_connected(60)
        wait_until(lambda: online(town), timeout=60)

        record = town.services.record_events

        def unreachable(events: list[IncomingEvent]) -> int:
            if threading.current_thread() in first._threads:
                raise OperationalError("INSERT INTO events", {}, OSError("connection refused"))
            return record(events)

        town.services.record_events = unreachable  # type: ignore[method-assign]
        bid = town.broadcast(notice.id)
        wait_until(lambda: first.received.get("event", 0) >= 4 * fleet, timeout=60)
        assert all(len(s.played) == 1 for s in sim.speakers)
        assert town.kind_counts() == {}
        first.abort()

        town.new_gateway()
        wait_until(lambda: settled(town, bid, fleet), timeout=60)
        assert_played_once_and_receipts_complete(town, bid, town.speaker_ids)
        assert town.kind_counts() == {
            k: fleet for k in ("received", "downloaded", "started", "finished")
        }


def test_loudspeakers_offline_during_a_broadcast_play_only_if_back_before_expiry(
    settings: Settings, make_services: ServicesFactory
) -> None:
    window = 30
    with make_township(settings, make_services, 3, window_seconds=window) as town:
        steady, early, late = town.speaker_ids
        notice = town.services.add_notice("通知", "请注意。")
        sim = town.simulate()
        gateway = town.new_gateway()
        assert sim.wait_connected(60)
        wait_until(lambda: online(town), timeout=60)
        for sid in (early, late):
            sim.by_id[sid].go_offline(3600)  # the link drops; the broker publishes the will
        wait_until(lambda: not any(online(town, sid) for sid in (early, late)), timeout=60)

        bid = town.broadcast(notice.id)
        rows = lambda: {r.speaker_id: r for r in town.log(bid)}  # noqa: E731
        wait_until(lambda: rows()[steady].outcome == "finished", timeout=60)
        sim.by_id[early].come_back()
        wait_until(lambda: rows()[early].outcome == "finished", timeout=60)

        # Time passes beyond the command's expiry (and the loudspeakers' tolerance).
        town.clock.advance(timedelta(seconds=window, milliseconds=CLOCK_TOLERANCE_MS + 5000))
        gateway.wake()
        wait_until(lambda: rows()[late].status == "expired", timeout=30)
        sim.by_id[late].come_back()
        wait_until(lambda: rows()[late].outcome == "rejected", timeout=60)

        assert_played_once_and_receipts_complete(town, bid, [steady, early])
        assert sim.by_id[late].played == []
        assert town.per_command_kinds()[rows()[late].command_id] == ["rejected"]
        assert rows()[late].detail == "expired"


def test_duplicated_reordered_and_dropped_events_are_recorded_once_each(
    settings: Settings, make_services: ServicesFactory
) -> None:
    with make_township(settings, make_services, 10) as town:
        notice = town.services.add_notice("通知", "请注意。")
        flaky = {
            sid: Faults(duplicate_events=0.5, reorder_events=0.5, drop_events=0.2, seed=i)
            for i, sid in enumerate(town.speaker_ids)
        }
        sim = town.simulate(flaky)
        town.new_gateway()
        assert sim.wait_connected(60)
        wait_until(lambda: online(town), timeout=60)
        bid = town.broadcast(notice.id)
        wait_until(lambda: settled(town, bid, 10), timeout=120)
        assert_played_once_and_receipts_complete(town, bid, town.speaker_ids)


def test_gateway_records_each_receipt_once_whatever_the_order(
    settings: Settings, make_services: ServicesFactory
) -> None:
    """The same, at the gateway alone: shuffled copies of signed events, forged events and
    events replayed onto another loudspeaker's topic."""
    with make_township(settings, make_services, 2) as town:
        notice = town.services.add_notice("通知", "请注意。")
        gateway = town.new_gateway()
        # No loudspeaker runs: the test plays the devices and hands the gateway their events.
        bid = town.broadcast(notice.id)
        rows = {r.speaker_id: r for r in town.log(bid)}
        a, b = town.speaker_ids
        keys = {
            sid: SpeakerConfig.load(town.settings.speakers_dir / f"{sid}.json").private_key
            for sid in (a, b)
        }
        now = epoch_ms(town.services.now())

        def signed(sid: str, kind: str, key: str | None = None, **details: object) -> bytes:
            ev = protocol.Event(rows[sid].command_id, sid, kind, now, dict(details))
            return protocol.sign_event(ev, key or keys[sid], "kid")

        topics = gateway.topics
        kinds = ["received", "downloaded", "started"]
        good = [(topics.event(a), signed(a, k)) for k in kinds]
        good.append((topics.event(a), signed(a, "finished", receipts=4)))
        forged = (topics.event(a), signed(a, "failed", b64(KeyPair.generate().private)))
        # b's genuine event replayed onto a's topic, and a's onto b's.
        crossed = [
            (topics.event(a), signed(b, "finished", receipts=4)),
            (topics.event(b), signed(a, "failed", reason="x")),
        ]
        stream = good * 3 + [forged, *crossed]
        random.Random(7).shuffle(stream)
        for i in range(0, len(stream), 4):
            gateway.handle_batch(stream[i : i + 4])

        assert sorted(town.per_command_kinds()[rows[a].command_id]) == [
            "downloaded",
            "finished",
            "received",
            "started",
        ]
        assert rows[b].command_id not in town.per_command_kinds()
        row = {r.speaker_id: r for r in town.log(bid)}[a]
        assert (row.outcome, row.status) == ("finished", "done")
