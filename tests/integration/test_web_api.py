"""The JSON API ``/api/v1``: HTTP Basic for scripts, the session (with CSRF) for the panel."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from broadcast.errors import Conflict
from broadcast.services import Services
from broadcast.settings import Settings
from cunxiang.runtime import build_services
from tests.helpers import csrf

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-1"
START = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
BODY = "各位村民请注意，明天上午九点在村委会开会。"


def basic(username: str = "admin", password: str = PASSWORD) -> dict[str, str]:
    raw = f"{username}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = build_services(settings, clock=lambda: START)
    svc.add_user("admin", PASSWORD)
    svc.add_village("东村", "dc")
    svc.add_speaker("dc-01", "dc", "村口")
    yield svc
    svc.close()


def login(client: FlaskClient) -> str:
    """Log in through the panel; return the page's CSRF token."""
    token = csrf(client.get("/login").text)
    client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    return csrf(client.get("/notices").text)


def post(client: FlaskClient, path: str, body: Any, **headers: str) -> TestResponse:
    return client.post(path, json=body, headers={**basic(), **headers})


def json_of(resp: TestResponse) -> dict[str, Any]:
    data = resp.get_json()
    assert isinstance(data, dict), resp.text
    return data


def new_notice(client: FlaskClient) -> int:
    resp = post(client, "/api/v1/notices", {"title": "开会通知", "body": BODY})
    assert resp.status_code == 201, resp.text
    return int(json_of(resp)["id"])


# -- authentication ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/villages"),
        ("GET", "/api/v1/speakers"),
        ("GET", "/api/v1/notices"),
        ("GET", "/api/v1/schedules"),
        ("GET", "/api/v1/broadcasts"),
        ("GET", "/api/v1/log"),
        ("POST", "/api/v1/notices"),
        ("POST", "/api/v1/schedules"),
        ("POST", "/api/v1/preview"),
    ],
)
def test_api_requires_authentication(client: FlaskClient, method: str, path: str) -> None:
    resp = client.open(path, method=method, json={})
    assert resp.status_code == 401
    body = json_of(resp)
    assert body["error"] == "unauthorized"
    assert body["message"]
    assert "WWW-Authenticate" not in resp.headers


def test_wrong_basic_credentials(client: FlaskClient) -> None:
    resp = client.get("/api/v1/villages", headers=basic(password="wrong-password"))
    assert resp.status_code == 401
    assert json_of(resp) == {"error": "unauthorized", "message": "用户名或密码错误"}
    bearer = client.get("/api/v1/villages", headers={"Authorization": "Bearer abc"})
    assert bearer.status_code == 401


def test_basic_failures_are_rate_limited(client: FlaskClient) -> None:
    for _ in range(5):
        client.get("/api/v1/villages", headers=basic(password="wrong-password"))
    resp = client.get("/api/v1/villages", headers=basic())
    assert resp.status_code == 429
    assert json_of(resp)["error"] == "too_many_requests"


def test_basic_auth_reads(client: FlaskClient) -> None:
    villages = json_of(client.get("/api/v1/villages", headers=basic()))["villages"]
    assert villages == [
        {
            "id": 1,
            "code": "dc",
            "name": "东村",
            "speaker_count": 1,
            "online_count": 0,
            "quiet_hours": None,
        }
    ]
    (speaker,) = json_of(client.get("/api/v1/speakers", headers=basic()))["speakers"]
    assert speaker["id"] == "dc-01" and speaker["online"] is False
    assert json_of(client.get("/api/v1/speakers?village_id=99", headers=basic())) == {
        "speakers": []
    }


def test_session_auth_needs_csrf_header_for_writes(client: FlaskClient) -> None:
    token = login(client)
    assert client.get("/api/v1/notices").status_code == 200
    refused = client.post("/api/v1/notices", json={"title": "标题", "body": BODY})
    assert refused.status_code == 400
    assert json_of(refused)["error"] == "csrf_failed"
    created = client.post(
        "/api/v1/notices", json={"title": "标题", "body": BODY}, headers={"X-CSRFToken": token}
    )
    assert created.status_code == 201


