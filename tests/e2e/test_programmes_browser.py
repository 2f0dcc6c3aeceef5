"""A township cadre on a phone builds a programme (adding items and reordering them by
dragging and with the ↑ button), and sees two overlapping schedules on the timeline: the
lower priority queued after the higher, with its new start time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from broadcast.planning import ScheduleRequest
from broadcast.services import Services
from tests.e2e.test_panel_planning import log_in, shot

pytestmark = pytest.mark.e2e


def titles(page: Page) -> list[str]:
    return page.locator("#items .prog-title").all_inner_texts()


def test_cadre_builds_a_programme_and_reorders_it(
    phone: Page, live_url: str, live_services: Services, admin: tuple[str, str]
) -> None:
    page = phone
    weather = live_services.add_notice("天气预报", "今天晴，最高气温十五度。", created_by="admin")
    fire = live_services.add_notice("防火提醒", "秋冬季节请注意用火安全。", created_by="admin")
    log_in(page, live_url, admin, "/programmes")
    expect(page.get_by_text("还没有节目单")).to_be_visible()
    page.get_by_role("link", name="新建节目单").click()

    page.get_by_label("名称").fill("早间节目")
    page.get_by_role("button", name="加提示音").click()
    page.get_by_label("通知或录音").select_option(str(weather.id))
    page.get_by_role("button", name="加入").click()
    page.get_by_label("静音秒数").fill("2")
    page.get_by_role("button", name="加静音").click()
    page.get_by_label("通知或录音").select_option(str(fire.id))
    page.get_by_role("button", name="加入").click()
    assert titles(page) == ["提示音", "天气预报", "静音 2 秒", "防火提醒"]
    total_ms = 1180 + weather.audio_duration_ms + 2000 + fire.audio_duration_ms
    seconds = round(total_ms / 1000)
    expect(page.locator("#total")).to_have_text(f"{seconds // 60}:{seconds % 60:02d}")
    shot(page, "30-programme-new")

    # Drag 防火提醒 (last) onto the top half of 提示音 (first): it moves to the front.
    items = page.locator("#items > li")
    items.nth(3).drag_to(items.nth(0), target_position={"x": 40, "y": 5})
    assert titles(page) == ["防火提醒", "提示音", "天气预报", "静音 2 秒"]
    # ↑ on 天气预报 moves it above 提示音; ✕ removes the silence; the total follows.
    page.get_by_role("button", name="上移 天气预报").click()
    page.get_by_role("button", name="删除 静音 2 秒").click()
    assert titles(page) == ["防火提醒", "天气预报", "提示音"]
    seconds = round((total_ms - 2000) / 1000)
    expect(page.locator("#total")).to_have_text(f"{seconds // 60}:{seconds % 60:02d}")
    shot(page, "31-programme-reordered")

    page.get_by_role("button", name="保存并合成").click()
    expect(page).to_have_url(f"{live_url}/programmes#programme-1")
    expect(page.get_by_role("status")).to_contain_text("节目单“早间节目”已保存：3 项")
    (prog,) = live_services.list_programmes()
    assert [i.title for i in prog.items] == ["防火提醒", "天气预报", "提示音"]
    card = page.locator("#programme-1")
    expect(card.locator("ol li")).to_have_count(3)
    shot(page, "32-programme-list")

    # It is scheduled like a notice, from its own page.
    card.get_by_role("link", name="安排播放").click()
    expect(page.get_by_role("heading", name="早间节目", level=1)).to_be_visible()
    expect(page.locator("#repeat-help")).to_contain_text("整个节目共播")


def test_overlap_is_shown_queued_on_the_timeline(
    phone: Page, live_url: str, live_services: Services, admin: tuple[str, str]
) -> None:
    page = phone
    long_notice = live_services.add_notice("早间新闻", "各位村民早上好。" * 10, created_by="admin")
    short_notice = live_services.add_notice("停水通知", "明天上午停水。", created_by="admin")
    live_services.add_schedule(
        ScheduleRequest(short_notice.id, ["dc"], "daily", time_of_day="07:00", priority=50)
    )
    live_services.add_schedule(
        ScheduleRequest(long_notice.id, ["dc"], "daily", time_of_day="07:00", priority=80)
    )
    tomorrow = live_services.now().astimezone(live_services.settings.zone).date() + timedelta(1)
    log_in(page, live_url, admin, "/schedules")
    page.get_by_role("navigation", name="计划").get_by_role("link", name="时间线").click()
    page.get_by_role("link", name="下一天").click()
    expect(page).to_have_url(f"{live_url}/schedules/plan?view=day&date={tomorrow.isoformat()}")

    east = page.locator("#timeline-1")
    expect(east.get_by_role("heading", name="东村")).to_be_visible()
    rows = east.locator(".tl-list li")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("早间新闻")
    expect(rows.nth(0)).to_contain_text("07:00")
    queued = rows.nth(1)
    expect(queued).to_contain_text("停水通知")
    expect(queued).to_contain_text("计划 07:00，排在更高优先级之后")
    plays = live_services.preview_plan(tomorrow, 1)
    start = plays[1].start_at.astimezone(live_services.settings.zone)
    expect(queued.locator("time")).to_contain_text(start.strftime("%H:%M:%S"))
    expect(east.locator("rect.tl-block.queued")).to_have_count(1)
    shot(page, "33-timeline-day")

    page.get_by_role("link", name="周", exact=True).click()
    expect(page.get_by_role("heading", name="一周时间线")).to_be_visible()
    expect(page.locator("#timeline-1 .tl-row:not(.tl-axis)")).to_have_count(7)
    shot(page, "34-timeline-week")


def test_cadre_adds_a_town_and_a_zone(
    phone: Page, live_url: str, live_services: Services, admin: tuple[str, str]
) -> None:
    page = phone
    live_services.add_area("county", "370102000000", "历下区")
    log_in(page, live_url, admin, "/villages")
    page.get_by_role("link", name="地区管理").click()
    page.get_by_text("添加县或乡镇").click()
    page.get_by_label("级别").select_option("town")
    page.get_by_label("区划代码（12 位）").fill("370102001")
    page.get_by_label("名称", exact=True).fill("解放路街道")
    page.locator("#add-area").get_by_role("button", name="添加").click()
    expect(page.locator("#add-area #code-error")).to_contain_text("12 位")
    page.get_by_label("区划代码（12 位）").fill("370102001000")
    page.locator("#add-area").get_by_role("button", name="添加").click()
    expect(page.get_by_role("status")).to_contain_text("解放路街道")
    page.get_by_role("link", name="新建区域").click()
    page.get_by_label("名称").fill("沿河村庄")
    page.get_by_label("东村").check()
    page.get_by_label("西村").check()
    page.get_by_role("button", name="保存").click()
    expect(page.locator("li[id^=zone-]")).to_have_count(1)
    expect(page.get_by_role("status")).to_contain_text("沿河村庄")
    shot(page, "35-places")
    (zone,) = live_services.list_zones()
    assert sorted(zone.village_names) == ["东村", "西村"]
