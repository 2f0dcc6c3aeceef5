"""Options that shape a rendered notice."""

import re
from dataclasses import dataclass

from audio.errors import AudioError

MIN_RATE = 80
MAX_RATE = 450
MAX_REPEAT = 5
MAX_PAUSE_MS = 10_000
MAX_CLOSING_CHARS = 100
MP3_SAMPLE_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})
OPUS_SAMPLE_RATES = frozenset({8000, 12000, 16000, 24000, 48000})
# Output profiles: the default for loudspeakers, and a smaller one for weak 2G/4G links.
FORMATS = ("mp3", "opus")
PROFILE_BITRATE = {"mp3": "32k", "opus": "16k"}
_VOICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./+-]{0,63}$")
_BITRATE = re.compile(r"^[1-9][0-9]{0,2}k$")


@dataclass(frozen=True)
class RenderOptions:
    """How to speak, shape and encode a notice. Validated on construction.

    ``loudness_lufs`` is the integrated loudness target (EBU R128 / BS.1770), ``None`` to
    leave the level alone; ``highpass_hz`` cuts the rumble small horn speakers cannot play
    (0 turns it off). The notice is played ``repeat`` times with ``pause_ms`` between, then
    ``closing`` (if any) is said once.
    """

    voice: str = "cmn-latn-pinyin"
    rate: int = 150
    chime: bool = True
    bitrate: str = "32k"
    sample_rate: int = 16000
    timeout_s: float = 120.0
    format: str = "mp3"
    repeat: int = 1
    pause_ms: int = 2000
    closing: str = ""
    loudness_lufs: float | None = -16.0
    highpass_hz: int = 150

    def __post_init__(self) -> None:
        if not _VOICE.match(self.voice) or ".." in self.voice:
            raise AudioError(f"invalid voice name {self.voice!r}")
        if not MIN_RATE <= self.rate <= MAX_RATE:
            raise AudioError(f"rate must be {MIN_RATE}-{MAX_RATE} words/minute, got {self.rate}")
        if not _BITRATE.match(self.bitrate):
            raise AudioError(f"bitrate must look like '32k', got {self.bitrate!r}")
        if self.format not in FORMATS:
            raise AudioError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        rates = OPUS_SAMPLE_RATES if self.format == "opus" else MP3_SAMPLE_RATES
        if self.sample_rate not in rates:
            raise AudioError(f"sample rate {self.sample_rate} Hz is not an {self.format} rate")
        if not self.timeout_s > 0:
            raise AudioError(f"timeout_s must be positive, got {self.timeout_s}")
        if not 1 <= self.repeat <= MAX_REPEAT:
            raise AudioError(f"repeat must be 1-{MAX_REPEAT}, got {self.repeat}")
        if not 0 <= self.pause_ms <= MAX_PAUSE_MS:
            raise AudioError(f"pause_ms must be 0-{MAX_PAUSE_MS}, got {self.pause_ms}")
        if len(self.closing) > MAX_CLOSING_CHARS:
            raise AudioError(f"closing line longer than {MAX_CLOSING_CHARS} characters")
        if self.loudness_lufs is not None and not -40.0 <= self.loudness_lufs <= -6.0:
            raise AudioError(f"loudness target must be -40 to -6 LUFS, got {self.loudness_lufs}")
        if not (self.highpass_hz == 0 or 20 <= self.highpass_hz <= 500):
            raise AudioError(f"highpass_hz must be 0 (off) or 20-500, got {self.highpass_hz}")

    @classmethod
    def profile(cls, fmt: str, **changes: object) -> "RenderOptions":
        """Options for an output profile: ``mp3`` (32 kbps) or ``opus`` (16 kbps)."""
        if fmt not in PROFILE_BITRATE:
            raise AudioError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        values: dict[str, object] = {"format": fmt, "bitrate": PROFILE_BITRATE[fmt]}
        values.update(changes)
        return cls(**values)  # type: ignore[arg-type]
