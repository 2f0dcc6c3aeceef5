"""An emergency to several villages waits for a second person, in the console and the API."""

from __future__ import annotations

import base64
import re
from datetime import datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from broadcast import audit
from broadcast.services import Services
from tests.conftest import ServicesFactory
from tests.helpers import Clock, log_in
from web import create_app

pytestmark = pytest.mark.approval


@pytest.fixture
def svc(make_services: ServicesFactory, fixed_now: datetime) -> Services:
    services = make_services(clock=Clock(fixed_now))
    for role in ("admin", "editor", "reviewer"):
        services.add_user(role, f"{role}-password-1", role)
    services.add_village("东村", "dc")
    services.add_village("西村", "xc")
    services.add_speaker("dc-01", "dc")
    services.add_speaker("dc-02", "dc")
    services.add_speaker("xc-01", "xc")
    with audit.acting_as("admin"):
        services.add_notice("洪水预警", "请沿河村民立即转移。", approve=True)
    return services


@pytest.fixture
def app(svc: Services) -> Flask:
    return create_app(svc, testing=True)


def login(app: Flask, role: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    return client, log_in(client, role, f"{role}-password-1", then="/emergency")


def request_from_console(client: FlaskClient, token: str, villages: list[str]) -> str:
    form = {
        "villages": villages,
        "notice_id": "1",
        "severity": "2",
        "event_type": "防汛",
        "repeat": "2",
        "csrf_token": token,
    }
    page = client.post("/emergency/confirm", data=form).text
    assert "还需要另一位管理员或审核员确认" in page or len(villages) == 1
    found = re.search(r'name="confirmation" value="([^"]+)"', page)
    assert found
    resp = client.post(
        "/emergency/send",
        data={"confirmation": found.group(1), "action": "send", "csrf_token": token},
    )
    assert resp.status_code == 302
    return resp.headers["Location"]


def test_second_person_confirms_in_the_console(app: Flask, svc: Services) -> None:
    editor, token = login(app, "editor")
    where = request_from_console(editor, token, ["1", "2"])
    assert where.startswith("/emergency#pending-")
    page = editor.get("/emergency").text
    assert "待确认的应急广播" in page
    assert "2 个村，共 3 个喇叭" in page
    assert "等待另一位管理员或审核员确认" in page
    assert "确认发送</button>" not in page
    assert svc.list_broadcasts() == []
    schedule_id = int(where.rsplit("-", 1)[1])
    # The editor cannot confirm it by posting either.
    denied = editor.post(f"/emergency/pending/{schedule_id}/confirm", data={"csrf_token": token})
    assert denied.status_code == 403

    reviewer, rtoken = login(app, "reviewer")
    page = reviewer.get("/emergency").text
    assert "东村" in page and "西村" in page and "确认发送</button>" in page
    resp = reviewer.post(f"/emergency/pending/{schedule_id}/confirm", data={"csrf_token": rtoken})
    assert resp.status_code == 302
    (sent,) = svc.list_broadcasts()
    assert sent.targeted == 3
    assert resp.headers["Location"] == f"/log?broadcast_id={sent.id}"
    entries = svc.audit_entries(table_name="schedules", row_id=str(schedule_id))
    assert any(e.action == "confirm_emergency" and e.actor == "reviewer" for e in entries)


def test_admin_confirms_twice_and_one_village_goes_at_once(app: Flask, svc: Services) -> None:
    admin, token = login(app, "admin")
    where = request_from_console(admin, token, ["1", "2"])
    schedule_id = int(where.rsplit("-", 1)[1])
    assert "再次确认，立即发送" in admin.get("/emergency").text
    admin.post(f"/emergency/pending/{schedule_id}/confirm", data={"csrf_token": token})
    assert len(svc.list_broadcasts()) == 1

    editor, etoken = login(app, "editor")
    where = request_from_console(editor, etoken, ["1"])
    assert where.startswith("/log?broadcast_id=")
    assert len(svc.list_broadcasts()) == 2


def test_api_answers_202_and_confirm_sends(app: Flask, svc: Services) -> None:
    def basic(role: str) -> dict[str, str]:
        raw = f"{role}:{role}-password-1".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    client = app.test_client()
    body = {
        "notice_id": 1,
        "villages": ["dc", "xc"],
        "severity": 2,
        "event_type": "防汛",
        "confirm": True,
    }
    resp = client.post("/api/v1/emergencies", json=body, headers=basic("editor"))
    assert resp.status_code == 202
    data = resp.get_json()
    assert data["status"] == "awaiting_confirmation"
    assert data["loudspeakers"] == 3
    url = data["confirm_url"]
    assert client.post(url, headers=basic("editor")).status_code == 403
    sent = client.post(url, headers=basic("reviewer"))
    assert sent.status_code == 201
    assert sent.get_json()["targeted"] == 3
    again = client.post(url, headers=basic("admin"))
    assert again.status_code == 400  # already sent
