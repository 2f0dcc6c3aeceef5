"""Inspect encoded audio with ffprobe."""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from audio.errors import AudioError

PROBE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class AudioProbe:
    codec: str
    channels: int
    sample_rate: int
    duration_ms: int
    # ffprobe's format_name: the demuxer's names, e.g. "mp3", "wav", "amr",
    # "mov,mp4,m4a,3gp,3g2,mj2" (m4a and mp4), "ogg"
    container: str = ""


def probe_audio(path: Path) -> AudioProbe:
    """Codec, channels, sample rate and duration of the first audio stream of ``path``."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise AudioError("ffprobe not found; install ffmpeg")
    cmd = [
        ffprobe, "-v", "error", "-select_streams", "a:0", "-of", "json",
        "-show_entries", "stream=codec_name,channels,sample_rate:format=duration,format_name",
        str(path),
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as e:
        raise AudioError(f"ffprobe timed out on {path.name}") from e
    if proc.returncode != 0:
        raise AudioError(f"ffprobe failed on {path.name}: {stderr_summary(proc.stderr)}")
    try:
        info = json.loads(proc.stdout)
        stream = info["streams"][0]
        return AudioProbe(
            codec=str(stream["codec_name"]),
            channels=int(stream["channels"]),
            sample_rate=int(stream["sample_rate"]),
            duration_ms=round(float(info["format"]["duration"]) * 1000),
            container=str(info["format"].get("format_name", "")),
        )
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise AudioError(f"ffprobe found no usable audio stream in {path.name}") from e


def probe_duration_ms(path: Path) -> int:
    """Duration of the encoded audio file ``path`` in milliseconds."""
    return probe_audio(path).duration_ms


def stderr_summary(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no error output"
