"""Places and targets: counties, towns, villages, groups, zones, single loudspeakers;
emergencies and cancelling; targets resolved when an occurrence fires."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from broadcast.errors import Conflict, NotFound, ValidationFailed
from broadcast.planning import EmergencyRequest, ScheduleRequest
from broadcast.services import Services
from devices import protocol
from devices.gateway import BrokerAddress, Gateway
from devices.protocol import Topics
from tests.conftest import ServicesFactory, require
from tests.helpers import Clock

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def county(make_services: ServicesFactory) -> Iterator[tuple[Services, Clock, int]]:
    require("espeak-ng")
    clock = Clock(datetime(2026, 11, 22, 10, 0, tzinfo=SH))
    services = make_services(clock=clock)
    services.add_area("county", "330782000000", "义乌市")
    services.add_area("town", "330782101000", "上溪镇")
    for code, name in (
        ("330782101201", "上溪村"),
        ("330782101202", "下林村"),
        ("330782101203", "东塘村"),
    ):
        services.add_village(name, code)
        services.place_village(code, "330782101000")
        for n in (1, 2):
            services.add_speaker(f"v{code[-1]}-{n}", code)
    services.add_group("上溪村", "一组", "330782101201001")
    services.assign_speaker("v1-2", group="330782101201001", location="一组晒谷场")
    notice = services.add_notice("防汛通知", "河水上涨，请沿河村民注意安全。")
    yield services, clock, notice.id


def speakers_of(services: Services, broadcast_id: int | None) -> list[str]:
    assert broadcast_id is not None
    rows = services.playback_log(broadcast_id=broadcast_id)
    return sorted(r.speaker_id for r in rows)


def test_area_codes_are_checked(county: tuple[Services, Clock, int]) -> None:
    services, _, _ = county
    bad = [
        ("county", "330782101000"),  # a town's code
        ("town", "330782000000"),  # a county's code
        ("town", "33078210100"),  # 11 digits
        ("town", "330999101000"),  # no such county
    ]
    for level, code in bad:
        with pytest.raises((ValidationFailed, NotFound)):
            services.add_area(level, code, "某地")
    with pytest.raises(Conflict):
        services.add_area("town", "330782101000", "上溪镇")
    assert [a.level for a in services.list_areas()] == ["county", "town"]


def test_zone_group_and_single_speaker_targets_resolve_when_firing(
    county: tuple[Services, Clock, int],
) -> None:
    services, clock, notice_id = county
    zone = services.save_zone("沿河村庄", ["上溪村"])
    at = clock.now + timedelta(hours=1)
    view = services.add_schedule(
        ScheduleRequest(notice_id, [], "once", at=at, zones=[zone.name], speakers=["v3-1"])
    )
    assert view.zone_names == ["沿河村庄"] and view.speaker_ids == ["v3-1"]
    # The zone grows before the occurrence: the new village is included when it fires.
    services.save_zone("沿河村庄", ["上溪村", "下林村"], zone_id=zone.id)
    clock.now = at
    bid = services.fire(view.id, at)
    assert speakers_of(services, bid) == ["v1-1", "v1-2", "v2-1", "v2-2", "v3-1"]
    with pytest.raises(Conflict):
        services.delete_zone(zone.id)

    group_only = services.add_schedule(
        ScheduleRequest(
            notice_id, [], "once", at=at + timedelta(minutes=30), groups=["330782101201001"]
        )
    )
    clock.now = at + timedelta(minutes=30)
    assert speakers_of(services, services.fire(group_only.id, clock.now)) == ["v1-2"]
    with pytest.raises(ValidationFailed):
        services.add_schedule(ScheduleRequest(notice_id, [], "once", at=clock.now))


def test_quiet_hours_are_per_village_and_checked_again_when_firing(
    county: tuple[Services, Clock, int],
) -> None:
    services, clock, notice_id = county
    view = services.add_schedule(
        ScheduleRequest(notice_id, ["上溪村", "下林村"], "daily", time_of_day="20:30")
    )
    # Later, 下林村 moves its quiet hours earlier: at firing it is skipped, 上溪村 plays.
    services.set_quiet_hours("下林村", "20:00-06:00")
    at = datetime(2026, 11, 22, 20, 30, tzinfo=SH)
    clock.now = at
    assert speakers_of(services, services.fire(view.id, at)) == ["v1-1", "v1-2"]


def test_emergency_ignores_quiet_hours_and_cancel_stops_it_everywhere(
    county: tuple[Services, Clock, int],
) -> None:
    services, clock, notice_id = county
    clock.now = datetime(2026, 11, 22, 23, 40, tzinfo=SH)  # inside quiet hours
    with pytest.raises(ValidationFailed):
        services.send_emergency(
            EmergencyRequest(notice_id, ["上溪村"], severity=5, event_type="防汛")
        )
    sent = services.send_emergency(
        EmergencyRequest(notice_id, ["上溪村", "下林村"], severity=2, event_type="防汛", drill=True)
    )
    assert (sent.targeted, sent.drill, sent.severity, sent.event_type) == (4, True, 2, "防汛")
    due = services.due_commands()
    assert len(due) == 4 and all(c.priority >= 90 and c.params["drill"] for c in due)
    # On the wire the play says it is a drill, under the server's signature.
    gateway = Gateway(services, BrokerAddress("127.0.0.1", 1, "x", "y"), Topics("cunxiang"))
    wire = protocol.open_envelope(gateway.encode(due[0]))[0]
    assert wire["play"]["drill"] is True and wire["priority"] >= 90
    # Two were published; two are still in the outbox when the cancel comes.
    services.mark_sent([due[0].id, due[1].id])
    assert services.cancel_broadcast(sent.id, "zhang") == 2
    after = services.due_commands()
    assert sorted(c.type for c in after) == ["stop", "stop"]
    assert {c.speaker_id for c in after} == {due[0].speaker_id, due[1].speaker_id}
    assert all(c.priority == 100 for c in after)
    [bc] = services.list_broadcasts(broadcast_id=sent.id)
    assert bc.state == 5 and bc.cancelled_at == clock.now
    assert services.cancel_broadcast(sent.id, "zhang") == 0  # once is enough
    # The log shows the plays as cancelled and no rows for the stop commands.
    assert {r.outcome for r in services.playback_log(broadcast_id=sent.id)} == {"cancelled"}
