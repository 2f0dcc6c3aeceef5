"""Planning in the JSON API: repeating schedules, edit and delete, quiet hours, emergencies
(confirmed before sending) and cancelling broadcasts."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from broadcast.services import Services
from broadcast.settings import Settings
from cunxiang.runtime import build_services

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-1"
# Saturday 1 March 2025, 10:00 in Asia/Shanghai.
START = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
BODY = "各位村民请注意，明天上午九点在村委会开会。"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = build_services(settings, clock=lambda: START)
    svc.add_user("admin", PASSWORD)
    svc.add_village("东村", "dc")
    svc.add_village("西村", "xc")
    svc.add_speaker("dc-01", "dc", "村口")
    svc.add_speaker("dc-02", "dc", "祠堂")
    svc.add_speaker("xc-01", "xc", "小学")
    yield svc
    svc.close()


@pytest.fixture
def notice_id(services: Services) -> int:
    return services.add_notice("防汛通知", BODY, created_by="admin").id


def call(client: FlaskClient, method: str, path: str, body: Any = None) -> TestResponse:
    return client.open(path, method=method, json=body, headers=AUTH)


def json_of(resp: TestResponse) -> dict[str, Any]:
    data = resp.get_json()
    assert isinstance(data, dict), resp.text
    return data


def weekly(notice_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "notice_id": notice_id,
        "villages": ["dc"],
        "kind": "weekly",
        "weekdays": [1, 4],
        "time_of_day": "18:30",
        **extra,
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/api/v1/villages/1"),
        ("GET", "/api/v1/villages/1"),
        ("PUT", "/api/v1/schedules/1"),
        ("DELETE", "/api/v1/schedules/1"),
        ("POST", "/api/v1/emergencies"),
        ("GET", "/api/v1/broadcasts/1"),
        ("POST", "/api/v1/broadcasts/1/cancel"),
    ],
)
def test_new_endpoints_require_authentication(client: FlaskClient, method: str, path: str) -> None:
    resp = client.open(path, method=method, json={})
    assert resp.status_code == 401
    assert json_of(resp)["error"] == "unauthorized"


# -- schedules ----------------------------------------------------------------------------


def test_weekly_schedule_with_every_option(client: FlaskClient, notice_id: int) -> None:
    body = weekly(
        notice_id,
        start_date="2025-03-10",
        end_date="2025-06-30",
        skip_dates=["2025-05-01", "2025-05-02"],
        window_minutes=30,
        priority=70,
    )
    resp = call(client, "POST", "/api/v1/schedules", body)
    assert resp.status_code == 201, resp.text
    schedule = json_of(resp)
    assert schedule["kind"] == "weekly" and schedule["weekdays"] == [1, 4]
    assert schedule["end_date"] == "2025-06-30"
    assert schedule["skip_dates"] == ["2025-05-01", "2025-05-02"]
    assert schedule["window_seconds"] == 1800
    assert schedule["next_at"] == "2025-03-10T10:30:00+00:00"  # Monday 10 March, 18:30 local
    every = call(
        client,
        "POST",
        "/api/v1/schedules",
        {
            "notice_id": notice_id,
            "villages": [2],
            "kind": "every_n_days",
            "interval_days": 3,
            "time_of_day": "12:00",
        },
    )
    assert every.status_code == 201, every.text
    assert json_of(every)["interval_days"] == 3


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"weekdays": []}, "weekdays"),
        ({"weekdays": [8]}, "weekdays"),
        ({"weekdays": "1,4"}, "weekdays"),
        ({"time_of_day": "23:00"}, "time_of_day"),  # inside the default quiet hours
        ({"priority": 90}, "priority"),  # emergencies go through /emergencies
        ({"kind": "every_n_days", "interval_days": 0}, "interval_days"),
        ({"end_date": "2025-02-28"}, "end_date"),
        ({"skip_dates": ["2025-13-01"]}, "skip_dates"),
        ({"window_minutes": 0}, "window_minutes"),
    ],
)
def test_invalid_repeating_schedule(
    client: FlaskClient, notice_id: int, extra: dict[str, Any], field: str
) -> None:
    resp = call(client, "POST", "/api/v1/schedules", weekly(notice_id, **extra))
    assert resp.status_code == 400, resp.text
    error = json_of(resp)
    assert (error["error"], error["field"]) == ("validation_failed", field)


def test_quiet_hours_refusal_names_village_and_band(client: FlaskClient, notice_id: int) -> None:
    resp = call(client, "POST", "/api/v1/schedules", weekly(notice_id, time_of_day="05:30"))
    assert resp.status_code == 400
    assert json_of(resp)["message"] == "东村的静音时段为 22:00-06:00，05:30 不能播出例行广播"


def test_put_edits_a_schedule(client: FlaskClient, notice_id: int) -> None:
    created = json_of(call(client, "POST", "/api/v1/schedules", weekly(notice_id)))
    url = f"/api/v1/schedules/{created['id']}"
    resp = call(
        client,
        "PUT",
        url,
        {"notice_id": notice_id, "villages": ["dc", "xc"], "kind": "daily", "time_of_day": "07:00"},
    )
    assert resp.status_code == 200, resp.text
    edited = json_of(resp)
    assert (edited["id"], edited["kind"], edited["weekdays"]) == (created["id"], "daily", [])
    assert sorted(edited["village_names"]) == ["东村", "西村"]
    assert edited["next_at"] == "2025-03-01T23:00:00+00:00"
    assert json_of(call(client, "GET", url)) == edited

    once = call(client, "PUT", url, {"notice_id": notice_id, "villages": ["dc"]})
    assert (once.status_code, json_of(once)["field"]) == (400, "at")
    at = call(
        client,
        "PUT",
        url,
        {"notice_id": notice_id, "villages": ["dc"], "at": "2025-03-01T15:00:00+08:00"},
    )
    assert at.status_code == 200, at.text
    assert json_of(at)["next_at"] == "2025-03-01T07:00:00+00:00"
    missing = call(client, "PUT", "/api/v1/schedules/999", weekly(notice_id))
    assert missing.status_code == 404
    bad = call(client, "PUT", url, weekly(notice_id, weekdays=[]))
    assert json_of(bad)["field"] == "weekdays"


def test_delete_a_schedule(client: FlaskClient, notice_id: int) -> None:
    created = json_of(call(client, "POST", "/api/v1/schedules", weekly(notice_id)))
    url = f"/api/v1/schedules/{created['id']}"
    resp = call(client, "DELETE", url)
    assert resp.status_code == 204 and resp.data == b""
    assert call(client, "GET", url).status_code == 404
    again = call(client, "DELETE", url)
    assert again.status_code == 404
    assert json_of(again)["error"] == "not_found"


# -- villages -----------------------------------------------------------------------------


def test_villages_carry_quiet_hours_and_can_change_them(
    client: FlaskClient, services: Services
) -> None:
    listed = json_of(call(client, "GET", "/api/v1/villages"))
    assert listed["default_quiet_hours"] == "22:00-06:00"
    assert listed["villages"][0] == {
        "id": 1,
        "code": "dc",
        "name": "东村",
        "speaker_count": 2,
        "online_count": 0,
        "quiet_hours": None,
    }
    resp = call(client, "PATCH", "/api/v1/villages/1", {"quiet_hours": "21:00-07:00"})
    assert resp.status_code == 200, resp.text
    assert json_of(resp)["quiet_hours"] == "21:00-07:00"
    assert json_of(resp)["speaker_count"] == 2
    none = call(client, "PATCH", "/api/v1/villages/1", {"quiet_hours": "-"})
    assert json_of(none)["quiet_hours"] == "-"
    empty = call(client, "PATCH", "/api/v1/villages/1", {"quiet_hours": "12:00-12:00"})
    assert json_of(empty)["quiet_hours"] == "-"
    default = call(client, "PATCH", "/api/v1/villages/1", {"quiet_hours": None})
    assert json_of(default)["quiet_hours"] is None
    assert json_of(call(client, "GET", "/api/v1/villages/2"))["name"] == "西村"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"quiet_hours": "夜里"}, 400, "quiet_hours"),
        ({"quiet_hours": "25:00-06:00"}, 400, "quiet_hours"),
        ({"quiet_hours": 22}, 400, "quiet_hours"),
        ({"quiet_hours": "-", "name": "北村"}, 400, "quiet_hours"),
        ({}, 400, "quiet_hours"),
    ],
)
def test_invalid_quiet_hours(
    client: FlaskClient, services: Services, body: dict[str, Any], status: int, field: str
) -> None:
    resp = call(client, "PATCH", "/api/v1/villages/1", body)
    assert resp.status_code == status
    assert json_of(resp)["field"] == field
    assert services.list_villages()[0].quiet_hours is None


def test_quiet_hours_of_unknown_village(client: FlaskClient) -> None:
    resp = call(client, "PATCH", "/api/v1/villages/99", {"quiet_hours": "-"})
    assert resp.status_code == 404
    assert json_of(resp) == {"error": "not_found", "message": "找不到村：99"}
    assert call(client, "GET", "/api/v1/villages/99").status_code == 404
    not_json = client.patch("/api/v1/villages/1", data="quiet_hours=-", headers=AUTH)
    assert not_json.status_code == 415


# -- emergencies and cancelling --------------------------------------------------------------


def emergency(notice_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "notice_id": notice_id,
        "villages": ["dc", "xc"],
        "severity": 2,
        "event_type": "防汛",
        **extra,
    }


def test_emergency_needs_confirmation_and_names_its_targets(
    client: FlaskClient, services: Services, notice_id: int
) -> None:
    resp = call(client, "POST", "/api/v1/emergencies", emergency(notice_id))
    assert resp.status_code == 400
    summary = json_of(resp)
    assert summary["error"] == "confirmation_required"
    assert summary["loudspeakers"] == 3 and summary["online"] == 0
    assert summary["drill"] is False
    assert [(t["name"], t["loudspeakers"]) for t in summary["targets"]] == [
        ("东村", 2),
        ("西村", 1),
    ]
    assert "3 个喇叭" in summary["message"]
    assert services.list_broadcasts() == []
    unconfirmed = call(client, "POST", "/api/v1/emergencies", emergency(notice_id, confirm=False))
    assert json_of(unconfirmed)["error"] == "confirmation_required"


def test_send_read_and_cancel_an_emergency(
    client: FlaskClient, services: Services, notice_id: int
) -> None:
    body = emergency(notice_id, drill=True, repeat=3, confirm=True)
    resp = call(client, "POST", "/api/v1/emergencies", body)
    assert resp.status_code == 201, resp.text
    sent = json_of(resp)
    assert resp.headers["Location"] == f"/api/v1/broadcasts/{sent['id']}"
    assert sent["drill"] is True
    assert (sent["severity"], sent["severity_name"], sent["event_type"]) == (
        2,
        "II 级（重大）",
        "防汛",
    )
    assert sent["targeted"] == 3 and sent["priority"] >= 90
    assert json_of(call(client, "GET", resp.headers["Location"])) == sent
    log = json_of(call(client, "GET", f"/api/v1/log?broadcast_id={sent['id']}"))["log"]
    assert len(log) == 3 and all(row["drill"] is True for row in log)
    listed = json_of(call(client, "GET", "/api/v1/broadcasts"))["broadcasts"]
    assert listed[0]["drill"] is True

    # Two loudspeakers already have the play: they get a signed stop; the third is withdrawn.
    services.mark_sent([c.id for c in services.due_commands() if c.speaker_id != "xc-01"])
    cancel = call(client, "POST", f"/api/v1/broadcasts/{sent['id']}/cancel")
    assert cancel.status_code == 200, cancel.text
    result = json_of(cancel)
    assert result["stops"] == 2
    assert result["broadcast"]["state_name"] == "cancelled"
    assert result["broadcast"]["cancelled_at"] == "2025-03-01T02:00:00+00:00"
    stops = [c for c in services.due_commands() if c.type == "stop"]
    assert sorted(c.speaker_id for c in stops) == ["dc-01", "dc-02"]
    again = json_of(call(client, "POST", f"/api/v1/broadcasts/{sent['id']}/cancel"))
    assert again["stops"] == 0


def test_cancel_and_read_unknown_broadcast(client: FlaskClient) -> None:
    assert call(client, "POST", "/api/v1/broadcasts/999/cancel").status_code == 404
    resp = call(client, "GET", "/api/v1/broadcasts/999")
    assert json_of(resp) == {"error": "not_found", "message": "找不到广播 999"}


@pytest.mark.parametrize(
    ("extra", "status", "field"),
    [
        ({"severity": 5}, 400, "severity"),
        ({"severity": "II"}, 400, "severity"),
        ({"event_type": ""}, 400, "event_type"),
        ({"event_type": "事" * 65}, 400, "event_type"),
        ({"villages": []}, 400, "villages"),
        ({"drill": "yes"}, 400, "drill"),
        ({"confirm": 1}, 400, "confirm"),
        ({"priority": 80}, 400, "priority"),
        ({"repeat": 11}, 400, "repeat"),
        ({"everywhere": True}, 400, "everywhere"),
    ],
)
def test_invalid_emergency(
    client: FlaskClient,
    services: Services,
    notice_id: int,
    extra: dict[str, Any],
    status: int,
    field: str,
) -> None:
    body = {**emergency(notice_id, confirm=True), **extra}
    resp = call(client, "POST", "/api/v1/emergencies", body)
    assert resp.status_code == status, resp.text
    error = json_of(resp)
    assert (error["error"], error.get("field")) == ("validation_failed", field)
    assert services.list_broadcasts() == []


def test_emergency_to_unknown_village_or_notice(client: FlaskClient, notice_id: int) -> None:
    nowhere = call(client, "POST", "/api/v1/emergencies", emergency(notice_id, villages=["bc"]))
    assert nowhere.status_code == 404
    assert json_of(nowhere)["message"] == "找不到村：bc"
    no_notice = call(client, "POST", "/api/v1/emergencies", emergency(999))
    assert no_notice.status_code == 404


def test_zones_and_single_loudspeakers_as_targets(
    client: FlaskClient, services: Services, notice_id: int
) -> None:
    services.save_zone("沿河村庄", ["dc", "xc"])
    services.add_village("南村", "nc")
    services.add_speaker("nc-01", "nc", "桥头")
    body = {"notice_id": notice_id, "zones": ["沿河村庄"], "speakers": ["nc-01", "dc-01"]}
    summary = json_of(
        call(client, "POST", "/api/v1/emergencies", {**body, "severity": 1, "event_type": "防汛"})
    )
    assert summary["zones"] == ["沿河村庄"] and summary["speakers"] == ["nc-01"]
    assert [t["name"] for t in summary["targets"]] == ["东村", "西村"]
    assert summary["loudspeakers"] == 4
    schedule = call(
        client, "POST", "/api/v1/schedules", {**body, "kind": "daily", "time_of_day": "07:00"}
    )
    assert schedule.status_code == 201, schedule.text
    created = json_of(schedule)
    assert created["zone_names"] == ["沿河村庄"]
    assert sorted(created["speaker_ids"]) == ["dc-01", "nc-01"]
    bad = call(client, "POST", "/api/v1/schedules", {**body, "zones": "沿河村庄"})
    assert json_of(bad)["field"] == "zones"
    bad = call(client, "POST", "/api/v1/schedules", {**body, "speakers": [1]})
    assert json_of(bad)["field"] == "speakers"
