"""Render notice text (or a recording) to cached audio for outdoor horns.

Text: validate, read it as an announcer would (``audio.textnorm``), split at sentences,
synthesise the chunks in parallel (``audio.pool``), and shape and encode them while later
chunks are still being spoken (``audio.assembly``): chime, speech (repeated with pauses)
and the closing line with gain, high-pass and limiter.
"""

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from audio.assembly import Assembly
from audio.cache import AudioCache, RenderedAudio
from audio.errors import AudioError
from audio.espeak import espeak_version
from audio.keys import CHUNK_CHARS, render_key, upload_key
from audio.normalize import checked_text
from audio.options import RenderOptions
from audio.pcm import Pcm, fade_edges
from audio.pool import SynthPool
from audio.sentences import split_chunks
from audio.synth import PinyinWorker
from audio.textnorm import Lexicon, normalize

logger = logging.getLogger(__name__)

# Called with (stage, done, total): stage is "synthesis" or "encoding".
ProgressFn = Callable[[str, int, int], None]


class Renderer:
    """Thread-safe text-to-audio renderer with a content-addressed cache.

    Owns a pool of speech threads (one per core, at most two, each running espeak-ng
    processes), started on the first cache miss; call ``close()`` (or use it as a context
    manager) to stop them.
    """

    def __init__(
        self,
        cache: AudioCache,
        options: RenderOptions | None = None,
        workers: int | None = None,
        lexicon: Lexicon | None = None,
        pinyin: PinyinWorker | None = None,
    ) -> None:
        self._cache = cache
        self._options = options or RenderOptions()
        self._pool = SynthPool(workers, pinyin)
        self._keys = _KeyLocks()
        self.lexicon = lexicon or Lexicon()

    @property
    def options(self) -> RenderOptions:
        return self._options

    @property
    def cache(self) -> AudioCache:
        return self._cache

    @property
    def worker_pid(self) -> int | None:
        """Process id of the pinyin worker, if it is running."""
        return self._pool.pinyin_pid

    @property
    def speech_pids(self) -> list[int]:
        """Process ids of the espeak-ng processes speaking right now."""
        return self._pool.speech_pids

    @property
    def peak_parallel(self) -> int:
        """The most espeak-ng processes that ever ran at once for this renderer."""
        return self._pool.peak_parallel

    def warm_up(self) -> None:
        """Start loading the speech helpers now, in the background: a caller that expects
        to render (``cunxiang speak``) overlaps it with reading and normalising the text."""
        self._pool.warm_up()

    @property
    def synthesis_count(self) -> int:
        """How many chunks were sent to the speech engine (cache hits are not counted)."""
        return self._pool.jobs

    def spoken_text(self, text: str, lexicon: Lexicon | None = None) -> str:
        """What will be said for ``text``, in Chinese characters (``--normalize-only``)."""
        return normalize(checked_text(text), self._lexicon(lexicon))

    def cache_key(
        self, text: str, options: RenderOptions | None = None, lexicon: Lexicon | None = None
    ) -> str:
        """The cache key for ``text`` rendered with ``options`` (default: the renderer's)."""
        return self._key(checked_text(text), options or self._options, self._lexicon(lexicon))[0]

    def render_text(
        self,
        text: str,
        options: RenderOptions | None = None,
        lexicon: Lexicon | None = None,
        progress: ProgressFn | None = None,
    ) -> RenderedAudio:
        """The audio for ``text``: from the cache, or rendered and stored. Raises AudioError."""
        opts = options or self._options
        key, spoken = self._key(checked_text(text), opts, self._lexicon(lexicon))
        hit = self._cache.lookup(key)
        if hit is not None:
            return hit
        with self._keys.hold(key):  # one render per key at a time; others wait for its result
            hit = self._cache.lookup(key)
            if hit is not None:
                return hit
            return self._render(spoken, key, opts, progress)

    def render_file(self, source: Path, options: RenderOptions | None = None) -> RenderedAudio:
        """A staff recording (mp3, wav, m4a, amr...) checked, shaped and encoded like speech."""
        from audio.upload import decode_upload, file_sha256

        opts = options or self._options
        key = upload_key(file_sha256(source), opts)
        hit = self._cache.lookup(key)
        if hit is not None:
            return hit
        with self._keys.hold(key):
            hit = self._cache.lookup(key)
            if hit is not None:
                return hit
            started = time.monotonic()
            samples, rate = decode_upload(source, opts.timeout_s)
            with (
                tempfile.TemporaryDirectory(prefix="cunxiang-audio-") as tmp,
                Assembly(Path(tmp), opts, 1, jobs=self._pool.size) as assembly,
            ):
                assembly.add(fade_edges(samples, rate), rate)
                rendered = self._finish(key, assembly, [], opts, None)
            logger.info(
                "rendered upload %s to %s in %.2f s",
                source.name,
                rendered.path.name,
                time.monotonic() - started,
            )
            return rendered

    def close(self) -> None:
        """Stop the speech workers. The renderer stays usable; a miss starts new ones."""
        self._pool.close()

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _lexicon(self, lexicon: Lexicon | None) -> Lexicon:
        return lexicon if lexicon is not None else self.lexicon

    def _key(self, prepared: str, opts: RenderOptions, lexicon: Lexicon) -> tuple[str, str]:
        spoken = normalize(prepared, lexicon)
        used = lexicon.used_by(prepared)
        key = render_key(spoken, opts, espeak_version(), used.digest() if used else "")
        return key, spoken

    def _render(
        self, spoken: str, key: str, opts: RenderOptions, progress: ProgressFn | None
    ) -> RenderedAudio:
        started = time.monotonic()
        self._pool.warm_up()  # no-op when a caller's warm_up already started it
        chunks = split_chunks(spoken, CHUNK_CHARS)
        closing = [normalize(opts.closing)] if opts.closing.strip() else []
        if not chunks:
            raise AudioError("text has nothing to pronounce")

        def synth_progress(done: int, total: int) -> None:
            if progress is not None:
                progress("synthesis", done, total)

        futures = self._pool.submit(
            chunks + closing, opts.voice, opts.rate, opts.timeout_s, synth_progress
        )
        try:
            with (
                tempfile.TemporaryDirectory(prefix="cunxiang-audio-") as tmp,
                Assembly(Path(tmp), opts, len(chunks), jobs=self._pool.size) as assembly,
            ):
                for future in futures[: len(chunks)]:
                    samples, rate = future.result()
                    assembly.add(fade_edges(samples, rate), rate)
                closing_pcm = [fade_edges(*f.result()) for f in futures[len(chunks) :]]
                rendered = self._finish(key, assembly, closing_pcm, opts, progress)
        finally:
            for future in futures:
                future.cancel()
        logger.info(
            "rendered %d characters to %s (%d ms of audio) in %.2f s",
            len(spoken),
            rendered.path.name,
            rendered.duration_ms,
            time.monotonic() - started,
        )
        return rendered

    def _finish(
        self,
        key: str,
        assembly: Assembly,
        closing: list[Pcm],
        opts: RenderOptions,
        progress: ProgressFn | None,
    ) -> RenderedAudio:
        if progress is not None:
            progress("encoding", 0, 1)
        out, duration_ms = assembly.finish(closing)
        rendered = self._cache.store(key, out.read_bytes(), duration_ms, opts.format)
        if progress is not None:
            progress("encoding", 1, 1)
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
