"""The review flow in the panel: play now → 待审核 → the reviewer approves → it plays."""

from __future__ import annotations

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
    services.add_user("editor", "editor-password-1", "editor")
    services.add_user("reviewer", "reviewer-password-1", "reviewer")
    services.add_village("东村", "dc")
    services.add_speaker("dc-01", "dc")
    with audit.acting_as("editor"):
        services.add_notice("停水通知", "明天上午停水。")
    return services


@pytest.fixture
def app(svc: Services) -> Flask:
    return create_app(svc, testing=True)


def login(app: Flask, role: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    return client, log_in(client, role, f"{role}-password-1", then="/notices")


def test_play_now_waits_for_review_then_plays(app: Flask, svc: Services) -> None:
    editor, token = login(app, "editor")
    assert "草稿" in editor.get("/notices").text
    resp = editor.post(
        "/notices/1/play",
        data={
            "villages": ["1"],
            "when": "now",
            "priority": "50",
            "repeat": "1",
            "volume": "80",
            "csrf_token": token,
        },
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/schedules"
    page = editor.get("/schedules").text
    assert "已提交审核，审核通过后才会播放" in page
    assert "待审核" in page
    assert svc.list_broadcasts() == []

    reviewer, rtoken = login(app, "reviewer")
    queue = reviewer.get("/review").text
    assert queue.count("审核通过</button>") == 2  # the notice and its schedule
    assert 'src="/media/' in queue
    # The schedule cannot go before its notice.
    first = reviewer.post("/review/schedule/1/approve", data={"csrf_token": rtoken})
    assert first.status_code == 400
    assert "请先审核通过通知" in first.text
    # Rejecting needs a reason: the page comes back saying so.
    empty = reviewer.post("/review/notice/1/reject", data={"reason": " ", "csrf_token": rtoken})
    assert empty.status_code == 400 and "请填写退回的理由" in empty.text
    for kind in ("notice", "schedule"):
        ok = reviewer.post(f"/review/{kind}/1/approve", data={"csrf_token": rtoken})
        assert ok.status_code == 302
    (played,) = svc.list_broadcasts()
    assert played.targeted == 1
    assert "没有待审核的通知或播放计划" in reviewer.get("/review").text


def test_rejected_notice_shows_the_reason_and_can_be_resubmitted(app: Flask, svc: Services) -> None:
    editor, token = login(app, "editor")
    assert editor.post("/review/notice/1/submit", data={"csrf_token": token}).status_code == 302
    reviewer, rtoken = login(app, "reviewer")
    reviewer.post("/review/notice/1/reject", data={"reason": "日期写错了", "csrf_token": rtoken})
    page = editor.get("/notices/1").text
    assert "已退回" in page and "日期写错了" in page and "提交审核" in page
    editor.post("/review/notice/1/submit", data={"csrf_token": token})
    assert svc.get_notice(1).status == "pending"
