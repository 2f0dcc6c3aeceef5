"""On a phone: upload a recording as a notice (too large first), and edit the lexicon."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from audio import MAX_UPLOAD_BYTES
from broadcast.services import Services

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng"),
]

SHOTS = Path("/tmp/cunxiang-shots")
TITLE = "村委会录音通知"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, live_url: str, admin: tuple[str, str]) -> None:
    page.goto(f"{live_url}/login")
    page.get_by_label("用户名").fill(admin[0])
    page.get_by_label("密码").fill(admin[1])
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_url}/notices")


def test_staff_upload_a_recording_on_a_phone(
    phone: Page,
    live_url: str,
    live_services: Services,
    admin: tuple[str, str],
    tmp_path: Path,
) -> None:
    wav = tmp_path / "村委会录音.wav"
    subprocess.run(
        ["espeak-ng", "-v", "cmn", "-w", str(wav), "各位村民，今天下午三点在村委会开会。"],
        check=True,
    )
    page = phone
    log_in(page, live_url, admin)
    page.get_by_role("link", name="新建通知").click()
    page.get_by_label("标题").fill(TITLE)
    # Only the fields of the chosen kind show.
    expect(page.get_by_label("录音文件")).to_be_hidden()
    page.get_by_label("上传一段录音").check()
    expect(page.get_by_label("录音文件")).to_be_visible()
    expect(page.get_by_role("button", name="试听")).to_be_hidden()
    expect(page.get_by_label("文字稿（可不填，留作记录）")).to_be_visible()

    # Too large: refused on the phone before anything is sent, the title stays.
    page.get_by_label("录音文件").set_input_files(
        {"name": "太大.m4a", "mimeType": "audio/mp4", "buffer": b"\0" * (MAX_UPLOAD_BYTES + 1)}
    )
    expect(page.locator("#audio-size-error")).to_have_text("录音文件不能超过 30 MB，请重新选择")
    page.get_by_role("button", name="保存，下一步选择播放").click()
    expect(page).to_have_url(f"{live_url}/notices/new")
    expect(page.get_by_label("标题")).to_have_value(TITLE)
    shot(page, "speech-1-upload-too-large")

    page.get_by_label("录音文件").set_input_files(str(wav))
    expect(page.locator("#audio-size-error")).to_be_hidden()
    page.get_by_text("声音设置").click()
    page.get_by_label("读几遍").select_option("1")
    expect(page.get_by_label("结束语（可不填，最后说一遍）")).to_be_hidden()  # text only
    shot(page, "speech-2-upload-form")
    page.get_by_role("button", name="保存，下一步选择播放").click()

    expect(page).to_have_url(re.compile(r"/notices/\d+$"))
    expect(page.get_by_text("通知已保存")).to_be_visible()
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(page.locator("#notice-sound")).to_contain_text("录音“村委会录音.wav”")
    expect(page.locator("#notice-sound")).to_contain_text("读 1 遍")
    expect(page.get_by_role("button", name="重新合成")).to_have_count(0)

    page.get_by_role("link", name="通知", exact=True).click()
    card = page.locator(".card", has_text=TITLE)
    expect(card).to_be_visible()
    expect(card.locator(".badge", has_text="录音")).to_be_visible()
    shot(page, "speech-3-upload-listed")
    [notice] = live_services.list_notices()
    assert (notice.kind, notice.repeat, notice.source_filename) == ("recording", 1, wav.name)


def test_staff_edit_the_lexicon_on_a_phone(
    phone: Page, live_url: str, live_services: Services, admin: tuple[str, str]
) -> None:
    notice = live_services.add_notice("开会通知", "明天上午九点到村委会开会。")
    page = phone
    log_in(page, live_url, admin)
    page.get_by_role("link", name="读音表").click()
    expect(page.get_by_role("heading", name="读音表")).to_be_visible()
    page.get_by_label("词语").fill("村委会")
    page.get_by_label("读法").fill("{cun1 wei3 hui4")
    page.get_by_role("button", name="添加读音").click()
    expect(page.locator("#replacement-error")).to_contain_text("没有成对")
    page.get_by_label("读法").fill("村民委员会")
    page.get_by_role("button", name="添加读音").click()
    expect(page.get_by_text("已添加")).to_be_visible()
    expect(page.locator("#entries")).to_contain_text("村民委员会")

    page.get_by_label("输入一句话，看机器会怎么读").fill("明天到村委会开会。")
    page.get_by_role("button", name="看读法").click()
    expect(page.locator("#spoken")).to_contain_text("明天到村民委员会开会。")
    shot(page, "speech-4-lexicon")

    # The saved notice keeps its audio until 重新合成.
    page.goto(f"{live_url}/notices/{notice.id}")
    expect(page.locator("#render-hint")).to_be_visible()
    shot(page, "speech-5-notice-render-hint")
    page.get_by_role("button", name="重新合成").click()
    expect(page.get_by_text("已按当前读音表重新合成")).to_be_visible()
    expect(page.locator("#render-hint")).to_have_count(0)
    assert live_services.get_notice(notice.id).audio_sha256 != notice.audio_sha256

    page.goto(f"{live_url}/lexicon")
    page.get_by_role("link", name="修改").click()
    page.get_by_label("备注（可不填）").fill("读全称")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#entries")).to_contain_text("读全称")
    page.locator("#entries summary", has_text="删除").click()
    page.get_by_role("button", name="确认删除").click()
    expect(page.get_by_text("还没有读音条目")).to_be_visible()
    assert live_services.list_lexicon() == []


def test_a_village_is_set_to_slow_opus_on_a_phone(
    phone: Page, live_url: str, live_services: Services, admin: tuple[str, str]
) -> None:
    village = live_services.add_village("山里村", "330000000077")
    page = phone
    log_in(page, live_url, admin)
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="读音").click()
    expect(page).to_have_url(f"{live_url}/lexicon")  # the lexicon has its own tab
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="村庄").click()
    page.get_by_role("link", name="修改山里村的播音设置").click()
    page.get_by_label("语速").select_option(label="较慢（120）")
    page.get_by_label("Opus 16 kbps（网络差的村）").check()
    shot(page, "village-sound-form")
    page.get_by_role("button", name="保存").click()
    expect(page).to_have_url(f"{live_url}/villages")
    card = page.locator(f"#village-{village.id}")
    expect(card).to_contain_text("播音：语速较慢 · Opus")
    shot(page, "village-sound-saved")
    sound = live_services.village_sound(village.id)
    assert (sound.voice, sound.rate, sound.audio_format) == (None, 120, "opus")
