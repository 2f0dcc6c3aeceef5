"""A township cadre on a phone: plans a weekly notice, sets a village's quiet hours, sends an
emergency after checking its targets, and stops it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from broadcast.planning import ScheduleRequest
from broadcast.services import Services

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/cunxiang-shots")
BODY = "各位村民请注意：今晚有强降雨，沿河住户请做好转移准备。"


def shot(page: Page, name: str) -> None:
    """A full-page picture. Taken from the top, so the sticky header is drawn at the top; and
    the next action starts from there too, scrolling to its target afresh (a full-page shot
    resizes the viewport for a moment, and a click could land where its target used to be)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.evaluate("window.scrollTo(0, 0)")


def log_in(page: Page, live_url: str, admin: tuple[str, str], path: str) -> None:
    page.goto(f"{live_url}{path}")
    page.get_by_label("用户名").fill(admin[0])
    page.get_by_label("密码").fill(admin[1])
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_url}{path}")


def test_cadre_plans_a_weekly_notice(
    phone: Page, live_url: str, live_services: Services, admin: tuple[str, str]
) -> None:
    page = phone
    notice = live_services.add_notice("政策宣讲", BODY, created_by="admin")
    log_in(page, live_url, admin, f"/notices/{notice.id}")

    page.get_by_role("radio", name="每周").check()
    expect(page.get_by_label("周一")).to_be_visible()
    expect(page.get_by_label("播放时间")).to_be_hidden()
    # Saving without days says so at the field, and keeps what was typed.
    page.get_by_label("几点播（时:分）").fill("18:30")
    page.get_by_text("东村", exact=True).click()
    page.get_by_role("button", name="播放", exact=True).click()
    expect(page.locator("#weekdays-error")).to_have_text("请选择每周哪几天播放")
    expect(page.get_by_label("几点播（时:分）")).to_have_value("18:30")
    expect(page.get_by_role("radio", name="每周")).to_be_checked()

    page.get_by_text("一", exact=True).click()
    page.get_by_text("四", exact=True).click()
    expect(page.get_by_label("周一")).to_be_checked()
    expect(page.get_by_label("周四")).to_be_checked()
    page.get_by_text("更多选项：日期范围、节假日、有效时长").click()
    page.get_by_label("跳过日期（节假日）").fill("2026-10-01 至 10-07")
    page.get_by_label("有效时长（分钟）").fill("30")
    shot(page, "10-schedule-weekly-form")
    page.get_by_role("button", name="播放", exact=True).click()

    expect(page).to_have_url(f"{live_url}/schedules")
    card = page.locator(".cards > li").first
    expect(card.locator(".when")).to_have_text("每周一、四 18:30")
    expect(card).to_contain_text("跳过 2026-10-01 至 10-07")
    expect(card).to_contain_text("有效 30 分钟")
    expect(card).to_contain_text("下次播放")
    week = page.locator("section.card", has=page.get_by_role("heading", name=re.compile("东村")))
    expect(week.locator("time", has_text="18:30").first).to_be_visible()
    shot(page, "11-schedules-week")

    # Edit: the same form, prefilled; move it to Tuesday.
    card.get_by_role("link", name="修改").click()
    expect(page.get_by_label("周一")).to_be_checked()
    page.get_by_text("一", exact=True).click()
    page.get_by_text("四", exact=True).click()
    page.get_by_text("二", exact=True).click()
    page.get_by_role("button", name="保存修改").click()
    expect(page).to_have_url(f"{live_url}/schedules")
    expect(page.locator(".cards > li").first.locator(".when")).to_have_text("每周二 18:30")

    # Delete asks first.
    page.locator(".cards > li").first.get_by_text("删除", exact=True).click()
    shot(page, "12-schedule-delete-confirm")
    page.get_by_role("button", name="确认删除").click()
    expect(page.get_by_text("已删除")).to_be_visible()
    assert live_services.list_schedules() == []


def test_cadre_sets_quiet_hours(
    phone: Page, live_url: str, live_services: Services, admin: tuple[str, str]
) -> None:
    page = phone
    log_in(page, live_url, admin, "/villages")
    expect(
        page.get_by_role("navigation", name="主菜单").get_by_role("link", name="村庄")
    ).to_have_attribute("aria-current", "page")
    expect(page.locator("#village-1")).to_contain_text("22:00-06:00")
    shot(page, "13-villages")
    page.get_by_role("link", name="修改东村的静音时段").click()
    page.get_by_label("本村自定").check()
    page.get_by_label("从").fill("21:30")
    page.get_by_label("到", exact=True).fill("06:30")
    shot(page, "14-quiet-hours-form")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("东村的静音时段：21:30-06:30")).to_be_visible()
    expect(page.locator("#village-1")).to_contain_text("本村设置")
    assert live_services.list_villages()[0].quiet_hours == "21:30-06:30"


