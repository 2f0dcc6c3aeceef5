"""An account scoped to one village sees and targets only that village, in the panel and API."""

from __future__ import annotations

import base64
from datetime import datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from broadcast import audit
from broadcast.planning import ScheduleRequest
from broadcast.services import Services
from tests.conftest import ServicesFactory
from tests.helpers import Clock, csrf
from web import create_app


@pytest.fixture
def svc(make_services: ServicesFactory, fixed_now: datetime) -> Services:
    services = make_services(clock=Clock(fixed_now))
    services.add_user("admin", "admin-password-1", "admin")
    services.add_user("town-ed", "editor-password-1", "editor")
    services.add_village("东村", "dc")
    services.add_village("西村", "xc")
    services.add_speaker("dc-01", "dc")
    services.add_speaker("xc-01", "xc")
    services.set_user_scope("town-ed", [], ["dc"])
    with audit.acting_as("admin"):
        notice = services.add_notice("通知", "今晚开会。")
        services.add_schedule(ScheduleRequest(notice.id, ["xc"], "once", at=fixed_now))
    return services


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    app: Flask = create_app(svc, testing=True)
    c = app.test_client()
    token = csrf(c.get("/login").text)
    c.post(
        "/login",
        data={"username": "town-ed", "password": "editor-password-1", "csrf_token": token},
    )
    return c


def test_lists_show_only_the_scope(client: FlaskClient) -> None:
    villages = client.get("/villages").text
    assert "东村" in villages and "西村" not in villages
    speakers = client.get("/speakers").text
    assert "dc-01" in speakers and "xc-01" not in speakers
    play_form = client.get("/notices/1").text
    assert "东村" in play_form and "西村" not in play_form
    assert "西村" not in client.get("/schedules").text
    export = client.get("/log/export.csv")
    assert export.status_code == 200
    assert "西村" not in export.get_data(as_text=True)
    basic = base64.b64encode(b"town-ed:editor-password-1").decode()
    api = client.get("/api/v1/villages", headers={"Authorization": f"Basic {basic}"})
    assert [v["code"] for v in api.get_json()["villages"]] == ["dc"]


def test_targets_outside_the_scope_are_refused(client: FlaskClient, svc: Services) -> None:
    token = csrf(client.get("/notices/1").text)
    resp = client.post(
        "/notices/1/play", data={"villages": ["2"], "when": "now", "csrf_token": token}
    )
    assert resp.status_code in (400, 403)
    assert "西村" in resp.text
    assert len(svc.list_schedules()) == 1  # only the admin's


def test_log_and_stop_keep_to_the_scope(client: FlaskClient, svc: Services) -> None:
    """The admin's broadcast to 西村 is neither listed to nor stoppable by 东村's editor."""
    (broadcast,) = svc.list_broadcasts()  # no account acting: everything
    basic = base64.b64encode(b"town-ed:editor-password-1").decode()
    auth = {"Authorization": f"Basic {basic}"}
    assert client.get("/api/v1/log", headers=auth).get_json()["log"] == []
    assert client.get("/api/v1/broadcasts", headers=auth).get_json()["broadcasts"] == []
    stop = client.post(f"/api/v1/broadcasts/{broadcast.id}/cancel", headers=auth)
    assert stop.status_code == 403
    assert "西村" in stop.get_json()["message"]
    assert svc.list_broadcasts()[0].cancelled_at is None
    with audit.acting_as("admin"):
        assert [r.speaker_id for r in svc.playback_log()] == ["xc-01"]
        svc.cancel_broadcast(broadcast.id, "admin")  # never sent: withdrawn, no stop needed
    assert svc.list_broadcasts()[0].cancelled_at is not None
