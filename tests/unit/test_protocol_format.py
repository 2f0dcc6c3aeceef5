"""The play command names its audio format (mp3 or opus)."""

from __future__ import annotations

import pytest

from devices.protocol import Play, ProtocolError

SHA = "ab" * 32


def body(**changes: object) -> dict[str, object]:
    play = Play(3, f"http://h/media/{SHA}.opus?exp=1&token=x", SHA, 1200, 5000, format="opus")
    out = play.to_body()
    out.update(changes)
    return out


def test_format_travels_in_the_body_and_back() -> None:
    assert body()["format"] == "opus"
    assert Play.from_body(body()).format == "opus"
    assert Play.from_body(body(format="mp3")).format == "mp3"


def test_a_play_without_format_is_mp3() -> None:
    old = body()
    del old["format"]
    assert Play.from_body(old).format == "mp3"


@pytest.mark.parametrize("fmt", ["wav", "MP3", "", 1, None])
def test_an_unknown_format_is_malformed(fmt: object) -> None:
    with pytest.raises(ProtocolError) as caught:
        Play.from_body(body(format=fmt))
    assert caught.value.reason == "malformed"
