"""Render notice text (or a recording) to cached audio for outdoor horns.

Text: validate, read it as an announcer would (``audio.textnorm``), split at sentences,
synthesise the chunks in parallel worker processes, measure loudness, then encode chime,
speech (repeated with pauses) and the closing line with gain, high-pass and limiter.
"""

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from audio.cache import AudioCache, RenderedAudio
from audio.encode import LIMIT_DBFS, Segment, encode
from audio.errors import AudioError
from audio.keys import CHUNK_CHARS, render_key, upload_key
from audio.loudness import gain_to_target
from audio.normalize import checked_text
from audio.options import RenderOptions
from audio.pcm import Pcm, chime, fade_edges, read_wav, silence
from audio.pool import SynthPool
from audio.sentences import split_chunks
from audio.synth import espeak_version
from audio.textnorm import Lexicon, normalize

logger = logging.getLogger(__name__)

# Called with (stage, done, total): stage is "synthesis" or "encoding".
ProgressFn = Callable[[str, int, int], None]
MAX_GAIN_DB = 20.0


class Renderer:
    """Thread-safe text-to-audio renderer with a content-addressed cache.

    Owns a pool of speech worker processes (one per core, at most two), started on the
    first cache miss; call ``close()`` (or use it as a context manager) to stop them.
    """

    def __init__(
        self,
        cache: AudioCache,
        options: RenderOptions | None = None,
        workers: int | None = None,
        lexicon: Lexicon | None = None,
    ) -> None:
        self._cache = cache
        self._options = options or RenderOptions()
        self._pool = SynthPool(workers)
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
        """Process id of a running speech worker, if any is running."""
        pids = self._pool.pids
        return pids[0] if pids else None

    @property
    def worker_pids(self) -> list[int]:
        return self._pool.pids

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
            rendered = self._assemble(key, [fade_edges(samples, rate)], rate, [], opts, None)
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
        self._pool.warm_up()  # workers start while the text is converted
        chunks = split_chunks(spoken, CHUNK_CHARS)  # workers turn them into pinyin
        closing = [normalize(opts.closing)] if opts.closing.strip() else []
        if not chunks:
            raise AudioError("text has nothing to pronounce")

        def synth_progress(done: int, total: int) -> None:
            if progress is not None:
                progress("synthesis", done, total)

        with tempfile.TemporaryDirectory(prefix="cunxiang-audio-") as tmp:
            wavs = self._pool.synthesize(
                chunks + closing, Path(tmp), opts.voice, opts.rate, opts.timeout_s, synth_progress
            )
            pieces: list[Pcm] = []
            rate = 0
            for wav in wavs:
                samples, rate = read_wav(wav)
                pieces.append(fade_edges(samples, rate))
        speech, closing_pcm = pieces[: len(chunks)], pieces[len(chunks) :]
        rendered = self._assemble(key, speech, rate, closing_pcm, opts, progress)
        logger.info(
            "rendered %d characters to %s (%d ms of audio) in %.2f s",
            len(spoken),
            rendered.path.name,
            rendered.duration_ms,
            time.monotonic() - started,
        )
        return rendered

    def _assemble(
        self,
        key: str,
        speech: list[Pcm],
        rate: int,
        closing: list[Pcm],
        opts: RenderOptions,
        progress: ProgressFn | None,
    ) -> RenderedAudio:
        gain = _gain_db(speech, rate, opts.loudness_lufs)
        # The spoken notice in two halves (split between chunks), encoded in parallel.
        half = _split_point(speech)
        segments = [Segment(tuple(speech[:half]), gain)]
        if half < len(speech):
            segments.append(Segment(tuple(speech[half:]), gain))
        body = list(range(len(segments)))
        order: list[int] = []
        if opts.chime:
            bell = chime(rate)
            segments.append(Segment((bell,), _gain_db([bell], rate, opts.loudness_lufs)))
            order.append(len(segments) - 1)
        pause = len(segments)
        segments.append(Segment((silence(rate, max(opts.pause_ms, 1)),)))
        for i in range(opts.repeat):
            if i:
                order.append(pause)
            order.extend(body)
        if closing:
            segments.append(Segment(tuple(closing), _gain_db(closing, rate, opts.loudness_lufs)))
            order.extend((pause, len(segments) - 1))
        if progress is not None:
            progress("encoding", 0, 1)
        with tempfile.TemporaryDirectory(prefix="cunxiang-encode-") as tmp:
            out = Path(tmp) / f"notice.{opts.format}"
            duration_ms = encode(segments, order, rate, out, opts, jobs=self._pool.size)
            rendered = self._cache.store(key, out.read_bytes(), duration_ms, opts.format)
        if progress is not None:
            progress("encoding", 1, 1)
        return rendered


def _gain_db(parts: list[Pcm], rate: int, target: float | None) -> float:
    if target is None:
        return 0.0
    gain = gain_to_target(parts, rate, target, LIMIT_DBFS)
    if gain is None:
        return 0.0
    return max(-MAX_GAIN_DB, min(MAX_GAIN_DB, gain))


def _split_point(pieces: list[Pcm]) -> int:
    """How many pieces make the first half of the samples (1 to len - 1 when possible)."""
    if len(pieces) < 2:
        return len(pieces)
    total, running = sum(len(p) for p in pieces), 0
    for i, piece in enumerate(pieces):
        running += len(piece)
        if running * 2 >= total:
            return min(max(1, i + 1), len(pieces) - 1)
    return len(pieces) - 1


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
