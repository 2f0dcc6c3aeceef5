"""Text or recordings to audio for village loudspeakers: Mandarin read as an announcer would,
espeak-ng speech in parallel workers, chime, repeats, loudness, MP3/Opus, a content cache.

Importing this package starts nothing; the speech workers start on the first render.
"""

from audio.cache import AudioCache, RenderedAudio
from audio.errors import AudioError
from audio.keys import PIPELINE_VERSION
from audio.normalize import MAX_TEXT_CHARS, prepare_text
from audio.options import FORMATS, RenderOptions
from audio.probe import probe_duration_ms
from audio.renderer import ProgressFn, Renderer
from audio.synth import synthesize_wav
from audio.textnorm import Lexicon, LexiconEntry, check_entry, normalize
from audio.upload import MAX_UPLOAD_BYTES, UPLOAD_EXTENSIONS

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
