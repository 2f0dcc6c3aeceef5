"""Options that shape a rendered notice."""

import re
from dataclasses import dataclass

from audio.errors import AudioError

MIN_RATE = 80
MAX_RATE = 450
MP3_SAMPLE_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})
_VOICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./+-]{0,63}$")
_BITRATE = re.compile(r"^[1-9][0-9]{0,2}k$")


@dataclass(frozen=True)
class RenderOptions:
    """How to speak and encode a text. Validated on construction."""

    voice: str = "cmn-latn-pinyin"
    rate: int = 150
    chime: bool = True
    bitrate: str = "32k"
    sample_rate: int = 16000
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not _VOICE.match(self.voice) or ".." in self.voice:
            raise AudioError(f"invalid voice name {self.voice!r}")
        if not MIN_RATE <= self.rate <= MAX_RATE:
            raise AudioError(f"rate must be {MIN_RATE}-{MAX_RATE} words/minute, got {self.rate}")
        if not _BITRATE.match(self.bitrate):
            raise AudioError(f"bitrate must look like '32k', got {self.bitrate!r}")
        if self.sample_rate not in MP3_SAMPLE_RATES:
            raise AudioError(f"sample rate {self.sample_rate} Hz is not an MP3 sample rate")
        if not self.timeout_s > 0:
            raise AudioError(f"timeout_s must be positive, got {self.timeout_s}")
