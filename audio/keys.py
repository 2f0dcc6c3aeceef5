"""Render keys: a hash of everything that shapes the audio."""

import hashlib
import json

from audio.options import RenderOptions
from audio.textnorm import NORMALIZER_VERSION

# Bump when the pipeline changes the audio it makes (chime, chunking, mixing, encoder flags).
PIPELINE_VERSION = 3
CHUNK_CHARS = 150


def render_key(text: str, options: RenderOptions, engine: str, lexicon: str = "") -> str:
    """Hex sha256 over canonical JSON of the spoken text, audio options and versions.

    ``lexicon`` is a digest of the lexicon entries that changed this text, so editing an
    entry renders again exactly the notices it applies to.
    """
    doc = {
        "pipeline": PIPELINE_VERSION,
        "normalizer": NORMALIZER_VERSION,
        "engine": engine,
        "chunk_chars": CHUNK_CHARS,
        "text": text,
        "lexicon": lexicon,
        "voice": options.voice,
        "rate": options.rate,
        "chime": options.chime,
        "bitrate": options.bitrate,
        "sample_rate": options.sample_rate,
        "format": options.format,
        "repeat": options.repeat,
        "pause_ms": options.pause_ms,
        "closing": options.closing,
        "loudness_lufs": options.loudness_lufs,
        "highpass_hz": options.highpass_hz,
    }
    return _digest(doc)


def upload_key(content_sha256: str, options: RenderOptions) -> str:
    """Key for an uploaded recording: its bytes and the options that shape the output."""
    doc = {
        "pipeline": PIPELINE_VERSION,
        "upload": content_sha256,
        "chime": options.chime,
        "bitrate": options.bitrate,
        "sample_rate": options.sample_rate,
        "format": options.format,
        "repeat": options.repeat,
        "pause_ms": options.pause_ms,
        "loudness_lufs": options.loudness_lufs,
        "highpass_hz": options.highpass_hz,
    }
    return _digest(doc)


def _digest(doc: dict[str, object]) -> str:
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
