"""A programme's audio: rendered notices, the chime and silences played one after another,
encoded once into the same output profile as a notice and stored in the cache.

The pieces are decoded from the cache (ffmpeg), joined with click-free edges and encoded
with the notice pipeline's encoder; the result is keyed by the pieces and the options, so
saving an unchanged programme again costs nothing.
"""

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.cache import AudioCache, RenderedAudio
from audio.encode import LIMIT_DBFS, Segment, encode
from audio.errors import AudioError
from audio.keys import PIPELINE_VERSION
from audio.loudness import gain_to_target
from audio.options import RenderOptions
from audio.pcm import CHIME_PAUSE_MS, CHIME_TONES, Pcm, chime, fade_edges, silence
from audio.probe import stderr_summary

MAX_SILENCE_MS = 600_000
# How long the chime item lasts: its tones and the pause after them.
CHIME_MS = sum(ms for _, ms in CHIME_TONES) + CHIME_PAUSE_MS


@dataclass(frozen=True)
class Piece:
    """One item: ``path`` (cached audio, named by its sha256), ``chime``, or ``silence_ms``."""

    path: Path | None = None
    chime: bool = False
    silence_ms: int = 0

    def describe(self) -> str:
        if self.path is not None:
            return f"audio:{self.path.stem}"
        if self.chime:
            return "chime"
        return f"silence:{self.silence_ms}"


def sequence_key(pieces: list[Piece], options: RenderOptions) -> str:
    doc = {
        "pipeline": PIPELINE_VERSION,
        "sequence": [p.describe() for p in pieces],
        "bitrate": options.bitrate,
        "sample_rate": options.sample_rate,
        "format": options.format,
        "loudness_lufs": options.loudness_lufs,
        "highpass_hz": options.highpass_hz,
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def decode(path: Path, rate: int, timeout_s: float) -> Pcm:
    """Encoded audio as mono 16-bit PCM at ``rate``."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError("ffmpeg not found; install ffmpeg")
    cmd = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
        "-i", str(path), "-vn", "-ac", "1", "-ar", str(rate), "-f", "s16le", "pipe:1",
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as e:
        raise AudioError(f"decoding {path.name} timed out after {timeout_s:g} s") from e
    if proc.returncode != 0:
        raise AudioError(f"cannot decode {path.name}: {stderr_summary(proc.stderr)}")
    return np.frombuffer(proc.stdout, dtype="<i2").copy()


def render_sequence(
    cache: AudioCache, pieces: list[Piece], options: RenderOptions, jobs: int = 2
) -> RenderedAudio:
    """The pieces played in order, from the cache or encoded and stored. Raises AudioError."""
    if not pieces:
        raise AudioError("a programme needs at least one item")
    key = sequence_key(pieces, options)
    hit = cache.lookup(key)
    if hit is not None:
        return hit
    rate = options.sample_rate
    segments: list[Segment] = []
    for piece in pieces:
        if piece.path is not None:
            samples = decode(piece.path, rate, options.timeout_s)
            if not len(samples):
                raise AudioError(f"{piece.path.name} holds no audio")
            segments.append(Segment((fade_edges(samples, rate),)))
        elif piece.chime:
            bell = chime(rate)
            gain = 0.0
            if options.loudness_lufs is not None:
                gain = gain_to_target([bell], rate, options.loudness_lufs, LIMIT_DBFS) or 0.0
            segments.append(Segment((bell,), max(-20.0, min(20.0, gain))))
        else:
            if not 0 < piece.silence_ms <= MAX_SILENCE_MS:
                raise AudioError(f"silence must be 1-{MAX_SILENCE_MS} ms")
            segments.append(Segment((silence(rate, piece.silence_ms),)))
    with tempfile.TemporaryDirectory(prefix="cunxiang-programme-") as tmp:
        out = Path(tmp) / f"programme.{options.format}"
        duration_ms = encode(segments, range(len(segments)), rate, out, options, jobs=jobs)
        return cache.store(key, out.read_bytes(), duration_ms, options.format)