# -- notices and preview ---------------------------------------------------------------


def test_create_and_read_notice(client: FlaskClient) -> None:
    resp = post(client, "/api/v1/notices", {"title": "开会通知", "body": BODY})
    assert resp.status_code == 201
    notice = json_of(resp)
    assert resp.headers["Location"] == f"/api/v1/notices/{notice['id']}"
    assert notice["title"] == "开会通知"
    assert notice["created_by"] == "admin"
    assert notice["created_at"] == "2025-03-01T02:00:00+00:00"
    assert notice["audio_url"] == f"/media/{notice['audio_sha256']}.mp3"
    assert json_of(client.get(resp.headers["Location"], headers=basic())) == notice
    listed = json_of(client.get("/api/v1/notices", headers=basic()))["notices"]
    assert [n["id"] for n in listed] == [notice["id"]]
    assert "开会通知" in resp.get_data(as_text=True)  # not \\u-escaped


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "", "body": BODY}, "title"),
        ({"title": "标题", "body": "  "}, "body"),
        ({"title": 5, "body": BODY}, "title"),
    ],
)
def test_invalid_notice(client: FlaskClient, body: dict[str, Any], field: str) -> None:
    resp = post(client, "/api/v1/notices", body)
    assert resp.status_code == 400
    error = json_of(resp)
    assert error["error"] == "validation_failed"
    assert error["field"] == field
    assert error["message"]


def test_body_must_be_a_json_object(client: FlaskClient) -> None:
    resp = client.post("/api/v1/notices", data="title=x", headers=basic())
    assert resp.status_code == 415
    assert json_of(resp)["error"] == "unsupported_media_type"
    resp = post(client, "/api/v1/notices", ["not", "an", "object"])
    assert resp.status_code == 400
    assert json_of(resp)["error"] == "validation_failed"


def test_preview(client: FlaskClient) -> None:
    resp = post(client, "/api/v1/preview", {"text": BODY})
    assert resp.status_code == 200
    preview = json_of(resp)
    assert set(preview) == {"sha256", "url", "duration_ms"}
    assert preview["url"] == f"/media/{preview['sha256']}.mp3"
    assert preview["duration_ms"] > 0
    empty = post(client, "/api/v1/preview", {"text": " "})
    assert empty.status_code == 400
    assert json_of(empty)["field"] == "text"


# -- schedules, broadcasts, log ------------------------------------------------------------


def test_schedule_now_by_village_code(client: FlaskClient, services: Services) -> None:
    notice_id = new_notice(client)
    resp = post(client, "/api/v1/schedules", {"notice_id": notice_id, "villages": ["dc"]})
    assert resp.status_code == 201, resp.text
    schedule = json_of(resp)
    assert schedule["kind"] == "once"
    assert schedule["start_at"] == "2025-03-01T02:00:00+00:00"
    assert schedule["village_names"] == ["东村"]
    assert resp.headers["Location"] == f"/api/v1/schedules/{schedule['id']}"
    (broadcast,) = json_of(client.get("/api/v1/broadcasts", headers=basic()))["broadcasts"]
    assert broadcast["targeted"] == 1
    assert broadcast["state_name"] == "unprocessed"
    log = json_of(client.get(f"/api/v1/log?broadcast_id={broadcast['id']}", headers=basic()))
    (row,) = log["log"]
    assert (row["speaker_id"], row["status"], row["outcome"]) == ("dc-01", "pending", None)
    assert json_of(client.get("/api/v1/log?broadcast_id=999", headers=basic())) == {"log": []}
    bad = client.get("/api/v1/log?broadcast_id=abc", headers=basic())
    assert (bad.status_code, json_of(bad)["field"]) == (400, "broadcast_id")


