"""On a phone: an editor writes a notice and submits it; a reviewer hears it and approves it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from broadcast.services import Services

pytestmark = [pytest.mark.e2e, pytest.mark.approval]

SHOTS = Path("/tmp/cunxiang-shots")
TITLE = "秋收晾晒通知"
BODY = "各位村民请注意：本周六上午在村委会广场统一晾晒稻谷，请提前清理场地。"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{url}/notices")


def test_editor_submits_reviewer_hears_and_approves(
    phone: Page, live_url: str, live_services: Services
) -> None:
    live_services.add_user("editor", "editor-password-1", "editor")
    live_services.add_user("reviewer", "reviewer-password-1", "reviewer")
    page = phone

    # The editor writes the notice: it is a draft until submitted.
    log_in(page, live_url, "editor", "editor-password-1")
    expect(page.get_by_role("link", name="账号")).to_have_count(0)  # admins only
    page.get_by_role("link", name="新建通知").click()
    page.get_by_label("标题").fill(TITLE)
    page.get_by_label("内容").fill(BODY)
    page.get_by_role("button", name="保存，下一步选择播放").click()
    expect(page).to_have_url(re.compile(r"/notices/\d+$"))
    expect(page.locator(".badge", has_text="草稿")).to_be_visible()
    expect(page.get_by_text("审核通过前不会播出")).to_be_visible()
    page.get_by_role("button", name="提交审核").click()
    expect(page.get_by_text("已提交审核")).to_be_visible()
    expect(page.locator(".badge", has_text="待审核")).to_be_visible()
    shot(page, "review-01-editor-submitted")
    # An editor cannot approve, even by posting to the reviewer's page.
    response = page.request.get(f"{live_url}/review")
    assert response.status == 200
    expect_no_approve = page.goto(f"{live_url}/review")
    assert expect_no_approve is not None
    expect(page.get_by_role("button", name="审核通过")).to_have_count(0)
    page.get_by_role("button", name="退出").click()

    # The reviewer hears the rendered audio in the queue and approves it.
    log_in(page, live_url, "reviewer", "reviewer-password-1")
    page.get_by_role("link", name="审核", exact=True).click()
    expect(page.get_by_role("heading", name="审核", exact=True)).to_be_visible()
    card = page.locator("li.card", has_text=TITLE)
    audio = card.locator("audio")
    expect(audio).to_have_attribute("src", re.compile(r"^/media/[0-9a-f]{64}\.mp3$"))
    src = audio.get_attribute("src")
    assert src is not None
    media = page.request.get(f"{live_url}{src}")
    assert media.status == 200
    assert media.headers["content-type"] == "audio/mpeg"
    assert len(media.body()) > 1000
    # The browser itself can load it: its duration is known.
    duration = audio.evaluate(
        """el => new Promise((resolve) => {
            if (el.readyState >= 1) { resolve(el.duration); return; }
            el.addEventListener('loadedmetadata', () => resolve(el.duration), {once: true});
            el.addEventListener('error', () => resolve(-1), {once: true});
            el.load();
        })"""
    )
    assert duration > 1
    # A rejection needs a reason: the page says so and keeps the queue.
    card.get_by_role("button", name="退回修改").click()
    expect(page.get_by_role("alert")).to_contain_text("请填写退回的理由")
    shot(page, "review-02-reviewer-queue")
    page.locator("li.card", has_text=TITLE).get_by_role("button", name="审核通过").click()
    expect(page.get_by_text(f"已通过通知“{TITLE}”")).to_be_visible()
    expect(page.get_by_text("没有待审核的通知或播放计划")).to_be_visible()
    expect(
        page.locator(".rows", has_text=TITLE).locator(".badge", has_text="已通过")
    ).to_be_visible()
    shot(page, "review-03-approved")

    notice = live_services.list_notices()[0]
    assert (notice.title, notice.status) == (TITLE, "approved")
    trail = live_services.audit_entries(table_name="notices", row_id=str(notice.id))
    assert [e.actor for e in trail][:2] == ["reviewer", "editor"]


def test_second_person_confirms_a_multi_village_emergency(
    phone: Page, live_url: str, live_services: Services, admin: tuple[str, str]
) -> None:
    live_services.add_user("editor", "editor-password-1", "editor")
    live_services.add_user("reviewer", "reviewer-password-1", "reviewer")
    notice = live_services.add_notice("防汛紧急通知", BODY)
    page = phone
    log_in(page, live_url, "editor", "editor-password-1")
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="应急").click()
    page.get_by_role("button", name="全选").click()
    page.get_by_label("2. 播放哪条通知").select_option(str(notice.id))
    page.get_by_label("II 级（重大）").check()
    page.get_by_label("4. 事件类型").select_option("防汛")
    page.get_by_role("button", name="下一步：核对目标").click()
    expect(page.get_by_text("还需要另一位管理员或审核员确认")).to_be_visible()
    page.get_by_role("button", name="确认发送（3 个喇叭）").click()
    expect(page).to_have_url(re.compile(r"/emergency#pending-\d+$"))
    expect(page.get_by_text("需要另一位管理员或审核员")).to_be_visible()
    pending = page.locator("li.card", has_text="防汛紧急通知")
    expect(pending).to_contain_text("2 个村，共 3 个喇叭")
    expect(pending).to_contain_text("等待另一位管理员或审核员确认")
    assert live_services.list_broadcasts() == []
    shot(page, "review-04-emergency-waiting")
    page.get_by_role("button", name="退出").click()

    log_in(page, live_url, "reviewer", "reviewer-password-1")
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="应急").click()
    pending = page.locator("li.card", has_text="防汛紧急通知")
    expect(pending).to_contain_text("东村")
    expect(pending).to_contain_text("西村")
    shot(page, "review-05-emergency-to-confirm")
    pending.get_by_role("button", name="确认发送").click()
    expect(page).to_have_url(re.compile(r"/log\?broadcast_id=\d+$"))
    expect(page.get_by_text("应急广播已确认并发出：3 个喇叭")).to_be_visible()
    (broadcast,) = live_services.list_broadcasts()
    assert broadcast.targeted == 3
