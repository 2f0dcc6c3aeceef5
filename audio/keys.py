"""Render keys: a hash of everything that shapes the audio."""

import hashlib
import json

from audio.options import RenderOptions
from audio.sentences import MAX_CHUNK_CHARS

# Bump when the pipeline changes the audio it makes (chime, chunking, mixing, encoder flags).
PIPELINE_VERSION = 1


def render_key(text: str, options: RenderOptions, engine: str) -> str:
    """Hex sha256 over canonical JSON of prepared text, audio options and versions."""
    doc = {
        "pipeline": PIPELINE_VERSION,
        "engine": engine,
        "chunk_chars": MAX_CHUNK_CHARS,
        "text": text,
        "voice": options.voice,
        "rate": options.rate,
        "chime": options.chime,
        "bitrate": options.bitrate,
        "sample_rate": options.sample_rate,
        "format": "mp3",
    }
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
