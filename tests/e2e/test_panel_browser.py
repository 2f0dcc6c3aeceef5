"""A staff member on a phone: log in, write a notice, preview it, play it, watch the log."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from broadcast.services import Services
from broadcast.views import IncomingEvent

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/cunxiang-shots")
TITLE = "停水通知"
BODY = "各位村民请注意：明天上午八点到十二点，东村自来水管道检修，全村停水，请提前储水。"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_staff_writes_previews_and_plays_a_notice(
    phone: Page, live_url: str, live_services: Services, admin: tuple[str, str]
) -> None:
    page = phone
    live_services.set_quiet_hours("dc", "-")  # 立即播放 works at any hour the test runs at
    page.goto(f"{live_url}/notices")
    expect(page).to_have_url(f"{live_url}/login?next=/notices")
    expect(page.get_by_role("heading", name="登录村响广播")).to_be_visible()
    shot(page, "01-login")

    page.get_by_label("用户名").fill(admin[0])
    page.get_by_label("密码").fill(admin[1])
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_url}/notices")
    expect(page.get_by_text("还没有通知")).to_be_visible()

    page.get_by_role("link", name="新建通知").click()
    page.get_by_label("标题").fill(TITLE)
    page.get_by_label("内容").fill(BODY)
    page.get_by_role("button", name="试听").click()
    audio = page.locator("#preview-audio")
    expect(audio).to_have_attribute("src", re.compile(r"^/media/[0-9a-f]{64}\.mp3$"))
    expect(audio).to_be_visible()
    expect(page.locator("#preview-status")).to_contain_text("时长")
    src = audio.get_attribute("src")
    assert src is not None
    media = page.request.get(f"{live_url}{src}")
    assert media.status == 200
    assert media.headers["content-type"] == "audio/mpeg"
    assert len(media.body()) > 1000
    shot(page, "02-notice-create")

    page.get_by_role("button", name="保存，下一步选择播放").click()
    expect(page).to_have_url(re.compile(r"/notices/\d+$"))
    expect(page.get_by_text("通知已保存")).to_be_visible()
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    # Only the time field of the chosen option shows.
    expect(page.get_by_label("播放时间")).to_be_hidden()
    page.get_by_label("指定时间").check()
    expect(page.get_by_label("播放时间")).to_be_visible()
    shot(page, "04c-schedule-at")
    page.get_by_label("立即播放").check()
    page.get_by_role("button", name="播放", exact=True).click()
    expect(page.locator("#villages-error")).to_contain_text("请至少选择一个村")
    expect(page.get_by_role("alert")).to_contain_text("请至少选择一个村")
    shot(page, "04b-schedule-error")
    page.get_by_text("东村", exact=True).click()
    shot(page, "04-schedule-form")

    page.get_by_role("button", name="播放", exact=True).click()
    expect(page).to_have_url(f"{live_url}/log")
    expect(page.get_by_text(f"“{TITLE}”已开始播放")).to_be_visible()
    expect(page.locator("#log")).to_contain_text("dc-02")
    expect(page.locator("#log .badge", has_text="待发送").first).to_be_visible()

    # A loudspeaker reports back; the page picks it up on its own.
    commands = {c.speaker_id: c for c in live_services.due_commands()}
    live_services.mark_sent([c.id for c in commands.values()])
    now = live_services.now()
    for kind, seconds in (("received", 1), ("started", 2), ("finished", 30)):
        live_services.record_event(
            IncomingEvent(commands["dc-01"].id, "dc-01", kind, now + timedelta(seconds=seconds))
        )
    live_services.set_availability("dc-01", True)
    nav = page.get_by_role("navigation", name="主菜单")
    log = page.locator("#log")
    expect(log.locator(".badge", has_text="播放完成")).to_be_visible(timeout=15_000)
    expect(log.locator("li.done time").first).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    expect(log.locator(".badge", has_text="已发送")).to_be_visible()
    shot(page, "06-log")

    nav.get_by_role("link", name="通知", exact=True).click()
    expect(page.get_by_role("link", name=re.compile(TITLE))).to_be_visible()
    shot(page, "03-notices")

    nav.get_by_role("link", name="喇叭", exact=True).click()
    expect(page.get_by_text("在线 1 / 共 3")).to_be_visible()
    shot(page, "05-speakers")

    nav.get_by_role("link", name="计划", exact=True).click()
    expect(page.get_by_role("link", name=TITLE)).to_be_visible()
    shot(page, "07-schedules")
