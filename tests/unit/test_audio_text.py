"""Text validation, whitespace preparation, sentence splitting and option checks."""

import multiprocessing
from pathlib import Path

import pytest

from audio import MAX_TEXT_CHARS, AudioError, RenderOptions, prepare_text, synthesize_wav
from audio.normalize import checked_text
from audio.sentences import MAX_CHUNK_CHARS, split_chunks, split_sentences

NOTICE = "各位村民请注意，明天上午九点在村委会召开会议。"


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "\u3000\u3000", "\u200b\ufeff"])
def test_empty_text_is_rejected(text: str) -> None:
    with pytest.raises(AudioError, match="empty"):
        checked_text(text)


def test_too_long_text_is_rejected_with_one_line_message() -> None:
    with pytest.raises(AudioError, match="too long") as err:
        checked_text("村" * (MAX_TEXT_CHARS + 1))
    assert "\n" not in str(err.value)


def test_longest_text_is_accepted_and_outer_whitespace_does_not_count() -> None:
    text = "村" * MAX_TEXT_CHARS
    assert checked_text(f"  \n{text}\n  ") == text


@pytest.mark.parametrize(
    ("raw", "prepared"),
    [
        ("各位村民\u3000请注意", "各位村民 请注意"),
        ("a  \t b\u00a0\u00a0c", "a b c"),
        ("  第一行 \r\n\r\n\n  第二行\r第三行  ", "第一行\n第二行\n第三行"),
        ("村\u200b委\ufeff会", "村委会"),
        (NOTICE, NOTICE),
    ],
)
def test_prepare_text_tidies_only_whitespace(raw: str, prepared: str) -> None:
    assert prepare_text(raw) == prepared


def test_prepare_text_leaves_numbers_alone() -> None:
    assert prepare_text("2022年 3.5元 12345") == "2022年 3.5元 12345"


def test_sentences_end_at_chinese_and_ascii_terminators_and_line_breaks() -> None:
    text = "通知\n请注意。明天开会！带什么？带本子；Bring a pen. Done? Yes! a;b"
    assert split_sentences(text) == [
        "通知",
        "请注意。",
        "明天开会！",
        "带什么？",
        "带本子；",
        "Bring a pen.",
        "Done?",
        "Yes!",
        "a;",
        "b",
    ]


def test_decimal_points_and_closing_quotes_stay_in_their_sentence() -> None:
    assert split_sentences("价格3.5元。他说：“好的！”然后走了。") == [
        "价格3.5元。",
        "他说：“好的！”",
        "然后走了。",
    ]


def test_chunks_pack_whole_sentences_up_to_the_limit() -> None:
    sentence = "各位村民请注意，明天上午九点开会。"  # 17 characters
    chunks = split_chunks(sentence * 30)
    assert all(len(c) <= MAX_CHUNK_CHARS for c in chunks)
    assert all(c.endswith("。") for c in chunks)
    assert "".join(chunks) == sentence * 30
    assert len(chunks) == 3  # 11 sentences (187 characters) fit in a chunk


def test_overlong_sentence_is_cut_at_commas_then_hard() -> None:
    text = "甲" * 150 + "，" + "乙" * 150 + "。" + "丙" * 450
    chunks = split_chunks(text)
    assert [len(c) for c in chunks] == [151, 151, 200, 200, 50]
    assert "".join(chunks) == text


def test_overlong_latin_text_is_cut_between_words() -> None:
    text = " ".join(["word"] * 120)
    chunks = split_chunks(text)
    assert all(len(c) <= MAX_CHUNK_CHARS for c in chunks)
    assert all(set(c.split(" ")) == {"word"} for c in chunks)
    assert " ".join(chunks) == text


def test_lines_without_final_punctuation_are_followed_by_a_pause() -> None:
    text = "通知\n各位村民：明天开会。\n村委会\n2024年3月1日"
    assert split_chunks(text) == ["通知\n\n各位村民：明天开会。村委会\n\n2024年3月1日"]


def test_chunks_with_nothing_to_say_are_dropped() -> None:
    assert split_chunks("。。。！\n——") == []
    assert split_chunks("。。好。") == ["。。好。"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"voice": ""},
        {"voice": "../etc/passwd"},
        {"voice": "cmn latn"},
        {"rate": 10},
        {"rate": 1000},
        {"bitrate": "32"},
        {"bitrate": "lots"},
        {"sample_rate": 17000},
        {"timeout_s": 0},
    ],
)
def test_bad_options_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(AudioError):
        RenderOptions(**kwargs)  # type: ignore[arg-type]


def test_default_options() -> None:
    options = RenderOptions()
    assert (options.voice, options.rate, options.chime) == ("cmn-latn-pinyin", 150, True)
    assert (options.bitrate, options.sample_rate, options.timeout_s) == ("32k", 16000, 120.0)


@pytest.mark.parametrize(
    ("text", "voice", "rate"),
    [("", "cmn-latn-pinyin", 150), (NOTICE, "../x", 150), (NOTICE, "cmn-latn-pinyin", 5)],
)
def test_synthesize_wav_checks_arguments_before_starting_a_worker(
    tmp_path: Path, text: str, voice: str, rate: int
) -> None:
    before = multiprocessing.active_children()
    with pytest.raises(AudioError):
        synthesize_wav(text, tmp_path / "out.wav", voice, rate, 10)
    assert multiprocessing.active_children() == before
    assert not (tmp_path / "out.wav").exists()
