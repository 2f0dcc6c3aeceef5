"""Staff recordings (phones record m4a and amr) checked and decoded for the speech pipeline."""

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np

from audio.errors import AudioError
from audio.pcm import Pcm
from audio.probe import probe_audio, stderr_summary

MAX_UPLOAD_BYTES = 30 * 1024 * 1024
MAX_UPLOAD_SECONDS = 20 * 60
MIN_UPLOAD_MS = 300
DECODE_RATE = 16000
UPLOAD_EXTENSIONS = (".mp3", ".wav", ".m4a", ".mp4", ".amr")
# Containers accepted, as ffprobe names them (whatever the file is called): MP3, WAV, the
# MPEG-4 family (phones' m4a; also 3gp) and AMR. Anything else is refused before decoding.
UPLOAD_CONTAINERS = frozenset({"mp3", "wav", "mp4", "m4a", "amr"})
# A recording whose loudest sample stays under this is silence, not speech (-60 dBFS).
SILENCE_PEAK = 33


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_upload(path: Path) -> int:
    """Refuse what is not a usable recording; returns its duration in ms."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise AudioError(f"cannot read the uploaded file: {e}") from e
    if size == 0:
        raise AudioError("the uploaded file is empty")
    if size > MAX_UPLOAD_BYTES:
        raise AudioError(
            f"the uploaded file is {size // (1024 * 1024)} MB, at most "
            f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
        )
    try:
        probe = probe_audio(path)
    except AudioError as e:
        raise AudioError("the uploaded file is not a recording ffmpeg can read") from e
    if not UPLOAD_CONTAINERS.intersection(probe.container.split(",")):
        raise AudioError(
            f"the uploaded file is a {probe.container or 'unknown'} file, "
            "not an accepted recording format (mp3, wav, m4a, amr)"
        )
    if probe.duration_ms < MIN_UPLOAD_MS:
        raise AudioError("the recording is too short")
    if probe.duration_ms > MAX_UPLOAD_SECONDS * 1000:
        raise AudioError(f"the recording is longer than {MAX_UPLOAD_SECONDS // 60} minutes")
    return probe.duration_ms


def decode_upload(path: Path, timeout_s: float) -> tuple[Pcm, int]:
    """Check ``path`` and decode it to mono 16-bit PCM at ``DECODE_RATE``."""
    check_upload(path)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError("ffmpeg not found; install ffmpeg")
    cmd = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
        "-i", str(path), "-vn", "-ac", "1", "-ar", str(DECODE_RATE),
        "-f", "s16le", "pipe:1",
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as e:
        raise AudioError(f"decoding the recording timed out after {timeout_s:g} s") from e
    if proc.returncode != 0:
        raise AudioError(f"cannot decode the recording: {stderr_summary(proc.stderr)}")
    samples = np.frombuffer(proc.stdout, dtype="<i2").copy()
    if len(samples) < DECODE_RATE * MIN_UPLOAD_MS // 1000:
        raise AudioError("the recording is too short")
    if int(np.abs(samples.astype(np.int32)).max()) < SILENCE_PEAK:
        raise AudioError("the recording is silent")
    return samples, DECODE_RATE
