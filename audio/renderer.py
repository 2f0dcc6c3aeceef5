"""Render notice text to a cached MP3: validate, synthesise, mix, encode, store."""

import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from audio.cache import AudioCache, RenderedAudio
from audio.encode import encode_mp3
from audio.keys import render_key
from audio.normalize import checked_text
from audio.options import RenderOptions
from audio.synth import SynthWorker, espeak_version

logger = logging.getLogger(__name__)


class Renderer:
    """Thread-safe text-to-MP3 renderer with a content-addressed cache.

    Owns one speech worker process, started on the first cache miss; call ``close()``
    (or use it as a context manager) to stop it.
    """

    def __init__(self, cache: AudioCache, options: RenderOptions | None = None) -> None:
        self._cache = cache
        self._options = options or RenderOptions()
        self._worker = SynthWorker()
        self._keys = _KeyLocks()

    @property
    def options(self) -> RenderOptions:
        return self._options

    @property
    def worker_pid(self) -> int | None:
        """Process id of the speech worker, if it is running."""
        return self._worker.pid

    @property
    def synthesis_count(self) -> int:
        """How many texts were sent to the speech engine (cache hits are not counted)."""
        return self._worker.jobs

    def cache_key(self, text: str, options: RenderOptions | None = None) -> str:
        """The cache key for ``text`` rendered with ``options`` (default: the renderer's)."""
        return render_key(checked_text(text), options or self._options, espeak_version())

    def render_text(self, text: str, options: RenderOptions | None = None) -> RenderedAudio:
        """The MP3 for ``text``: from the cache, or rendered and stored. Raises AudioError."""
        opts = options or self._options
        prepared = checked_text(text)
        key = render_key(prepared, opts, espeak_version())
        hit = self._cache.lookup(key)
        if hit is not None:
            return hit
        with self._keys.hold(key):  # one render per key at a time; others wait for its result
            hit = self._cache.lookup(key)
            if hit is not None:
                return hit
            return self._render(prepared, key, opts)

    def close(self) -> None:
        """Stop the speech worker. The renderer stays usable; a miss starts a new worker."""
        self._worker.close()

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _render(self, text: str, key: str, opts: RenderOptions) -> RenderedAudio:
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="cunxiang-audio-") as tmp:
            speech, mp3 = Path(tmp) / "speech.wav", Path(tmp) / "notice.mp3"
            self._worker.synthesize(text, speech, opts.voice, opts.rate, opts.timeout_s)
            duration_ms = encode_mp3(speech, mp3, opts)
            rendered = self._cache.store(key, mp3.read_bytes(), duration_ms)
        logger.info(
            "rendered %d characters to %s (%d ms of audio) in %.2f s",
            len(text),
            rendered.path.name,
            rendered.duration_ms,
            time.monotonic() - started,
        )
        return rendered


class _KeyLocks:
    """A lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._mutex:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._mutex:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)
