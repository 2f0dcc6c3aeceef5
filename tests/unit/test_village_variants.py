"""Which audio a village hears for a notice (pure: model objects, no database)."""

from __future__ import annotations

import pytest

from broadcast.errors import ValidationFailed
from broadcast.models import Notice, Village
from broadcast.settings import AudioSettings
from broadcast.variants import Spec, check_village_sound, spec_for

DEFAULTS = AudioSettings(voice="cmn-latn-pinyin", rate=150)


def notice(
    kind: str = "text", voice: str | None = "cmn-latn-pinyin", rate: int | None = 150
) -> Notice:
    return Notice(id=1, kind=kind, voice=voice, rate=rate, audio_sha256="a" * 64)


def village(voice: str | None = None, rate: int | None = None, fmt: str = "mp3") -> Village:
    return Village(id=7, voice=voice, rate=rate, audio_format=fmt)


def test_a_village_with_the_defaults_hears_the_notice_itself() -> None:
    assert spec_for(notice(), village(), DEFAULTS) is None
    assert spec_for(notice(), village(rate=150, voice="cmn-latn-pinyin"), DEFAULTS) is None


def test_a_village_rate_voice_or_format_makes_a_variant() -> None:
    assert spec_for(notice(), village(rate=120), DEFAULTS) == Spec("", 120, "mp3")
    assert spec_for(notice(), village(voice="cmn"), DEFAULTS) == Spec("cmn", 0, "mp3")
    assert spec_for(notice(), village(fmt="opus"), DEFAULTS) == Spec("", 0, "opus")
    assert spec_for(notice(), village("cmn", 120, "opus"), DEFAULTS) == Spec("cmn", 120, "opus")


def test_a_notice_with_its_own_voice_or_rate_overrides_the_village() -> None:
    fast = notice(rate=180)
    assert spec_for(fast, village(rate=120), DEFAULTS) is None
    assert spec_for(fast, village(rate=120, fmt="opus"), DEFAULTS) == Spec("", 0, "opus")
    assert spec_for(notice(voice="cmn"), village(voice="yue"), DEFAULTS) is None
    # stored before the sound options existed: None is the default
    assert spec_for(notice(voice=None, rate=None), village(rate=120), DEFAULTS) == Spec(
        "", 120, "mp3"
    )


def test_a_recording_changes_only_its_format() -> None:
    rec = notice(kind="recording", voice=None, rate=None)
    assert spec_for(rec, village("cmn", 120), DEFAULTS) is None
    assert spec_for(rec, village("cmn", 120, "opus"), DEFAULTS) == Spec("", 0, "opus")


def test_village_sound_is_checked_on_its_field() -> None:
    assert check_village_sound(" ", None, "OPUS").audio_format == "opus"
    cases: tuple[tuple[tuple[str | None, int | None, str], str], ...] = (
        (("bad voice!", None, "mp3"), "voice"),
        ((None, 30, "mp3"), "rate"),
        ((None, None, "wav"), "audio_format"),
    )
    for args, field in cases:
        with pytest.raises(ValidationFailed) as caught:
            check_village_sound(*args)
        assert caught.value.field == field
