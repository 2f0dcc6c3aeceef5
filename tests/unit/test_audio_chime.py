"""The synthesised chime: two tones and a pause, mono 16-bit, modest level."""

import pytest

from audio.chime import CHIME_GAIN_DBFS, PAUSE_AFTER_MS, TONES, make_chime


@pytest.mark.filterwarnings("ignore:Couldn't find ffmpeg:RuntimeWarning")
@pytest.mark.parametrize("frame_rate", [16000, 22050])
def test_chime_shape(frame_rate: int) -> None:
    chime = make_chime(frame_rate)
    assert (chime.channels, chime.sample_width, chime.frame_rate) == (1, 2, frame_rate)
    assert len(chime) == sum(ms for _, ms in TONES) + PAUSE_AFTER_MS
    assert chime.max_dBFS == pytest.approx(CHIME_GAIN_DBFS, abs=0.5)
    assert chime[-PAUSE_AFTER_MS:].max == 0
