"""Text or recordings to audio for village loudspeakers: Mandarin read as an announcer would,
espeak-ng speech in parallel workers, chime, repeats, loudness, MP3/Opus, a content cache.

Importing this package starts and loads nothing: the names below are imported on first
use (PEP 562), so a speech worker that needs only ``audio.worker`` does not pay for numpy
and the renderer; the speech workers start on the first render.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audio.cache import AudioCache, RenderedAudio
    from audio.errors import AudioError
    from audio.espeak import synthesize_wav
    from audio.keys import PIPELINE_VERSION
    from audio.normalize import MAX_TEXT_CHARS, prepare_text
    from audio.options import FORMATS, RenderOptions
    from audio.probe import probe_duration_ms
    from audio.renderer import ProgressFn, Renderer
    from audio.textnorm import Lexicon, LexiconEntry, check_entry, normalize
    from audio.upload import MAX_UPLOAD_BYTES, UPLOAD_EXTENSIONS

_WHERE = {
    "AudioCache": "audio.cache",
    "RenderedAudio": "audio.cache",
    "AudioError": "audio.errors",
    "PIPELINE_VERSION": "audio.keys",
    "MAX_TEXT_CHARS": "audio.normalize",
    "prepare_text": "audio.normalize",
    "FORMATS": "audio.options",
    "RenderOptions": "audio.options",
    "probe_duration_ms": "audio.probe",
    "ProgressFn": "audio.renderer",
    "Renderer": "audio.renderer",
    "synthesize_wav": "audio.espeak",
    "Lexicon": "audio.textnorm",
    "LexiconEntry": "audio.textnorm",
    "check_entry": "audio.textnorm",
    "normalize": "audio.textnorm",
    "MAX_UPLOAD_BYTES": "audio.upload",
    "UPLOAD_EXTENSIONS": "audio.upload",
}

__all__ = [
    "FORMATS",
    "MAX_TEXT_CHARS",
    "MAX_UPLOAD_BYTES",
    "PIPELINE_VERSION",
    "UPLOAD_EXTENSIONS",
    "AudioCache",
    "AudioError",
    "Lexicon",
    "LexiconEntry",
    "ProgressFn",
    "RenderOptions",
    "RenderedAudio",
    "Renderer",
    "check_entry",
    "normalize",
    "prepare_text",
    "probe_duration_ms",
    "synthesize_wav",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'audio' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
