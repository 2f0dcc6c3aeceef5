"""The panel through Flask's test client, over a real SQLite database and real espeak-ng."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr
from werkzeug.test import TestResponse

from broadcast.services import Services
from broadcast.settings import Settings
from broadcast.views import IncomingEvent
from cunxiang.runtime import build_services
from tests.helpers import Clock, csrf, log_in
from web import create_app

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-1"
# 10:00 in Asia/Shanghai.
START = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
BODY = "各位村民请注意，明天上午九点在村委会开会。"


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def services(settings: Settings, clock: Clock) -> Iterator[Services]:
    svc = build_services(settings, clock=clock)
    svc.add_user("admin", PASSWORD)
    yield svc
    svc.close()


def login(client: FlaskClient) -> str:
    """Log in as admin; return a CSRF token valid for the new session."""
    return log_in(client, "admin", PASSWORD)


def add_notice(client: FlaskClient, token: str, title: str = "开会通知") -> int:
    resp = client.post("/notices/new", data={"title": title, "body": BODY, "csrf_token": token})
    assert resp.status_code == 302, resp.text
    found = re.fullmatch(r"/notices/(\d+)", resp.headers["Location"])
    assert found, resp.headers["Location"]
    return int(found.group(1))


@pytest.fixture
def village(services: Services) -> int:
    vid = services.add_village("东村", "dc").id
    services.add_speaker("dc-01", "dc", "村口")
    services.add_speaker("dc-02", "dc", "祠堂")
    return vid


# -- access ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", "/notices", "/notices/new", "/notices/1", "/schedules", "/speakers", "/log", "/log/rows"],
)
def test_every_page_requires_login(client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=")


def test_healthz_is_public(client: FlaskClient) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok"}


def test_login_page_is_chinese_and_sets_safe_headers(client: FlaskClient) -> None:
    resp = client.get("/login")
    assert resp.status_code == 200
    assert '<html lang="zh-CN">' in resp.text
    assert "登录" in resp.text
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_wrong_password_is_refused_and_username_kept(client: FlaskClient) -> None:
    token = csrf(client.get("/login").text)
    resp = client.post(
        "/login", data={"username": "admin", "password": "wrong-password", "csrf_token": token}
    )
    assert resp.status_code == 401
    assert "用户名或密码错误" in resp.text
    assert 'value="admin"' in resp.text
    assert client.get("/notices").status_code == 302


def test_login_goes_to_next_and_session_cookie_is_strict(client: FlaskClient) -> None:
    token = csrf(client.get("/login?next=/speakers").text)
    resp = client.post(
        "/login?next=/speakers",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token},
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/speakers"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # permanent session with a lifetime
    assert client.get("/speakers").status_code == 200


def test_login_never_redirects_off_site(client: FlaskClient) -> None:
    token = csrf(client.get("/login").text)
    resp = client.post(
        "/login?next=//evil.example/x",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token},
    )
    assert resp.headers["Location"] == "/notices"


def test_logout(client: FlaskClient) -> None:
    token = login(client)
    resp = client.post("/logout", data={"csrf_token": token})
    assert resp.status_code == 302
    assert client.get("/notices").status_code == 302


def test_failed_logins_are_limited_per_username_and_address(client: FlaskClient) -> None:
    token = csrf(client.get("/login").text)
    for _ in range(5):
        resp = client.post(
            "/login", data={"username": "admin", "password": "nope-nope-1", "csrf_token": token}
        )
        assert resp.status_code == 401
    resp = client.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 429
    assert "次数过多" in resp.text
    other = client.post(
        "/login", data={"username": "other", "password": "x" * 12, "csrf_token": token}
    )
    assert other.status_code == 401


def test_forms_without_csrf_token_are_rejected(client: FlaskClient) -> None:
    resp = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert resp.status_code == 400
    assert "安全令牌" in resp.text
    login(client)
    resp = client.post("/notices/new", data={"title": "标题", "body": BODY})
    assert resp.status_code == 400
    assert client.get("/notices").text.count('class="card link"') == 0


# -- notices --------------------------------------------------------------------------


def test_create_notice_via_form(client: FlaskClient, services: Services) -> None:
    token = login(client)
    form = client.get("/notices/new").text
    assert "试听" in form and 'name="body"' in form
    notice_id = add_notice(client, token)
    page = client.get(f"/notices/{notice_id}")
    assert page.status_code == 200
    assert "通知已保存" in page.text
    assert BODY in page.text
    assert "立即播放" in page.text
    listing = client.get("/notices").text
    assert "开会通知" in listing
    assert "2025-03-01 10:00" in listing  # created time in Asia/Shanghai
    notice = services.get_notice(notice_id)
    assert notice.created_by == "admin"
    assert notice.audio_duration_ms > 0


def test_invalid_notice_shows_message_at_field_and_keeps_text(client: FlaskClient) -> None:
    token = login(client)
    resp = client.post("/notices/new", data={"title": "  ", "body": BODY, "csrf_token": token})
    assert resp.status_code == 400
    assert '<p class="error" id="title-error">请填写标题</p>' in resp.text
    assert f">{BODY}</textarea>" in resp.text
    resp = client.post(
        "/notices/new", data={"title": "标" * 201, "body": BODY, "csrf_token": token}
    )
    assert resp.status_code == 400
    assert "标题不能超过 200 字" in resp.text
    assert 'value="' + "标" * 201 + '"' in resp.text


def test_unknown_notice_is_a_404_page(client: FlaskClient) -> None:
    login(client)
    resp = client.get("/notices/999")
    assert resp.status_code == 404
    assert "找不到通知 999" in resp.text


# -- 播放 -------------------------------------------------------------------------------


def play(
    client: FlaskClient, notice_id: int, token: str, **fields: str | list[str]
) -> TestResponse:
    data: dict[str, str | list[str]] = {
        "when": "now",
        "priority": "50",
        "repeat": "1",
        "volume": "80",
        "csrf_token": token,
    }
    data.update(fields)
    return client.post(f"/notices/{notice_id}/play", data=data)


def test_play_now_creates_a_broadcast(
    client: FlaskClient, services: Services, village: int
) -> None:
    token = login(client)
    notice_id = add_notice(client, token)
    page = client.get(f"/notices/{notice_id}").text
    assert "东村" in page and "2 个喇叭，0 个在线" in page
    resp = client.post(
        f"/notices/{notice_id}/play",
        data={"villages": [str(village)], "when": "now", "repeat": "2", "csrf_token": token},
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/log"
    (broadcast,) = services.list_broadcasts()
    assert broadcast.notice_id == notice_id
    assert broadcast.targeted == 2
    (schedule,) = services.list_schedules()
    assert (schedule.kind, schedule.repeat) == ("once", 2)
    log = client.get("/log").text
    assert "已开始播放" in log
    assert "dc-01" in log and "dc-02" in log
    assert "待发送" in log


def test_play_at_a_local_time(client: FlaskClient, services: Services, village: int) -> None:
    token = login(client)
    notice_id = add_notice(client, token)
    resp = client.post(
        f"/notices/{notice_id}/play",
        data={
            "villages": [str(village)],
            "when": "at",
            "at": "2025-03-01T11:30",
            "priority": "80",
            "volume": "65",
            "csrf_token": token,
        },
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/schedules"
    (schedule,) = services.list_schedules()
    assert schedule.start_at == datetime(2025, 3, 1, 3, 30, tzinfo=UTC)
    assert (schedule.priority, schedule.volume) == (80, 65)
    assert services.list_broadcasts() == []
    listing = client.get("/schedules").text
    assert "2025-03-01 11:30" in listing
    assert "东村" in listing


def test_play_daily(client: FlaskClient, services: Services, village: int) -> None:
    token = login(client)
    notice_id = add_notice(client, token)
    resp = play(
        client, notice_id, token, villages=[str(village)], when="daily", time_of_day="07:30"
    )
    assert resp.status_code == 302
    (schedule,) = services.list_schedules()
    assert schedule.kind == "daily"
    assert schedule.next_at == datetime(2025, 3, 1, 23, 30, tzinfo=UTC)  # 07:30 tomorrow
    assert "每天 07:30" in client.get("/schedules").text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"when": "now"}, "villages", "请至少选择一个村"),
        ({"when": "at", "at": "2025-03-01T09:00", "village": True}, "at", "播放时间已过"),
        ({"when": "at", "at": "", "village": True}, "at", "请填写播放时间"),
        ({"when": "daily", "time_of_day": "25:00", "village": True}, "time_of_day", "时间格式"),
        ({"when": "now", "volume": "响亮", "village": True}, "volume", "音量须为整数"),
    ],
)
def test_bad_play_input_is_shown_at_its_field(
    client: FlaskClient,
    services: Services,
    village: int,
    fields: dict[str, object],
    field: str,
    message: str,
) -> None:
    token = login(client)
    notice_id = add_notice(client, token)
    data = {k: str(v) for k, v in fields.items() if k != "village"}
    if fields.get("village"):
        data["villages"] = str(village)
    resp = play(client, notice_id, token, **data)
    assert resp.status_code == 400
    html = resp.text
    found = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    assert found, html
    assert message in found.group(1)
    if "at" in data:
        assert f'value="{data["at"]}"' in html  # what was typed stays
    if fields.get("village"):
        assert f'value="{village}" checked' in html
    assert services.list_schedules() == []


def test_schedules_can_be_disabled_and_enabled(
    client: FlaskClient, services: Services, village: int
) -> None:
    token = login(client)
    notice_id = add_notice(client, token)
    play(client, notice_id, token, villages=[str(village)], when="daily", time_of_day="07:30")
    (schedule,) = services.list_schedules()
    resp = client.post(f"/schedules/{schedule.id}/disable", data={"csrf_token": token})
    assert resp.status_code == 302
    (schedule,) = services.list_schedules()
    assert not schedule.enabled and schedule.next_at is None
    page = client.get("/schedules").text
    assert "停用" in page and "已停用" in page
    client.post(f"/schedules/{schedule.id}/enable", data={"csrf_token": token})
    assert services.list_schedules()[0].enabled
    assert client.post("/schedules/999/enable", data={"csrf_token": token}).status_code == 404


# -- loudspeakers and the log --------------------------------------------------------


def test_speakers_are_grouped_by_village_with_status(
    client: FlaskClient, services: Services, village: int, clock: Clock
) -> None:
    services.add_village("西村", "xc")
    services.set_availability("dc-01", True)
    login(client)
    page = client.get("/speakers").text
    assert "在线 <strong>1</strong> / 共 2" in page
    assert page.index("东村") < page.index("dc-01") < page.index("西村")
    assert "这个村还没有喇叭" in page
    assert '<span class="badge ok">在线</span>' in page
    assert '<span class="badge bad">离线</span>' in page
    assert "最后联系：2025-03-01 10:00" in page


def test_log_shows_each_stage_as_it_arrives(
    client: FlaskClient, services: Services, village: int, clock: Clock
) -> None:
    token = login(client)
    notice_id = add_notice(client, token)
    play(client, notice_id, token, villages=[str(village)])
    commands = {c.speaker_id: c for c in services.due_commands()}
    services.mark_sent(list(c.id for c in commands.values()))
    first = commands["dc-01"].id
    for kind, seconds in (("received", 1), ("started", 2), ("finished", 40)):
        services.record_event(
            IncomingEvent(first, "dc-01", kind, START + timedelta(seconds=seconds))
        )
    services.record_event(
        IncomingEvent(
            commands["dc-02"].id, "dc-02", "rejected", START, details={"reason": "bad_signature"}
        )
    )
    page = client.get("/log").text
    assert 'data-refresh="/log/rows"' in page
    rows = client.get("/log/rows").text
    assert "<html" not in rows
    assert "<time>10:00:01</time>" in rows
    assert "<time>10:00:02</time>" in rows
    assert "<time>10:00:40</time>" in rows
    assert '<span class="badge ok">播放完成</span>' in rows
    assert '<span class="badge bad">已拒绝</span>' in rows
    assert "原因：签名无效" in rows
    broadcast_id = services.list_broadcasts()[0].id
    only = client.get(f"/log?broadcast_id={broadcast_id}").text
    assert f'data-refresh="/log/rows?broadcast_id={broadcast_id}"' in only
    assert "查看全部" in only


def test_log_shows_a_broadcast_to_a_village_without_speakers(
    client: FlaskClient, services: Services
) -> None:
    empty = services.add_village("空村", "kc").id
    token = login(client)
    notice_id = add_notice(client, token)
    play(client, notice_id, token, villages=[str(empty)])
    assert "所选的村没有喇叭" in client.get("/log/rows").text


# -- app setup -------------------------------------------------------------------------


def test_session_key_is_generated_once_and_kept(services: Services) -> None:
    first = create_app(services)
    path = services.settings.keys_dir / "session.secret"
    assert path.stat().st_mode & 0o777 == 0o600
    assert create_app(services).secret_key == first.secret_key == path.read_text().strip()


def test_configured_session_key_wins(settings: Settings, services: Services) -> None:
    configured = settings.model_copy(
        update={"web": settings.web.model_copy(update={"secret_key": SecretStr("s" * 40)})}
    )
    services.settings = configured
    assert create_app(services).secret_key == "s" * 40
