"""A short synthesised two-tone chime played before a notice."""

from typing import Any

# (frequency Hz, duration ms): a falling major third, "ding-dong".
TONES = ((784.0, 260), (622.3, 420))
CHIME_GAIN_DBFS = -14.0  # peak; its loudness then matches espeak speech
FADE_MS = 15
PAUSE_AFTER_MS = 500


def make_chime(frame_rate: int) -> Any:
    """The chime followed by a short pause, as a mono 16-bit pydub ``AudioSegment``."""
    from pydub import AudioSegment
    from pydub.generators import Sine

    chime = AudioSegment.empty().set_frame_rate(frame_rate)
    for freq, ms in TONES:
        tone = Sine(freq, sample_rate=frame_rate, bit_depth=16).to_audio_segment(
            duration=ms, volume=CHIME_GAIN_DBFS
        )
        chime += tone.fade_in(FADE_MS).fade_out(ms // 2)
    return chime + AudioSegment.silent(duration=PAUSE_AFTER_MS, frame_rate=frame_rate)
