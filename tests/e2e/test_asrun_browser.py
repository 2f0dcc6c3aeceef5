"""On a phone: filter the as-run log, export it (CSV and Excel), open a broadcast's detail,
the reports and loudspeaker health; a villager replays a broadcast on the public page."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from broadcast.services import Services
from tests.asrun_seed import add_broadcast, add_notice, play_through, receipt
from tests.e2e.test_panel_planning import log_in

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/cunxiang-shots")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def seed(services: Services) -> dict[str, int]:
    """Yesterday's water notice (dc-01 played it, dc-02 refused it, xc-01 was offline) and
    today's drill in 东村 (dc-01 played it)."""
    now = services.now()
    services.update_speakers({"dc-01": True, "xc-01": True}, {})
    water = add_notice(services, "停水通知")
    drill = add_notice(services, "防汛演练", "各位村民请注意，现在进行防汛演练。")
    at = now - timedelta(days=1)
    partial, cmd = add_broadcast(services, water, ["dc-01", "dc-02", "xc-01"], at)
    services.mark_sent(list(cmd.values()))
    play_through(services, cmd["dc-01"], "dc-01", at)
    services.record_events([receipt(cmd["dc-02"], "dc-02", "rejected", at, reason="expired")])
    done, cmd2 = add_broadcast(
        services, drill, ["dc-01"], now - timedelta(hours=1), drill=True, window=timedelta(0)
    )
    services.mark_sent(list(cmd2.values()))
    play_through(services, cmd2["dc-01"], "dc-01", now - timedelta(hours=1))
    services.expire_commands()
    return {"partial": partial, "drill": done}


def test_cadre_filters_exports_and_reads_the_log(
    phone: Page, live_url: str, live_services: Services, admin: tuple[str, str]
) -> None:
    ids = seed(live_services)
    page = phone
    log_in(page, live_url, admin, "/log")
    expect(page.locator("#log section.card")).to_have_count(2)
    page.get_by_text("筛选与导出").click()
    page.get_by_label("村", exact=True).select_option(label="东村")
    page.get_by_label("播放结果").select_option(label="已拒绝")
    shot(page, "40-log-filter")
    page.get_by_role("button", name="筛选").click()
    expect(page).to_have_url(re.compile(r"/log\?.*outcome=rejected"))
    log = page.locator("#log")
    expect(log.locator("section.card")).to_have_count(1)
    expect(log).to_contain_text("dc-02")
    expect(log).not_to_contain_text("dc-01")
    expect(log).to_contain_text("原因：指令过期")
    expect(log).to_contain_text("完成 1/2（50%）")  # coverage counts the village, not the outcome
    shot(page, "41-log-filtered")

    with page.expect_download() as got:
        page.get_by_role("link", name="导出 CSV").click()
    text = Path(got.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["喇叭编号"], r["结果"], r["原因"]) for r in rows] == [
        ("dc-02", "已拒绝", "指令过期")
    ]
    assert got.value.suggested_filename.endswith(".csv")

    page.get_by_role("link", name="查看全部").click()
    expect(page.locator("#log section.card")).to_have_count(2)
    page.get_by_text("筛选与导出").click()
    with page.expect_download() as got_xlsx:
        page.get_by_role("link", name="导出 Excel").click()
    book = load_workbook(io.BytesIO(Path(got_xlsx.value.path()).read_bytes()), read_only=True)
    try:
        values = [list(r) for r in book["播出记录"].iter_rows(values_only=True)]
    finally:
        book.close()
    assert len(values) == 1 + 4
    assert {(r[8], r[10]) for r in values[1:]} == {
        ("dc-01", "finished"),
        ("dc-02", "rejected"),
        ("xc-01", "offline"),
    }

    page.get_by_role("link", name=f"广播 #{ids['partial']} 详情").click()
    expect(page).to_have_url(f"{live_url}/log/{ids['partial']}")
    expect(page.get_by_role("heading", name="播出记录详情")).to_be_visible()
    expect(page.locator("#state-code")).to_have_text("3")
    expect(page.locator("#coverage")).to_contain_text("播放完成 1 / 目标 3 个喇叭（33%）")
    expect(page.locator("#coverage")).to_contain_text("未播完：dc-02")
    expect(page.locator("#coverage")).to_contain_text("未播完：xc-01")
    shot(page, "42-log-detail")

    page.goto(f"{live_url}/reports?period=month")
    expect(page.get_by_role("heading", name="月报")).to_be_visible()
    expect(page.locator("svg.chart")).to_be_visible()
    expect(page.locator("#report-total")).to_contain_text("次广播")
    shot(page, "43-report-month")

    page.goto(f"{live_url}/speakers/health")
    expect(page.get_by_role("heading", name="喇叭健康")).to_be_visible()
    expect(page.locator("#missed")).to_contain_text("dc-02")
    expect(page.locator("svg.chart")).to_be_visible()
    shot(page, "44-health")
    # Nothing wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_villager_replays_a_broadcast_without_logging_in(
    browser: Browser, live_url: str, live_services: Services
) -> None:
    seed(live_services)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{live_url}/public/")
        page.get_by_role("link", name="东村").click()
        expect(page).to_have_url(f"{live_url}/public/dc")
        expect(page.get_by_role("heading", name="东村 · 广播回听")).to_be_visible()
        cards = page.locator("article.card")
        expect(cards).to_have_count(2)
        expect(cards.first).to_contain_text("防汛演练")
        expect(cards.first).to_contain_text("演练 · 不是真实事件")
        expect(cards.nth(1)).to_contain_text("停水通知")
        html = page.content()
        for internal in ("dc-01", "dc-02", "xc-01", "tester", "admin"):
            assert internal not in html
        audio = page.locator("article.card audio").nth(1)
        audio.click()  # a user gesture, so the page may start playback
        played = audio.evaluate(
            """el => el.play().then(() => new Promise(ok => {
                   const check = () =>
                       el.currentTime > 0.2 ? ok(el.currentTime) : setTimeout(check, 50);
                   check();
               }))"""
        )
        assert played > 0.2
        shot(page, "45-public-village")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()