def test_cadre_sends_an_emergency_and_stops_it(
    phone: Page, live_url: str, live_services: Services, admin: tuple[str, str]
) -> None:
    page = phone
    notice = live_services.add_notice("防汛紧急通知", BODY, created_by="admin")
    log_in(page, live_url, admin, "/notices")
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="应急").click()
    expect(page).to_have_url(f"{live_url}/emergency")
    expect(page.get_by_role("heading", name="应急广播")).to_be_visible()
    shot(page, "20-emergency-console")

    page.get_by_role("button", name="下一步：核对目标").click()
    expect(page.locator("#villages-error")).to_have_text("请至少选择一个村或区域")

    page.get_by_role("button", name="全选").click()
    page.get_by_label("2. 播放哪条通知").select_option(str(notice.id))
    page.get_by_label("II 级（重大）").check()
    page.get_by_label("4. 事件类型").select_option("防汛")
    expect(page.get_by_label("其他事件类型")).to_be_hidden()
    expect(page.get_by_label("重复次数")).to_have_value("2")
    shot(page, "21-emergency-filled")
    page.get_by_role("button", name="下一步：核对目标").click()

    expect(page.get_by_role("heading", name="确认发送应急广播")).to_be_visible()
    expect(page.get_by_text("真实应急广播 · 不是演练")).to_be_visible()
    expect(page.locator("#total")).to_have_text("共 3 个喇叭，其中 0 个在线")
    expect(page.locator(".targets")).to_contain_text("东村")
    expect(page.locator(".targets")).to_contain_text("2 个喇叭")
    assert live_services.list_broadcasts() == []
    shot(page, "22-emergency-confirm")
    page.get_by_role("button", name="确认发送（3 个喇叭）").click()

    expect(page).to_have_url(re.compile(r"/log\?broadcast_id=\d+$"))
    expect(page.get_by_text("应急广播已发出：3 个喇叭")).to_be_visible()
    expect(page.locator(".sos-line")).to_have_text("应急广播 · II 级（重大） · 防汛")
    (broadcast,) = live_services.list_broadcasts()
    live_services.mark_sent([c.id for c in live_services.due_commands()])
    shot(page, "23-emergency-sent")
    page.get_by_role("button", name="立即停止").click()

    expect(
        page.get_by_text(f"广播 #{broadcast.id} 已停止，已向 3 个喇叭发出停止指令")
    ).to_be_visible()
    expect(page.locator(f"#broadcast-{broadcast.id} .badge", has_text="已取消")).to_be_visible()
    expect(page.get_by_role("button", name="立即停止")).to_have_count(0)
    stops = [c for c in live_services.due_commands() if c.type == "stop"]
    assert len(stops) == 3
    shot(page, "24-emergency-stopped")


def test_a_drill_is_unmistakable(
    phone: Page, live_url: str, live_services: Services, admin: tuple[str, str]
) -> None:
    page = phone
    notice = live_services.add_notice("地质灾害演练", BODY, created_by="admin")
    log_in(page, live_url, admin, "/emergency")
    page.get_by_text("西村", exact=True).click()
    page.get_by_label("2. 播放哪条通知").select_option(str(notice.id))
    page.get_by_label("IV 级（一般）").check()
    page.get_by_label("4. 事件类型").select_option("other")
    page.get_by_label("其他事件类型").fill("山体滑坡")
    page.get_by_text("这是演练").click()
    page.get_by_role("button", name="下一步：核对目标").click()
    expect(page.get_by_text("演练 · 不是真实事件")).to_be_visible()
    expect(page.locator("#total")).to_have_text("共 1 个喇叭，其中 0 个在线")
    shot(page, "25-drill-confirm")
    page.get_by_role("button", name="确认发送演练（1 个喇叭）").click()
    expect(page.get_by_text("演练已发出：1 个喇叭")).to_be_visible()
    expect(page.locator(".badge.drill")).to_have_text("演练")
    shot(page, "26-drill-log")
    assert live_services.list_broadcasts()[0].drill


def test_cadre_stops_a_routine_broadcast(
    phone: Page, live_url: str, live_services: Services, admin: tuple[str, str]
) -> None:
    page = phone
    notice = live_services.add_notice("停电通知", BODY, created_by="admin")
    live_services.set_quiet_hours("dc", "-")  # a routine broadcast now, at any hour
    now = live_services.now()
    req = ScheduleRequest(notice.id, ["dc"], "once", at=now)
    live_services.add_schedule(req, "admin")
    (broadcast,) = live_services.list_broadcasts()
    log_in(page, live_url, admin, "/log")
    card = page.locator(f"#broadcast-{broadcast.id}")
    expect(card.get_by_role("button", name="确认停止")).to_be_hidden()
    card.get_by_text("停止", exact=True).click()
    expect(card.get_by_text("确定停止广播")).to_be_visible()
    shot(page, "27-log-stop-confirm")
    card.get_by_role("button", name="确认停止").click()
    expect(page).to_have_url(f"{live_url}/log?broadcast_id={broadcast.id}")
    expect(page.locator(f"#broadcast-{broadcast.id} .badge", has_text="已取消")).to_be_visible()
    expect(page.get_by_text("停止", exact=True)).to_have_count(0)
