"""Checks and joins the WAV files the speech engine writes."""

import struct
import wave
from dataclasses import dataclass
from pathlib import Path

from audio.errors import AudioError


@dataclass(frozen=True)
class WavInfo:
    channels: int
    sample_width: int
    frame_rate: int
    frames: int

    @property
    def duration_ms(self) -> int:
        return round(self.frames * 1000 / self.frame_rate)


def check_wav(path: Path) -> WavInfo:
    """Return the WAV's format if it is complete: parsable, non-empty, sized as its header says."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(12)
            f.seek(0)
            with wave.open(f, "rb") as w:
                info = WavInfo(w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())
    except (OSError, EOFError, wave.Error) as e:
        raise AudioError(f"speech engine wrote an unreadable WAV {path.name}: {e}") from e
    riff_size = struct.unpack("<I", head[4:8])[0]
    if head[:4] != b"RIFF" or riff_size + 8 != size:
        raise AudioError(f"speech engine wrote an incomplete WAV {path.name}")
    if info.frames <= 0:
        raise AudioError(f"speech engine wrote an empty WAV {path.name}")
    return info


def join_wavs(parts: list[Path], out: Path) -> WavInfo:
    """Concatenate WAV files of one format into ``out``; returns the joined file's format."""
    if not parts:
        raise AudioError("nothing to join: no WAV parts")
    first = check_wav(parts[0])
    with wave.open(str(out), "wb") as dst:
        dst.setnchannels(first.channels)
        dst.setsampwidth(first.sample_width)
        dst.setframerate(first.frame_rate)
        for part in parts:
            with wave.open(str(part), "rb") as src:
                fmt = (src.getnchannels(), src.getsampwidth(), src.getframerate())
                if fmt != (first.channels, first.sample_width, first.frame_rate):
                    raise AudioError(f"WAV part {part.name} has format {fmt}, expected the first's")
                dst.writeframes(src.readframes(src.getnframes()))
    return check_wav(out)
