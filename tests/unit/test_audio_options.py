"""Render options, output profiles and the speech lexicon."""

import dataclasses
import time
from pathlib import Path

import pytest

from audio import AudioCache, AudioError, Lexicon, Renderer, RenderOptions, check_entry


def test_profiles() -> None:
    mp3 = RenderOptions.profile("mp3")
    opus = RenderOptions.profile("opus", repeat=2)
    assert (mp3.format, mp3.bitrate, mp3.sample_rate) == ("mp3", "32k", 16000)
    assert (opus.format, opus.bitrate, opus.sample_rate, opus.repeat) == ("opus", "16k", 16000, 2)
    with pytest.raises(AudioError, match="format"):
        RenderOptions.profile("wav")


@pytest.mark.parametrize(
    "bad",
    [
        {"repeat": 0},
        {"repeat": 6},
        {"pause_ms": -1},
        {"closing": "很" * 101},
        {"loudness_lufs": 0.0},
        {"highpass_hz": 5},
        {"format": "opus", "sample_rate": 22050},
        {"voice": "../etc"},
    ],
)
def test_bad_options_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(AudioError):
        RenderOptions(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        {"format": "opus", "bitrate": "16k"},
        {"repeat": 2},
        {"pause_ms": 1000},
        {"closing": "以上通知，请相互转告。"},
        {"loudness_lufs": -20.0},
        {"loudness_lufs": None},
        {"highpass_hz": 0},
    ],
)
def test_key_changes_with_each_sound_option(tmp_path: Path, change: dict[str, object]) -> None:
    renderer = Renderer(AudioCache(tmp_path))
    options = dataclasses.replace(RenderOptions(), **change)  # type: ignore[arg-type]
    assert renderer.cache_key("通知", options) != renderer.cache_key("通知")


def test_text_with_the_same_spoken_form_shares_a_key(tmp_path: Path) -> None:
    renderer = Renderer(AudioCache(tmp_path))
    assert renderer.cache_key("2022年") == renderer.cache_key("２０２２年")


def test_lexicon_replaces_longest_match_first() -> None:
    lexicon = Lexicon([("蚌埠", "迸步"), ("蚌埠市", "迸步市区"), ("还田", "{huan2 tian2}")])
    assert lexicon.apply("蚌埠市秸秆还田") == "迸步市区秸秆{huan2 tian2}"
    assert len(lexicon.used_by("去蚌埠")) == 1


def test_lexicon_goes_into_the_key_only_where_it_applies(tmp_path: Path) -> None:
    renderer = Renderer(AudioCache(tmp_path))
    lexicon = Lexicon([("还田", "{huan2 tian2}")])
    assert renderer.cache_key("秸秆还田", lexicon=lexicon) != renderer.cache_key("秸秆还田")
    assert renderer.cache_key("开会", lexicon=lexicon) == renderer.cache_key("开会")
    changed = Lexicon([("还田", "{huan2 tian2}"), ("开会", "开大会")])
    assert renderer.cache_key("秸秆还田", lexicon=changed) == renderer.cache_key(
        "秸秆还田", lexicon=lexicon
    )


def test_spoken_text_keeps_lexicon_pinyin(tmp_path: Path) -> None:
    renderer = Renderer(AudioCache(tmp_path), lexicon=Lexicon([("还田", "{huan2 tian2}")]))
    assert renderer.spoken_text("第3批秸秆还田") == "第三批秸秆{huan2 tian2}"


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("", "x"),
        (" 蚌埠", "迸步"),
        ("蚌埠", ""),
        ("还田", "{huan tian}"),
        ("还田", "{huan2"),
        ("{", "a"),
    ],
)
def test_bad_lexicon_entries_are_refused(written: str, spoken: str) -> None:
    with pytest.raises(AudioError, match="lexicon"):
        check_entry(written, spoken)


def test_cache_evicts_least_recently_used_beyond_its_limit(tmp_path: Path) -> None:
    kept: set[str] = set()
    cache = AudioCache(tmp_path, max_bytes=250, keep=lambda: kept)
    a = cache.store("a" * 64, b"A" * 100, 1000)
    b = cache.store("b" * 64, b"B" * 100, 1000)
    old = time.time() - 100
    import os

    os.utime(a.path, (old, old))
    os.utime(b.path, (old + 1, old + 1))
    assert cache.lookup("a" * 64) is not None  # a hit makes "a" recent again
    c = cache.store("c" * 64, b"C" * 100, 1000)
    assert cache.path_for(b.sha256) is None  # least recently used
    assert cache.path_for(a.sha256) is not None and cache.path_for(c.sha256) is not None
    assert cache.lookup("b" * 64) is None
    assert cache.total_bytes() == 200


def test_cache_never_evicts_kept_audio(tmp_path: Path) -> None:
    kept: set[str] = set()
    cache = AudioCache(tmp_path, max_bytes=150, keep=lambda: kept)
    a = cache.store("a" * 64, b"A" * 100, 1000)
    kept.add(a.sha256)
    cache.store("b" * 64, b"B" * 100, 1000)
    assert cache.path_for(a.sha256) is not None


def test_cache_stores_opus_beside_mp3(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    stored = cache.store("d" * 64, b"OggS" + b"x" * 10, 500, "opus")
    assert stored.path.suffix == ".opus" and stored.format == "opus"
    assert cache.lookup("d" * 64) == stored
    with pytest.raises(AudioError):
        cache.store("e" * 64, b"x", 1, "wav")
