"""Lexicon entries, per-notice sound options and upload names: checks with Chinese messages."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from audio import AudioError
from broadcast.errors import ValidationFailed
from broadcast.lexicon import check_fields
from broadcast.settings import AudioSettings
from broadcast.sound import (
    NoticeSound,
    Sound,
    render_options,
    resolve,
    synthesis_error,
    upload_error,
    upload_filename,
)
from web.uploads import form_values, sound_from_form, sound_from_json

DEFAULTS = AudioSettings()


# -- lexicon entries --------------------------------------------------------------------


def test_entry_is_tidied() -> None:
    assert check_fields(" 蚌埠 ", " 蹦步 ", " 地名 ") == ("蚌埠", "蹦步", "地名")
    assert check_fields("还田", "{huan2   tian2}", "") == ("还田", "{huan2 tian2}", "")
    assert check_fields("长", "{zhang3}", "") == ("长", "{zhang3}", "")


@pytest.mark.parametrize(
    ("term", "replacement", "note", "field", "message"),
    [
        ("", "蹦步", "", "term", "请填写要改读音的词"),
        ("   ", "蹦步", "", "term", "请填写要改读音的词"),
        ("长" * 51, "蹦步", "", "term", "不能超过 50 字"),
        ("蚌{埠}", "蹦步", "", "term", "花括号"),
        ("蚌埠", "", "", "replacement", "请填写读法"),
        ("蚌埠", "步" * 101, "", "replacement", "不能超过 100 字"),
        ("蚌埠", "蚌埠", "", "replacement", "和原词一样"),
        ("还田", "{huan2 tian2", "", "replacement", "没有成对"),
        ("还田", "huan2} {tian2}", "", "replacement", "没有成对"),
        ("还田", "{huan tian}", "", "replacement", "带声调数字的拼音"),
        ("还田", "{}", "", "replacement", "带声调数字的拼音"),
        ("还田", "{HUAN2}", "", "replacement", "带声调数字的拼音"),
        ("蚌埠", "蹦步", "注" * 201, "note", "备注不能超过 200 字"),
    ],
)
def test_bad_entries_are_refused_on_their_field(
    term: str, replacement: str, note: str, field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message) as caught:
        check_fields(term, replacement, note)
    assert caught.value.field == field


# -- sound options ---------------------------------------------------------------------


def test_defaults_come_from_the_settings() -> None:
    assert DEFAULTS.repeat == 2 and DEFAULTS.cache_max_mb == 2048
    assert resolve(None, DEFAULTS) == Sound("cmn-latn-pinyin", 150, 2, True, "")
    settings = AudioSettings(repeat=3, chime=False, closing="谢谢大家", rate=140)
    assert resolve(NoticeSound(), settings) == Sound("cmn-latn-pinyin", 140, 3, False, "谢谢大家")


def test_asked_options_win_and_reach_the_renderer() -> None:
    asked = NoticeSound(voice="cmn", rate=180, repeat=1, chime=False, closing=" 以上  是通知 ")
    sound = resolve(asked, DEFAULTS)
    assert sound == Sound("cmn", 180, 1, False, "以上 是通知")
    options = render_options(sound, AudioSettings(pause_ms=1500, loudness_lufs=-18.0))
    assert (options.voice, options.rate, options.repeat, options.chime) == ("cmn", 180, 1, False)
    assert (options.closing, options.pause_ms, options.loudness_lufs) == ("以上 是通知", 1500, -18)
    assert options.format == "mp3"


@pytest.mark.parametrize(
    ("asked", "field", "message"),
    [
        (NoticeSound(repeat=0), "repeat", "朗读遍数须在 1–5 之间"),
        (NoticeSound(repeat=6), "repeat", "朗读遍数须在 1–5 之间"),
        (NoticeSound(rate=79), "rate", "语速须在 80–400 之间"),
        (NoticeSound(rate=401), "rate", "语速须在 80–400 之间"),
        (NoticeSound(closing="谢" * 101), "closing", "结束语不能超过 100 字"),
        (NoticeSound(voice="../etc"), "voice", "语音名称"),
        (NoticeSound(voice="  "), "voice", "请选择语音"),
    ],
)
def test_bad_options_are_refused_on_their_field(
    asked: NoticeSound, field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message) as caught:
        resolve(asked, DEFAULTS)
    assert caught.value.field == field


def test_pipeline_refusals_are_explained() -> None:
    voice = synthesis_error(AudioError("unknown voice 'xx'; see `espeak-ng --voices`"), "xx", "b")
    assert (voice.field, str(voice)) == ("voice", "本机没有安装语音“xx”，请换一个语音")
    assert synthesis_error(AudioError("boom"), "cmn", "body").field == "body"
    for reason, expected in (
        ("the uploaded file is empty", "空的"),
        ("the uploaded file is 31 MB, at most 30 MB", "不能超过 30 MB"),
        ("the uploaded file is not a recording ffmpeg can read", "不是能识别的录音"),
        ("the recording is too short", "录音太短"),
        ("the recording is longer than 20 minutes", "不能超过 20 分钟"),
        ("the recording is silent", "没有声音"),
        ("something else", "处理录音失败"),
    ):
        refused = upload_error(AudioError(reason))
        assert refused.field == "audio" and expected in str(refused), reason


def test_upload_names_are_plain_and_typed() -> None:
    assert upload_filename("村委会通知.m4a") == "村委会通知.m4a"
    assert upload_filename("C:\\Users\\li\\录音 001.AMR") == "录音 001.AMR"
    assert upload_filename("../../etc/x.wav") == "x.wav"
    assert upload_filename("a\x00b\n.mp3") == "ab.mp3"
    assert upload_filename("") == "recording"
    assert upload_filename("voice-memo") == "voice-memo"  # no extension: the content decides
    with pytest.raises(ValidationFailed, match=r"不能上传 \.pdf 文件") as caught:
        upload_filename("通知.pdf")
    assert caught.value.field == "audio"


# -- from forms and JSON ------------------------------------------------------------------


def test_sound_from_json() -> None:
    assert sound_from_json({}) == NoticeSound()
    data = {"voice": "cmn", "rate": "160", "repeat": 3, "chime": False, "closing": "谢谢"}
    assert sound_from_json(data) == NoticeSound("cmn", 160, 3, False, "谢谢")
    assert sound_from_json({"voice": " ", "chime": "true"}) == NoticeSound(chime=True)
    for bad, field in (
        ({"repeat": "两遍"}, "repeat"),
        ({"rate": 1.5}, "rate"),
        ({"chime": "maybe"}, "chime"),
        ({"closing": 3}, "closing"),
        ({"voice": ["cmn"]}, "voice"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            sound_from_json(bad)
        assert caught.value.field == field


def test_an_unticked_chime_box_means_no_chime() -> None:
    shown = MultiDict({"chime_shown": "1", "repeat": "1"})
    assert sound_from_form(shown) == NoticeSound(repeat=1, chime=False)
    ticked = MultiDict({"chime_shown": "1", "chime": "1"})
    assert sound_from_form(ticked).chime is True
    # A client that never showed the box (the API) leaves the default.
    assert sound_from_form(MultiDict({"repeat": "2"})).chime is None
    assert sound_from_form(MultiDict({"chime": "0"})).chime is False
    defaults = {"voice": "cmn", "rate": "150", "repeat": "2", "chime": "1", "closing": ""}
    assert form_values(shown, defaults)["chime"] == ""
    assert form_values(shown, defaults)["repeat"] == "1"