def test_schedule_at_and_daily(client: FlaskClient) -> None:
    notice_id = new_notice(client)
    at = post(
        client,
        "/api/v1/schedules",
        {
            "notice_id": notice_id,
            "villages": [1],
            "at": "2025-03-01T12:00:00+08:00",
            "priority": 80,
        },
    )
    assert at.status_code == 201, at.text
    assert json_of(at)["next_at"] == "2025-03-01T04:00:00+00:00"
    daily = post(
        client,
        "/api/v1/schedules",
        {"notice_id": notice_id, "villages": [1], "kind": "daily", "time_of_day": "07:30"},
    )
    assert daily.status_code == 201, daily.text
    assert json_of(daily)["next_at"] == "2025-03-01T23:30:00+00:00"
    listed = json_of(client.get("/api/v1/schedules", headers=basic()))["schedules"]
    assert len(listed) == 2


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"villages": []}, "villages"),
        ({"villages": "dc"}, "villages"),
        ({"at": "2025-03-01T12:00:00"}, "at"),
        ({"at": "tomorrow"}, "at"),
        ({"at": "2025-03-01T09:00:00+08:00"}, "at"),
        ({"kind": "daily"}, "time_of_day"),
        ({"kind": "daily", "time_of_day": "7.30"}, "time_of_day"),
        ({"kind": "hourly"}, "kind"),
        ({"repeat": 11}, "repeat"),
        ({"volume": "loud"}, "volume"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_schedule(client: FlaskClient, extra: dict[str, Any], field: str) -> None:
    notice_id = new_notice(client)
    body = {"notice_id": notice_id, "villages": ["dc"], **extra}
    resp = post(client, "/api/v1/schedules", body)
    assert resp.status_code == 400, resp.text
    error = json_of(resp)
    assert (error["error"], error["field"]) == ("validation_failed", field)


def test_unknown_references_are_not_found(client: FlaskClient) -> None:
    notice_id = new_notice(client)
    resp = post(client, "/api/v1/schedules", {"notice_id": notice_id, "villages": ["nowhere"]})
    assert resp.status_code == 404
    assert json_of(resp) == {"error": "not_found", "message": "找不到村：nowhere"}
    resp = post(client, "/api/v1/schedules", {"notice_id": 999, "villages": ["dc"]})
    assert resp.status_code == 404
    assert client.get("/api/v1/notices/999", headers=basic()).status_code == 404


def test_enable_and_disable_schedule(client: FlaskClient) -> None:
    notice_id = new_notice(client)
    body = {"notice_id": notice_id, "villages": ["dc"], "kind": "daily", "time_of_day": "07:30"}
    schedule_id = json_of(post(client, "/api/v1/schedules", body))["id"]
    url = f"/api/v1/schedules/{schedule_id}"
    off = client.patch(url, json={"enabled": False}, headers=basic())
    assert off.status_code == 200
    assert (json_of(off)["enabled"], json_of(off)["next_at"]) == (False, None)
    on = client.patch(url, json={"enabled": True}, headers=basic())
    assert json_of(on)["enabled"] is True
    bad = client.patch(url, json={"enabled": "yes"}, headers=basic())
    assert json_of(bad)["field"] == "enabled"
    missing = client.patch("/api/v1/schedules/999", json={"enabled": True}, headers=basic())
    assert missing.status_code == 404


# -- error shapes ------------------------------------------------------------------------


def test_unknown_route_and_method(client: FlaskClient) -> None:
    resp = client.get("/api/v1/nothing", headers=basic())
    assert resp.status_code == 404
    assert json_of(resp)["error"] == "not_found"
    resp = client.delete("/api/v1/notices", headers=basic())
    assert resp.status_code == 405
    assert json_of(resp)["error"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]


def test_conflict_and_unexpected_errors(
    client: FlaskClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def conflict() -> None:
        raise Conflict("村名“东村”或代码“dc”已存在")

    monkeypatch.setattr(services, "list_villages", conflict)
    resp = client.get("/api/v1/villages", headers=basic())
    assert resp.status_code == 409
    assert json_of(resp) == {"error": "conflict", "message": "村名“东村”或代码“dc”已存在"}

    def broken() -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(services, "list_villages", broken)
    resp = client.get("/api/v1/villages", headers=basic())
    assert resp.status_code == 500
    body = json_of(resp)
    assert body["error"] == "internal_error"
    assert "fire" not in body["message"]
