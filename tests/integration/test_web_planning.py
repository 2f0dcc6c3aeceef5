"""Planning in the panel: repeating schedules, editing and deleting them, villages' quiet
hours, the emergency console and stopping broadcasts. Flask's test client over real SQLite
and real espeak-ng."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from broadcast.planning import EmergencyRequest, ScheduleRequest
from broadcast.services import Services
from broadcast.settings import Settings
from cunxiang.runtime import build_services
from tests.helpers import Clock, csrf, log_in
from web import emergency

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-1"
# Saturday 1 March 2025, 10:00 in Asia/Shanghai.
START = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
BODY = "各位村民请注意，明天上午九点在村委会开会。"


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def services(settings: Settings, clock: Clock) -> Iterator[Services]:
    svc = build_services(settings, clock=clock)
    svc.add_user("admin", PASSWORD)
    svc.add_village("东村", "dc")
    svc.add_village("西村", "xc")
    svc.add_speaker("dc-01", "dc", "村口")
    svc.add_speaker("dc-02", "dc", "祠堂")
    svc.add_speaker("xc-01", "xc", "小学")
    yield svc
    svc.close()


@pytest.fixture
def token(client: FlaskClient) -> str:
    """Log in as admin; the CSRF token of the session."""
    return log_in(client, "admin", PASSWORD)


@pytest.fixture
def notice_id(services: Services) -> int:
    return services.add_notice("开会通知", BODY, created_by="admin").id


def field_error(html: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    assert found, f"no error at {field}"
    return found.group(1)


def play(client: FlaskClient, notice_id: int, token: str, **fields: object) -> TestResponse:
    data: dict[str, object] = {
        "villages": ["1"],
        "priority": "50",
        "repeat": "1",
        "volume": "80",
        "csrf_token": token,
    }
    data.update(fields)
    return client.post(f"/notices/{notice_id}/play", data=data)


def routine(services: Services, notice_id: int, **fields: object) -> int:
    values: dict[str, object] = {"kind": "daily", "time_of_day": "07:30"}
    values.update(fields)
    req = ScheduleRequest(notice_id=notice_id, villages=["dc"], **values)  # type: ignore[arg-type]
    return services.add_schedule(req, "admin").id


# -- access ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/villages", "/villages/1/quiet-hours", "/emergency", "/schedules/1/edit"]
)
def test_new_pages_require_login(client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(
    "path",
    ["/schedules/1/delete", "/villages/1/quiet-hours", "/emergency/confirm", "/emergency/send"],
)
def test_new_actions_require_login(client: FlaskClient, path: str) -> None:
    anonymous = csrf(client.get("/login").text)
    resp = client.post(path, data={"csrf_token": anonymous})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/login"


def test_nav_has_villages_and_the_emergency_tab(client: FlaskClient, token: str) -> None:
    page = client.get("/villages").text
    assert '<a href="/villages" aria-current="page">村庄</a>' in page
    assert '<a href="/emergency" class="sos-tab">应急</a>' in page


# -- schedules ------------------------------------------------------------------------


def test_weekly_schedule_with_dates_holidays_and_window(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    resp = play(
        client,
        notice_id,
        token,
        when="weekly",
        weekdays=["1", "4"],
        time_of_day="18:30",
        end_date="2025-06-30",
        skip_dates="2025-05-01 至 05-05",
        window_minutes="30",
    )
    assert resp.status_code == 302, resp.text
    assert resp.headers["Location"] == "/schedules"
    (schedule,) = services.list_schedules()
    assert (schedule.kind, schedule.weekdays, schedule.time_of_day) == ("weekly", [1, 4], "18:30")
    assert schedule.window_seconds == 1800
    assert len(schedule.skip_dates) == 5
    # Monday 3 March, 18:30 in Shanghai.
    assert schedule.next_at == datetime(2025, 3, 3, 10, 30, tzinfo=UTC)
    page = client.get("/schedules").text
    assert "已保存播放计划" in page
    assert '<p class="when">每周一、四 18:30</p>' in page
    assert "日期：至 2025-06-30 · 跳过 2025-05-01 至 05-05" in page
    assert "下次播放：<strong>后天 03-03 周一 18:30</strong>" in page
    assert "有效 30 分钟" in page and "（默认）" not in page.split("未来 7 天（按村）")[0]
    week = page.split('<h2 id="week">')[1]
    dongcun = week.split("<h3>西村")[0]
    assert "03-03 周一" in dongcun and "03-06 周四" in dongcun
    assert dongcun.count("<time>18:30</time>") == 2
    assert dongcun.count("⚠ 2/2 个喇叭离线") == 1  # said once for the village, not per play
    assert "未来 7 天没有安排" in week.split("<h3>西村")[1]


def test_the_week_shows_overlaps_queued_by_priority(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    other = services.add_notice("防火通知", BODY, created_by="admin").id
    routine(services, notice_id, time_of_day="18:00", priority=50)
    routine(services, other, time_of_day="18:00", priority=80)
    week = client.get("/schedules").text.split('<h2 id="week">')[1].split("<h3>西村")[0]
    today = week.split('<span class="date">')[1]
    # The higher priority keeps 18:00; the other starts when it ends, and says why.
    assert re.search(r"<time>18:00</time> <span>防火通知</span>", today)
    queued = re.search(
        r"<time>18:00:(\d\d)</time> <span>开会通知</span>\s*<span[^>]*>⚠ ([^<]+)", today
    )
    assert queued, today
    assert int(queued.group(1)) > 0
    assert "推迟" in queued.group(2)
    assert week.count("防火通知") == week.count("开会通知") == 7


def test_every_n_days_and_default_window(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    resp = play(
        client, notice_id, token, when="every_n_days", interval_days="3", time_of_day="12:00"
    )
    assert resp.status_code == 302, resp.text
    page = client.get("/schedules").text
    assert '<p class="when">每隔 3 天 12:00</p>' in page
    assert "有效 15 分钟（默认）" in page
    # Today 12:00, then every third day: 1, 4 and 7 March within the week.
    week = page.split('<h2 id="week">')[1].split("<h3>西村")[0]
    assert week.count("<time>12:00</time>") == 3
    assert "今天 03-01 周六" in week


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"when": "weekly", "time_of_day": "18:30"}, "weekdays", "请选择每周哪几天"),
        ({"when": "weekly", "weekdays": ["2"]}, "time_of_day", "请填写几点播放"),
        ({"when": "daily", "time_of_day": "23:00"}, "time_of_day", "东村的静音时段为 22:00-06:00"),
        (
            {"when": "every_n_days", "time_of_day": "12:00", "interval_days": "0"},
            "interval_days",
            "间隔天数",
        ),
        (
            {"when": "daily", "time_of_day": "07:00", "skip_dates": "国庆节"},
            "skip_dates",
            "跳过日期格式",
        ),
        (
            {"when": "daily", "time_of_day": "07:00", "end_date": "2025-02-01"},
            "end_date",
            "结束日期不能早于开始日期",
        ),
        ({"when": "now", "window_minutes": "0"}, "window_minutes", "有效时长"),
        ({"when": "now", "priority": "95"}, "priority", "例行广播优先级"),
    ],
)
def test_bad_schedule_input_is_shown_at_its_field_and_kept(
    client: FlaskClient,
    services: Services,
    token: str,
    notice_id: int,
    fields: dict[str, object],
    field: str,
    message: str,
) -> None:
    resp = play(client, notice_id, token, **fields)
    assert resp.status_code == 400
    assert message in field_error(resp.text, field)
    html = resp.text
    assert 'value="1" checked' in html  # the village stays checked
    when = fields["when"]
    assert f'name="when" value="{when}" checked' in html
    for name in ("time_of_day", "interval_days", "end_date", "window_minutes"):
        if name in fields:
            assert f'name="{name}"' in html and f'value="{fields[name]}"' in html
    if "skip_dates" in fields:
        assert f">{fields['skip_dates']}</textarea>" in html
        assert '<details class="more" open>' in html
    if fields.get("weekdays") == ["2"]:
        assert 'value="2" aria-label="周二" checked' in html
        assert 'value="3" aria-label="周三" checked' not in html
    assert services.list_schedules() == []


def test_edit_a_schedule(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    sid = routine(
        services, notice_id, kind="weekly", weekdays=[2, 5], time_of_day="18:00", window_minutes=20
    )
    page = client.get(f"/schedules/{sid}/edit")
    assert page.status_code == 200
    html = page.text
    assert "修改播放计划 #" in html and "开会通知" in html
    assert 'name="when" value="now"' not in html  # no 立即播放 when editing
    assert 'name="when" value="weekly" checked' in html
    assert 'value="2" aria-label="周二" checked' in html
    assert 'value="5" aria-label="周五" checked' in html
    assert 'value="18:00"' in html and 'value="20"' in html
    assert 'name="villages" value="1" checked' in html

    bad = client.post(
        f"/schedules/{sid}/edit",
        data={"when": "daily", "time_of_day": "", "villages": ["1"], "csrf_token": token},
    )
    assert bad.status_code == 400
    assert "请填写几点播放" in field_error(bad.text, "time_of_day")

    resp = client.post(
        f"/schedules/{sid}/edit",
        data={
            "when": "daily",
            "time_of_day": "07:00",
            "villages": ["1", "2"],
            "priority": "70",
            "repeat": "2",
            "volume": "60",
            "csrf_token": token,
        },
    )
    assert resp.status_code == 302, resp.text
    view = services.get_schedule(sid)
    assert (view.kind, view.time_of_day, view.priority, view.repeat) == ("daily", "07:00", 70, 2)
    assert sorted(view.village_names) == ["东村", "西村"]
    assert view.window_seconds is None
    listing = client.get("/schedules").text
    assert f"播放计划 #{sid} 已修改" in listing
    assert '<p class="when">每天 07:00</p>' in listing
    assert "优先级 重要" in listing


def test_edit_keeps_a_priority_that_is_not_in_the_list(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    sid = routine(services, notice_id, priority=60, repeat=5)
    html = client.get(f"/schedules/{sid}/edit").text
    assert '<option value="60" selected>60（当前）</option>' in html
    assert '<option value="5" selected>5 次（当前）</option>' in html


def test_edit_refuses_unknown_and_emergency_schedules(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    assert client.get("/schedules/999/edit").status_code == 404
    services.send_emergency(EmergencyRequest(notice_id, ["dc"], 2, "防汛"), "admin")
    (sid,) = [s.id for s in services.list_schedules()]
    resp = client.get(f"/schedules/{sid}/edit")
    assert resp.status_code == 400
    assert "应急广播不能修改" in resp.text


def test_delete_a_schedule(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    sid = routine(services, notice_id)
    page = client.get("/schedules").text
    assert f'action="/schedules/{sid}/delete"' in page and "确认删除" in page
    resp = client.post(f"/schedules/{sid}/delete", data={"csrf_token": token})
    assert resp.status_code == 302
    assert services.list_schedules() == []
    assert f"播放计划 #{sid} 已删除" in client.get("/schedules").text
    assert client.post(f"/schedules/{sid}/delete", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/schedules/{sid}/delete").status_code == 400  # no CSRF token


# -- villages and quiet hours --------------------------------------------------------


def test_villages_list_counts_and_quiet_hours(
    client: FlaskClient, services: Services, token: str
) -> None:
    services.set_quiet_hours("xc", "21:00-07:00")
    page = client.get("/villages").text
    assert "2 个村 · 3 个喇叭" in page
    dongcun, xicun = page.split('id="village-1"')[1].split('id="village-2"')
    assert "2 个喇叭" in dongcun and "22:00-06:00" in dongcun and "（默认）" in dongcun
    assert "1 个喇叭" in xicun and "21:00-07:00" in xicun and "（本村设置）" in xicun


def test_edit_quiet_hours(client: FlaskClient, services: Services, token: str) -> None:
    form = client.get("/villages/1/quiet-hours").text
    assert 'name="mode" value="default" checked' in form
    assert 'value="22:00"' in form and 'value="06:00"' in form

    def save(**fields: str) -> TestResponse:
        return client.post("/villages/1/quiet-hours", data={"csrf_token": token, **fields})

    resp = save(mode="custom", start="21:30", end="06:30")
    assert resp.status_code == 302
    assert services.list_villages()[0].quiet_hours == "21:30-06:30"
    assert "东村的静音时段：21:30-06:30" in client.get("/villages").text
    assert 'name="mode" value="custom" checked' in client.get("/villages/1/quiet-hours").text

    assert save(mode="none").status_code == 302
    assert services.list_villages()[0].quiet_hours == "-"
    assert "东村的静音时段：不设" in client.get("/villages").text
    assert save(mode="default").status_code == 302
    assert services.list_villages()[0].quiet_hours is None

    for fields, message in (
        ({"mode": "custom", "start": "21:00", "end": ""}, "请填写静音时段的开始和结束时间"),
        ({"mode": "custom", "start": "21:00", "end": "21:00"}, "开始和结束时间相同"),
        ({"mode": "custom", "start": "9 点", "end": "06:00"}, "时间格式"),
    ):
        bad = save(**fields)
        assert bad.status_code == 400
        assert message in field_error(bad.text, "quiet_hours")
        assert f'value="{fields["start"]}"' in bad.text
    assert services.list_villages()[0].quiet_hours is None
    assert client.get("/villages/99/quiet-hours").status_code == 404


def test_quiet_hours_of_a_village_apply_to_new_schedules(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    client.post(
        "/villages/1/quiet-hours",
        data={"mode": "custom", "start": "12:00", "end": "14:00", "csrf_token": token},
    )
    resp = play(client, notice_id, token, when="daily", time_of_day="12:30")
    assert resp.status_code == 400
    assert "东村的静音时段为 12:00-14:00" in field_error(resp.text, "time_of_day")
    client.post("/villages/1/quiet-hours", data={"mode": "none", "csrf_token": token})
    assert play(client, notice_id, token, when="daily", time_of_day="23:30").status_code == 302


# -- the emergency console ------------------------------------------------------------


def emergency_form(notice: int, token: str, **fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "villages": ["1", "2"],
        "notice_id": str(notice),
        "severity": "2",
        "event_type": "防汛",
        "repeat": "2",
        "csrf_token": token,
    }
    data.update(fields)
    return data


def confirmation(html: str) -> str:
    found = re.search(r'name="confirmation" value="([^"]+)"', html)
    assert found, "no confirmation on the page"
    return found.group(1)


def test_console_shows_villages_levels_and_types(
    client: FlaskClient, token: str, notice_id: int
) -> None:
    page = client.get("/emergency").text
    assert "2 个喇叭，0 个在线" in page and "1 个喇叭，0 个在线" in page
    for name in ("I 级（特别重大）", "II 级（重大）", "III 级（较大）", "IV 级（一般）"):
        assert name in page
    for kind in ("防汛", "地质灾害", "森林火灾", "台风", "其他（自己填写）"):
        assert kind in page
    assert "这是演练" in page
    assert '<option value="2" selected>2 遍</option>' in page
    assert "开会通知" in page


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"villages": []}, "villages", "请至少选择一个村"),
        ({"notice_id": ""}, "notice_id", "请选择要播放的通知"),
        ({"notice_id": "999"}, "notice_id", "找不到通知"),
        ({"severity": ""}, "severity", "请选择事件级别"),
        ({"event_type": "other", "event_type_other": " "}, "event_type", "事件类型"),
    ],
)
def test_console_errors_are_shown_at_their_fields(
    client: FlaskClient,
    services: Services,
    token: str,
    notice_id: int,
    fields: dict[str, object],
    field: str,
    message: str,
) -> None:
    resp = client.post("/emergency/confirm", data=emergency_form(notice_id, token, **fields))
    assert resp.status_code == 400
    assert message in field_error(resp.text, field)
    assert services.list_broadcasts() == []


def test_confirm_names_targets_and_loudspeakers_then_sends_once(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    resp = client.post("/emergency/confirm", data=emergency_form(notice_id, token))
    assert resp.status_code == 200
    html = resp.text
    assert "真实应急广播 · 不是演练" in html
    assert "<strong>东村</strong><span>2 个喇叭（0 个在线）</span>" in html
    assert "<strong>西村</strong><span>1 个喇叭（0 个在线）</span>" in html
    assert "共 <strong>3</strong> 个喇叭" in html
    assert "II 级（重大）" in html and "防汛" in html
    assert "确认发送（3 个喇叭）" in html
    assert services.list_broadcasts() == []  # nothing goes out before the confirmation

    token_value = confirmation(html)
    sent = client.post(
        "/emergency/send",
        data={"confirmation": token_value, "action": "send", "csrf_token": token},
    )
    assert sent.status_code == 302
    (broadcast,) = services.list_broadcasts()
    assert sent.headers["Location"] == f"/log?broadcast_id={broadcast.id}"
    assert (broadcast.targeted, broadcast.severity, broadcast.event_type) == (3, 2, "防汛")
    assert broadcast.priority >= 90 and not broadcast.drill
    log = client.get(sent.headers["Location"]).text
    assert "应急广播已发出：3 个喇叭" in log
    assert "应急广播 · II 级（重大） · 防汛" in log
    assert "■ 立即停止" in log
    assert "演练" not in log

    again = client.post(
        "/emergency/send",
        data={"confirmation": token_value, "action": "send", "csrf_token": token},
    )
    assert again.status_code == 302
    assert again.headers["Location"] == f"/log?broadcast_id={broadcast.id}"
    assert len(services.list_broadcasts()) == 1
    assert "没有重复发送" in client.get(again.headers["Location"]).text


def test_a_drill_is_marked_everywhere(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    fields = emergency_form(notice_id, token, villages=["2"], drill="1", severity="4")
    fields.update(event_type="other", event_type_other="危化品泄漏")
    html = client.post("/emergency/confirm", data=fields).text
    assert "演练 · 不是真实事件" in html
    assert "确认发送演练（1 个喇叭）" in html
    assert "危化品泄漏" in html
    sent = client.post(
        "/emergency/send",
        data={"confirmation": confirmation(html), "action": "send", "csrf_token": token},
    )
    log = client.get(sent.headers["Location"]).text
    assert "演练已发出：1 个喇叭" in log
    assert '<span class="badge drill">演练</span>' in log
    assert "IV 级（一般） · 危化品泄漏" in log
    (broadcast,) = services.list_broadcasts()
    assert broadcast.drill
    (command,) = services.due_commands()
    assert command.params["drill"] is True
    schedules = client.get("/schedules").text
    assert '<span class="badge drill">演练</span>' in schedules
    assert '<span class="badge bad">应急</span>' in schedules


def test_go_back_from_the_confirmation_keeps_the_choices(
    client: FlaskClient, token: str, notice_id: int
) -> None:
    html = client.post(
        "/emergency/confirm", data=emergency_form(notice_id, token, villages=["2"], drill="1")
    ).text
    back = client.post(
        "/emergency/send",
        data={"confirmation": confirmation(html), "action": "edit", "csrf_token": token},
    )
    assert back.status_code == 200
    page = back.text
    assert 'name="villages" value="2" checked' in page
    assert 'name="villages" value="1" checked' not in page
    assert 'name="severity" value="2" checked' in page
    assert '<option value="防汛" selected>' in page
    assert 'name="drill" value="1" checked' in page


def test_a_forged_or_stale_confirmation_sends_nothing(
    client: FlaskClient,
    services: Services,
    token: str,
    notice_id: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forged = client.post(
        "/emergency/send", data={"confirmation": "x.y.z", "action": "send", "csrf_token": token}
    )
    assert forged.status_code == 400
    assert "确认信息无效" in forged.text
    html = client.post("/emergency/confirm", data=emergency_form(notice_id, token)).text
    monkeypatch.setattr(emergency, "CONFIRM_SECONDS", -1)
    stale = client.post(
        "/emergency/send",
        data={"confirmation": confirmation(html), "action": "send", "csrf_token": token},
    )
    assert stale.status_code == 400
    assert "请重新核对后再发送" in stale.text
    assert 'name="villages" value="2" checked' in stale.text
    assert services.list_broadcasts() == []


# -- the log: stop, missed, cancelled ------------------------------------------------


def test_stop_a_routine_broadcast_from_the_log(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    play(client, notice_id, token, when="now")
    (broadcast,) = services.list_broadcasts()
    services.mark_sent([c.id for c in services.due_commands()])
    log = client.get("/log/rows").text
    assert '<summary class="button secondary">停止</summary>' in log
    assert f'action="/broadcasts/{broadcast.id}/cancel"' in log
    assert "立即停止" not in log  # that one-tap button is for emergencies
    resp = client.post(f"/broadcasts/{broadcast.id}/cancel", data={"csrf_token": token})
    assert resp.status_code == 302
    assert resp.headers["Location"] == f"/log?broadcast_id={broadcast.id}"
    page = client.get(resp.headers["Location"]).text
    assert f"广播 #{broadcast.id} 已停止，已向 2 个喇叭发出停止指令" in page
    assert '<span class="badge warn" title="国标状态码 5">已取消</span>' in page
    assert "已于 03-01 10:00:00 停止" in page
    assert "已撤回" in page
    assert f'action="/broadcasts/{broadcast.id}/cancel"' not in page
    assert client.post("/broadcasts/999/cancel", data={"csrf_token": token}).status_code == 404


def test_a_missed_broadcast_shows_as_missed(
    client: FlaskClient, services: Services, token: str, notice_id: int, clock: Clock
) -> None:
    sid = routine(services, notice_id)  # daily 07:30, first on Sunday 2 March
    planned = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)
    clock.now = planned + timedelta(hours=5)  # the server was down all morning
    services.fire(sid, planned)
    (broadcast,) = services.list_broadcasts()
    assert broadcast.missed
    log = client.get("/log/rows").text
    assert '<span class="badge bad">错过（停机）</span>' in log
    assert '<span class="badge bad" title="国标状态码 4">失败</span>' in log
    assert "服务器停机" in log
    assert "所选的村没有喇叭" not in log
    assert "停止</summary>" not in log


# -- zones and other targets ----------------------------------------------------------


def test_an_emergency_to_a_zone(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    zone = services.save_zone("沿河村庄", ["dc", "xc"])
    page = client.get("/emergency").text
    assert f'name="zones" value="{zone.id}"' in page and "东村、西村 · 3 个喇叭" in page
    fields = emergency_form(notice_id, token, villages=[], zones=[str(zone.id)])
    html = client.post("/emergency/confirm", data=fields).text
    assert "含区域：沿河村庄" in html
    assert "共 <strong>3</strong> 个喇叭" in html
    client.post(
        "/emergency/send",
        data={"confirmation": confirmation(html), "action": "send", "csrf_token": token},
    )
    (broadcast,) = services.list_broadcasts()
    assert broadcast.targeted == 3


def test_editing_keeps_zones_and_single_loudspeakers(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    zone = services.save_zone("沿河村庄", ["xc"])
    req = ScheduleRequest(
        notice_id, [], "daily", time_of_day="07:30", zones=["沿河村庄"], speakers=["dc-02"]
    )
    sid = services.add_schedule(req, "admin").id
    listing = client.get("/schedules").text
    assert "区域 沿河村庄 · 喇叭 dc-02" in listing
    form = client.get(f"/schedules/{sid}/edit").text
    assert f'name="zones" value="{zone.id}" checked' in form
    assert '<input type="hidden" name="speakers" value="dc-02">' in form
    resp = client.post(
        f"/schedules/{sid}/edit",
        data={
            "when": "daily",
            "time_of_day": "08:00",
            "zones": [str(zone.id)],
            "speakers": ["dc-02"],
            "csrf_token": token,
        },
    )
    assert resp.status_code == 302, resp.text
    view = services.get_schedule(sid)
    assert (view.zone_names, view.speaker_ids, view.time_of_day) == (
        ["沿河村庄"],
        ["dc-02"],
        "08:00",
    )


def test_editing_a_schedule_keeps_its_villager_groups(
    client: FlaskClient, services: Services, token: str, notice_id: int
) -> None:
    services.add_group("dc", "一组", "110101001001001")
    req = ScheduleRequest(notice_id, [], "daily", time_of_day="07:30", groups=["110101001001001"])
    sid = services.add_schedule(req, "admin").id
    assert "小组 东村一组" in client.get("/schedules").text
    page = client.get(f"/schedules/{sid}/edit").text
    assert '<input type="hidden" name="groups" value="110101001001001">' in page
    assert "另有村民小组（保持不变）：东村一组" in page
    resp = client.post(
        f"/schedules/{sid}/edit",
        data={
            "csrf_token": token,
            "when": "daily",
            "time_of_day": "08:00",
            "groups": "110101001001001",
            "priority": "50",
            "repeat": "1",
            "volume": "80",
        },
    )
    assert resp.status_code == 302
    edited = services.get_schedule(sid)
    assert (edited.time_of_day, edited.group_codes) == ("08:00", ["110101001001001"])
