"""Render keys change with everything that shapes the audio, and with nothing else."""

import dataclasses
import re
from pathlib import Path

import pytest

from audio import PIPELINE_VERSION, AudioCache, AudioError, Renderer, RenderOptions
from audio.keys import render_key

NOTICE = "各位村民请注意，明天上午九点在村委会召开会议。"


@pytest.fixture
def renderer(tmp_path: Path) -> Renderer:
    return Renderer(AudioCache(tmp_path / "cache"))


def test_key_is_stable_hex_sha256_and_starts_nothing(renderer: Renderer, tmp_path: Path) -> None:
    key = renderer.cache_key(NOTICE)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert renderer.cache_key(NOTICE) == key
    assert renderer.cache_key(NOTICE, RenderOptions()) == key
    assert renderer.worker_pid is None
    assert renderer.synthesis_count == 0
    assert not (tmp_path / "cache").exists()


def test_key_ignores_whitespace_differences_and_timeout(renderer: Renderer) -> None:
    key = renderer.cache_key(NOTICE)
    assert renderer.cache_key(f"  {NOTICE}\n") == key
    assert renderer.cache_key(NOTICE, RenderOptions(timeout_s=5)) == key
    assert renderer.cache_key("各位\u3000村民") == renderer.cache_key("各位 村民")


@pytest.mark.parametrize(
    "change",
    [
        {"voice": "yue"},
        {"rate": 170},
        {"chime": False},
        {"bitrate": "48k"},
        {"sample_rate": 22050},
    ],
)
def test_key_changes_with_each_audio_option(renderer: Renderer, change: dict[str, object]) -> None:
    options = dataclasses.replace(RenderOptions(), **change)  # type: ignore[arg-type]
    assert renderer.cache_key(NOTICE, options) != renderer.cache_key(NOTICE)


def test_key_changes_with_text(renderer: Renderer) -> None:
    assert renderer.cache_key(NOTICE) != renderer.cache_key(NOTICE.replace("九", "十"))


def test_renderer_default_options_are_used(tmp_path: Path) -> None:
    slow = Renderer(AudioCache(tmp_path), RenderOptions(rate=100))
    assert slow.cache_key(NOTICE) == slow.cache_key(NOTICE, RenderOptions(rate=100))
    assert slow.cache_key(NOTICE) != slow.cache_key(NOTICE, RenderOptions())


def test_key_covers_engine_version() -> None:
    options = RenderOptions()
    assert render_key(NOTICE, options, "1.51") != render_key(NOTICE, options, "1.52")
    assert render_key(NOTICE, options, "1.51") == render_key(NOTICE, options, "1.51")
    assert PIPELINE_VERSION >= 1


def test_key_of_invalid_text_is_an_error(renderer: Renderer) -> None:
    with pytest.raises(AudioError):
        renderer.cache_key(" ")
