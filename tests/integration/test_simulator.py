"""The many-loudspeaker simulator: processes with one event loop each, and the proof
that the server's subscription loses no receipt when 1,000 answer at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from broadcast.settings import Settings
from cunxiang.cli import build_parser
from devices.simulate import Fleet
from tests.conftest import ServicesFactory, require
from tests.devices_rig import Township, events_of, make_township, settled
from tests.helpers import wait_until
from tests.mqtt_probe import Probe

THOUSAND = 1000


@pytest.fixture(autouse=True)
def _binaries() -> None:
    for binary in ("mosquitto", "espeak-ng", "ffmpeg"):
        require(binary)


def all_online(town: Township) -> bool:
    return all(s.online for s in town.services.list_speakers())


@pytest.fixture
def fleet_town(settings: Settings, make_services: ServicesFactory) -> Iterator[Township]:
    # Resends are effectively off: a receipt the broker dropped would stay lost.
    with make_township(settings, make_services, THOUSAND, resend_seconds=3600) as town:
        yield town


def test_a_thousand_loudspeakers_answer_at_once_and_no_receipt_is_lost(
    fleet_town: Township,
) -> None:
    town = fleet_town
    notice = town.services.add_notice("通知", "请注意。")
    paths = [town.settings.speakers_dir / f"{sid}.json" for sid in town.speaker_ids]
    fleet = Fleet(paths, town.settings.data_dir / "sim-state", processes=4)
    fleet.start()
    try:
        assert fleet.wait_connected(180)
        first = town.new_gateway()
        wait_until(lambda: all_online(town), timeout=120)
        watcher = Probe(town.broker.port, "cunxiang-server", first.broker.password)
        assert watcher.wait_connect_result()
        watcher.subscribe(first.topics.all_of("event"))

        # The server publishes the broadcast and goes away; its session stays, so every
        # receipt of 1,000 loudspeakers answering at once queues for it at the broker:
        # 4,000 messages, four times mosquitto's default per-client limit.
        town.services.on_commands = lambda: None
        bid = town.broadcast(notice.id)
        first.expire_and_publish()
        assert first.flush(60)
        first.abort()

        def finished(messages: list[tuple[str, bytes]]) -> bool:
            done = {e["command_id"] for e in events_of(messages) if e["kind"] == "finished"}
            return len(done) == THOUSAND

        watcher.wait_for(finished, timeout=180)
        watcher.close()
        town.new_gateway()
        wait_until(lambda: settled(town, bid, THOUSAND), timeout=180)
        counts = town.kind_counts()
        assert {k: counts.get(k) for k in ("received", "downloaded", "started", "finished")} == {
            "received": THOUSAND,
            "downloaded": THOUSAND,
            "started": THOUSAND,
            "finished": THOUSAND,
        }
        assert all(r.outcome == "finished" for r in town.log(bid))
    finally:
        played = fleet.stop()
    assert sorted(played) == sorted(town.speaker_ids)
    assert all(len(ids) == 1 for ids in played.values())


def test_simulate_command_line_takes_the_fault_options() -> None:
    args = build_parser().parse_args(
        [
            "simulate",
            "--speakers",
            "1000",
            "--offline",
            "0.1",
            "--offline-for",
            "30",
            "--slow-downloads",
            "2",
            "--fail-downloads",
            "0.2",
            "--drop-events",
            "0.05",
            "--clock-skew",
            "-20000",
        ]
    )
    assert (args.speakers, args.offline, args.offline_for) == (1000, 0.1, 30.0)
    assert (args.slow_downloads, args.fail_downloads, args.drop_events) == (2.0, 0.2, 0.05)
    assert args.clock_skew == -20000
