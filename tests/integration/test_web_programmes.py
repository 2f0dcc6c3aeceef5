"""Programmes, places, volume ceilings, the timeline and the plan preview in the panel and
in /api/v1. Flask's test client over real SQLite, espeak-ng and ffmpeg."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from broadcast.planning import ScheduleRequest
from broadcast.services import Services
from broadcast.settings import Settings
from cunxiang.runtime import build_services
from tests.conftest import require
from tests.helpers import Clock, csrf, log_in

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-1"
# Saturday 1 March 2025, 10:00 in Asia/Shanghai.
START = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
AUTH = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    require("espeak-ng")
    require("ffmpeg")
    svc = build_services(settings, clock=Clock(START))
    svc.add_user("admin", PASSWORD)
    svc.add_village("东村", "dc")
    svc.add_village("西村", "xc")
    svc.add_speaker("dc-01", "dc", "村口")
    svc.add_speaker("xc-01", "xc", "小学")
    yield svc
    svc.close()


@pytest.fixture
def token(client: FlaskClient) -> str:
    return log_in(client, "admin", PASSWORD)


def error_at(html: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    assert found, f"no error at {field}"
    return found.group(1)


def api(client: FlaskClient, method: str, path: str, body: Any = None) -> Any:
    resp = client.open(f"/api/v1{path}", method=method, json=body, headers=AUTH)
    return resp.status_code, (resp.get_json() if resp.data else None)


def test_programme_in_the_panel_without_script(
    client: FlaskClient, services: Services, token: str
) -> None:
    weather = services.add_notice("天气", "今天晴。")
    meeting = services.add_notice("开会", "明天开会。")
    page = client.get("/programmes/new").text
    assert "新建节目单" in page and "天气" in page
    items = [f"notice:{weather.id}", "chime", f"notice:{meeting.id}"]
    data = {"csrf_token": token, "name": "早间节目", "items": items, "silence": "3"}
    # The ↓ button works without script: the server moves the item and saves nothing.
    moved = client.post("/programmes/new", data={**data, "op": "down:0"})
    assert moved.status_code == 200 and services.list_programmes() == []
    order = re.findall(r'name="items" value="([^"]+)"', moved.text)
    assert order == ["chime", f"notice:{weather.id}", f"notice:{meeting.id}"]
    added = client.post("/programmes/new", data={**data, "items": order, "op": "add_silence"})
    assert re.findall(r'name="items" value="([^"]+)"', added.text)[-1] == "silence:3"
    bad = client.post("/programmes/new", data={**data, "op": "add_silence", "silence": "0"})
    assert bad.status_code == 400 and "静音须为" in error_at(bad.text, "silence")
    # Saving: named errors re-render the form with what was typed.
    nameless = client.post("/programmes/new", data={**data, "name": " "})
    assert nameless.status_code == 400 and "名称" in error_at(nameless.text, "name")
    assert 'value="chime"' in nameless.text
    saved = client.post("/programmes/new", data={**data, "items": order})
    assert saved.status_code == 302
    (prog,) = services.list_programmes()
    assert [i.title for i in prog.items] == ["提示音", "天气", "开会"]
    listing = client.get("/programmes").text
    assert "早间节目" in listing and "3 项" in listing
    assert f"/notices/{prog.notice_id}#play" in listing
    edit = client.get(f"/programmes/{prog.id}/edit").text
    assert re.findall(r'name="items" value="([^"]+)"', edit) == order
    # The programme's notice page: scheduled like a notice, product of repeats explained.
    detail = client.get(f"/notices/{prog.notice_id}").text
    assert "节目单" in detail and "整段播放次数" in detail and "整个节目共播" in detail
    resp = client.post(f"/programmes/{prog.id}/delete", data={"csrf_token": token})
    assert resp.status_code == 302 and services.list_programmes() == []


def test_programme_api(client: FlaskClient, services: Services) -> None:
    notice = services.add_notice("天气", "今天晴。")
    body = {
        "name": "午间",
        "items": [{"kind": "chime"}, {"kind": "notice", "notice_id": notice.id}],
    }
    status, created = api(client, "POST", "/programmes", body)
    assert status == 201 and created["total_ms"] > notice.audio_duration_ms
    assert created["audio_url"].startswith("/media/")
    status, bad = api(client, "POST", "/programmes", {"name": "x", "items": [{"kind": "tv"}]})
    assert status == 400 and bad["error"] == "validation_failed" and bad["field"] == "items"
    status, bad = api(client, "POST", "/programmes", {"name": "x", "items": "chime"})
    assert status == 400 and bad["field"] == "items"
    status, _ = api(client, "POST", "/programmes", body)
    assert status == 409
    body["items"].append({"kind": "silence", "seconds": 2})
    status, updated = api(client, "PUT", f"/programmes/{created['id']}", body)
    assert status == 200 and len(updated["items"]) == 3
    # Scheduled like a notice, through the schedules API.
    status, sched = api(
        client,
        "POST",
        "/schedules",
        {"notice_id": created["notice_id"], "villages": ["dc"], "kind": "daily",
         "time_of_day": "07:00"},
    )  # fmt: skip
    assert status == 201 and sched["notice_title"] == "午间"
    status, refused = api(client, "DELETE", f"/programmes/{created['id']}")
    assert status == 409 and "使用" in refused["message"]
    assert api(client, "GET", "/programmes/999")[0] == 404


def test_places_pages(client: FlaskClient, services: Services, token: str) -> None:
    page = client.get("/places").text
    assert "县和乡镇" in page and "东村" in page
    bad = client.post(
        "/places/areas", data={"csrf_token": token, "level": "county", "code": "3701", "name": "x"}
    )
    assert bad.status_code == 400 and "12 位" in error_at(bad.text, "code")
    for level, code, name in (
        ("county", "370102000000", "历下区"),
        ("town", "370102001000", "解放路街道"),
    ):
        resp = client.post(
            "/places/areas", data={"csrf_token": token, "level": level, "code": code, "name": name}
        )
        assert resp.status_code == 302
    resp = client.post(
        "/places/villages",
        data={"csrf_token": token, "name": "南村", "code": "nc", "town_code": "370102001000"},
    )
    assert resp.status_code == 302
    page = client.get("/places").text
    assert "解放路街道" in page and "南村" in page
    south = services.find_village("nc")
    dupe = client.post(
        f"/places/villages/{south.id}",
        data={"csrf_token": token, "name": "东村", "code": "nc", "town_code": ""},
    )
    assert dupe.status_code == 400 and "已被别的村使用" in dupe.text
    resp = client.post(
        f"/places/villages/{south.id}/groups",
        data={"csrf_token": token, "group_name": "一组", "group_code": "370102001003001"},
    )
    assert resp.status_code == 302 and "一组" in client.get(f"/places/villages/{south.id}").text
    # A town with villages cannot go; an empty village can.
    town = next(a for a in services.list_areas() if a.level == "town")
    refused = client.post(f"/places/areas/{town.id}/delete", data={"csrf_token": token})
    assert refused.status_code == 409 and "还有村" in refused.text
    east = services.find_village("dc")
    refused = client.post(f"/places/villages/{east.id}/delete", data={"csrf_token": token})
    assert refused.status_code == 409 and "喇叭" in refused.text
    gone = client.post(f"/places/villages/{south.id}/delete", data={"csrf_token": token})
    assert gone.status_code == 302 and "南村" not in client.get("/places").text
    # Zones.
    empty = client.post("/places/zones/new", data={"csrf_token": token, "name": "沿河村庄"})
    assert empty.status_code == 400 and "至少" in error_at(empty.text, "villages")
    resp = client.post(
        "/places/zones/new",
        data={"csrf_token": token, "name": "沿河村庄", "villages": [str(east.id)]},
    )
    assert resp.status_code == 302
    (zone,) = services.list_zones()
    assert zone.village_ids == [east.id]
    assert "checked" in client.get(f"/places/zones/{zone.id}").text
    resp = client.post(f"/places/zones/{zone.id}/delete", data={"csrf_token": token})
    assert resp.status_code == 302 and services.list_zones() == []


def test_places_api(client: FlaskClient, services: Services) -> None:
    assert api(client, "POST", "/areas", {"level": "county", "code": "370102000000",
                                          "name": "历下区"})[0] == 201  # fmt: skip
    status, town = api(
        client, "POST", "/areas", {"level": "town", "code": "370102001000", "name": "街道"}
    )
    assert status == 201
    status, err = api(client, "POST", "/areas", {"level": "town", "code": "1", "name": "x"})
    assert status == 400 and err["field"] == "code"
    status, village = api(
        client, "POST", "/villages", {"name": "南村", "code": "nc", "town_code": "370102001000"}
    )
    assert status == 201
    status, err = api(client, "PUT", f"/villages/{village['id']}", {"name": "", "code": "nc"})
    assert status == 400 and err["field"] == "name"
    status, group = api(
        client, "POST", "/groups", {"village": "nc", "name": "一组", "code": "370102001003001"}
    )
    assert status == 201
    assert api(client, "PATCH", f"/groups/{group['code']}", {"name": "二组"})[1]["name"] == "二组"
    status, zone = api(client, "POST", "/zones", {"name": "沿河", "villages": ["nc", "dc"]})
    assert status == 201 and sorted(zone["village_names"]) == ["东村", "南村"]
    assert api(client, "PUT", f"/zones/{zone['id']}", {"name": "沿河", "villages": []})[0] == 400
    assert api(client, "DELETE", f"/zones/{zone['id']}")[0] == 204
    assert api(client, "DELETE", f"/groups/{group['id']}")[0] == 204
    assert api(client, "DELETE", f"/villages/{village['id']}")[0] == 204
    assert api(client, "DELETE", f"/areas/{town['id']}")[0] == 204
    assert api(client, "DELETE", "/villages/999")[0] == 404


def test_volume_ceilings_panel_and_api(client: FlaskClient, services: Services, token: str) -> None:
    east = services.find_village("dc")
    page = client.get(f"/villages/{east.id}/volume").text
    assert "音量上限" in page
    half = client.post(
        f"/villages/{east.id}/volume",
        data={"csrf_token": token, "start": ["06:00"], "end": [""], "max_volume": ["60"]},
    )
    assert half.status_code == 400 and "填全" in half.text
    resp = client.post(
        f"/villages/{east.id}/volume",
        data={
            "csrf_token": token,
            "start": ["06:00", ""],
            "end": ["07:30", ""],
            "max_volume": ["60", ""],
        },
    )
    assert resp.status_code == 302
    assert "06:00-07:30 ≤60" in client.get("/villages").text
    status, body = api(client, "GET", f"/villages/{east.id}/volume-ceilings")
    assert body == {"ceilings": [{"start": "06:00", "end": "07:30", "max_volume": 60}]}
    status, err = api(
        client,
        "PUT",
        f"/villages/{east.id}/volume-ceilings",
        {"ceilings": [{"start": "06:00", "end": "07:30", "max_volume": 160}]},
    )
    assert status == 400 and err["field"] == "max_volume"
    assert api(client, "PUT", f"/villages/{east.id}/volume-ceilings", {"ceilings": []})[1] == {
        "ceilings": []
    }


def test_plan_preview_api_and_timeline(client: FlaskClient, services: Services) -> None:
    notice = services.add_notice("通知", "各位村民请注意，" * 6)
    services.set_volume_ceilings("dc", [("06:00-07:30", 60)])
    low = services.add_schedule(
        ScheduleRequest(notice.id, ["dc"], "daily", time_of_day="07:00", priority=50)
    )
    services.add_schedule(
        ScheduleRequest(notice.id, ["dc"], "daily", time_of_day="07:00", priority=80)
    )
    status, body = api(client, "GET", "/plan?date=2025-03-02&village=dc")
    assert status == 200 and body["date"] == "2025-03-02"
    first, second = body["plays"]
    assert first["priority"] == 80 and first["delay_seconds"] == 0
    assert second["schedule_id"] == low.id and second["delay_seconds"] > 0
    assert second["start_at"] == first["end_at"] and second["volume"] == 60
    assert any("推迟" in p for p in second["problems"])
    status, err = api(client, "GET", "/plan?days=40")
    assert status == 400 and err["field"] == "days"
    assert api(client, "GET", "/plan?date=2025-02-30")[0] == 400
    assert api(client, "GET", "/plan?village=nowhere")[0] == 404

    day = client.get("/schedules/plan?date=2025-03-02", headers=AUTH)
    assert day.status_code == 302  # the panel wants its own login
    first_token = csrf(client.get("/login").text)
    client.post("/login", data={"username": "admin", "password": PASSWORD,
                                "csrf_token": first_token})  # fmt: skip
    day = client.get("/schedules/plan?date=2025-03-02").text
    assert "排在更高优先级之后" in day and 'class="tl-block queued' in day
    week = client.get("/schedules/plan?view=week&date=2025-03-02").text
    assert week.count('class="tl-row"') == 2 * 7
    assert week.count('class="tl-quiet"') == 2 * 7 * 2  # 22:00-06:00: both ends of each day


def test_emergency_api_takes_groups_and_summarises_them(
    client: FlaskClient, services: Services
) -> None:
    notice = services.add_notice("防汛", "请注意防汛。")
    group = services.add_group("xc", "一组", "370102001002001")
    services.assign_speaker("xc-01", group.id)
    body = {"notice_id": notice.id, "groups": [group.code], "severity": 2, "event_type": "防汛"}
    status, answer = api(client, "POST", "/emergencies", body)
    assert status == 400 and answer["error"] == "confirmation_required"
    assert answer["groups"] == [
        {"code": group.code, "name": "西村一组", "loudspeakers": 1, "online": 0}
    ]
    assert (answer["targets"], answer["loudspeakers"]) == ([], 1)
    assert "1 个小组" in answer["message"]
    status, missing = api(client, "POST", "/emergencies", {**body, "groups": ["999999999999"]})
    assert status == 404 and "小组" in missing["message"]
    status, sent = api(client, "POST", "/emergencies", {**body, "confirm": True})
    assert status == 201 and sent["targeted"] == 1
