"""Text to MP3 for village loudspeakers: espeak-ng speech, a chime, a content-addressed cache.

Importing this package starts nothing; the speech worker starts on the first render.
"""

from audio.cache import AudioCache, RenderedAudio
from audio.errors import AudioError
from audio.keys import PIPELINE_VERSION
from audio.normalize import MAX_TEXT_CHARS, prepare_text
from audio.options import RenderOptions
from audio.probe import probe_duration_ms
from audio.renderer import Renderer
from audio.synth import synthesize_wav

__all__ = [
    "MAX_TEXT_CHARS",
    "PIPELINE_VERSION",
    "AudioCache",
    "AudioError",
    "RenderOptions",
    "RenderedAudio",
    "Renderer",
    "prepare_text",
    "probe_duration_ms",
    "synthesize_wav",
]
