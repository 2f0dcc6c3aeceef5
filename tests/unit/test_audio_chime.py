"""The chime and the PCM helpers."""

import numpy as np

from audio.pcm import CHIME_PAUSE_MS, CHIME_TONES, chime, fade_edges, silence


def test_chime_is_two_tones_then_a_pause_under_its_peak() -> None:
    rate = 22050
    bell = chime(rate, peak_dbfs=-6.0)
    tones_ms = sum(ms for _, ms in CHIME_TONES)
    assert len(bell) == rate * tones_ms // 1000 + rate * CHIME_PAUSE_MS // 1000
    assert bell.dtype == np.int16
    assert np.abs(bell).max() <= 10 ** (-6 / 20) * 32767 + 1
    assert not bell[-rate * CHIME_PAUSE_MS // 1000 :].any()


def test_fade_edges_starts_and_ends_at_zero() -> None:
    loud = np.full(22050, 20000, dtype=np.int16)
    faded = fade_edges(loud, 22050)
    assert faded[0] == 0
    assert abs(int(faded[-1])) < 200
    assert faded[11025] == 20000


def test_silence_length() -> None:
    assert len(silence(16000, 500)) == 8000
    assert not silence(16000, 500).any()
