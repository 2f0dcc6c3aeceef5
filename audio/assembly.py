"""A notice's audio, encoded while its speech is still being synthesised.

The order is: chime, the spoken notice (repeated, with pauses between), a pause and the
closing line. Speech arrives piece by piece, in order, and is fed at once to streaming
encoders (``encode.StreamEncoder``), so encoding overlaps synthesis:

- MP3: the notice is encoded in two halves by two ffmpeg processes running in parallel,
  each an independent CBR MP3 stream; they (and the chime, pause and closing line when the
  notice is repeated) are concatenated byte for byte: every part starts and ends in
  silence, and a repeat costs no encoding at all.
- Opus: one ffmpeg is fed the whole sequence (Ogg streams cannot be concatenated).

The loudness gain is measured on the first ``GAIN_S`` seconds of speech (all of a shorter
notice) and applied to all of it: synthetic speech is steady, so the first minute predicts
the rest within a fraction of a LU, and encoding need not wait for the end.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from audio.encode import (
    LIMIT_DBFS,
    SEGMENT_SLACK_MS,
    Segment,
    StreamEncoder,
    checked_output,
    encode_segment,
)
from audio.errors import AudioError
from audio.loudness import gain_to_target
from audio.options import RenderOptions
from audio.pcm import Pcm, chime, silence

GAIN_S = 60.0
# Loudness is measured on at most this much of the speech (evenly spread 10 s slices).
GAIN_MEASURED_S = 30.0
MAX_GAIN_DB = 20.0


class Assembly:
    """Takes ``pieces`` pieces of speech with ``add`` (in order); ``finish`` returns the
    encoded file and its duration. A context manager: leaving it stops every encoder."""

    def __init__(self, directory: Path, options: RenderOptions, pieces: int, jobs: int = 2) -> None:
        self._dir = directory
        self._opts = options
        self._rate = 0
        self._gain: float | None = None
        self._pending: list[Pcm] = []  # pieces waiting for the gain
        self._added = 0
        self._frames = 0  # of one reading of the notice
        self._body: list[Pcm] = []  # every piece, for the repeats of an Opus stream
        # MP3 halves: pieces [0, split) go to the first stream, the others to the second.
        halves = options.format == "mp3" and jobs >= 2 and pieces >= 2
        self._split = (pieces + 1) // 2 if halves else pieces
        self._streams: list[tuple[StreamEncoder, Path]] = []
        self._stack = ExitStack()
        self._executor = ThreadPoolExecutor(max(1, jobs), thread_name_prefix="cunxiang-enc")
        self._extras: dict[str, Future[Path]] = {}

    @property
    def _repeated(self) -> bool:
        return self._opts.repeat > 1 and self._opts.format == "mp3"

    def add(self, samples: Pcm, rate: int) -> None:
        """The next piece of speech (16-bit mono at ``rate``)."""
        if self._rate and rate != self._rate:
            raise AudioError(f"speech pieces at {rate} Hz and {self._rate} Hz")
        self._rate = rate
        index = self._added
        self._added += 1
        self._frames += len(samples)
        if self._opts.format != "mp3" and self._opts.repeat > 1:
            self._body.append(samples)
        if self._gain is None:
            self._pending.append(samples)
            if sum(len(p) for p in self._pending) < GAIN_S * rate:
                return
            self._set_gain()
            return
        self._stream_for(index).write([samples], self._gain)

    def _set_gain(self) -> None:
        pending, self._pending = self._pending, []
        self._gain = _gain_db(pending, self._rate, self._opts.loudness_lufs)
        for offset, piece in enumerate(pending):
            self._stream_for(self._added - len(pending) + offset).write([piece], self._gain)

    def _stream_for(self, index: int) -> StreamEncoder:
        wanted = 0 if index < self._split else 1
        while len(self._streams) <= wanted:
            self._open_stream()
        return self._streams[wanted][0]

    def _open_stream(self) -> None:
        path = self._dir / f"speech-{len(self._streams)}.{self._opts.format}"
        encoder = self._stack.enter_context(StreamEncoder(self._rate, path, self._opts))
        if not self._streams:
            if self._repeated:  # the notice's own segments must start with speech
                self._extras = self._extra_segments()
            elif self._opts.chime:
                bell = _chime_segment(self._rate, self._opts)
                encoder.write(bell.pieces, bell.gain_db)
        self._streams.append((encoder, path))

    def _extra_segments(self) -> dict[str, Future[Path]]:
        parts = {"pause": Segment((self._pause(),))}
        if self._opts.chime:
            parts["chime"] = _chime_segment(self._rate, self._opts)
        return {name: self._encode(name, seg) for name, seg in parts.items()}

    def _pause(self) -> Pcm:
        return silence(self._rate, max(self._opts.pause_ms, 1))

    def finish(self, closing: list[Pcm]) -> tuple[Path, int]:
        """Encode what is left and join it all; returns the file and its duration in ms."""
        if not self._frames:
            raise AudioError("nothing to encode: no speech")
        if self._gain is None:
            self._set_gain()
        opts, rate, pause = self._opts, self._rate, self._pause()
        closing_gain = _gain_db(closing, rate, opts.loudness_lufs)
        last = self._streams[-1][0]
        if opts.format != "mp3":
            for _ in range(opts.repeat - 1):
                last.write([pause])
                last.write(self._body, self._gain_value())
        if closing and self._repeated:
            self._extras["closing"] = self._encode(
                "closing", Segment((pause, *closing), closing_gain)
            )
        elif closing:
            last.write([pause])
            last.write(closing, closing_gain)
        for encoder, _ in self._streams:
            encoder.finish()
        out = self._dir / f"notice.{opts.format}"
        body = [path for _, path in self._streams]
        if len(body) == 1 and not self._extras:
            body[0].rename(out)
            segments = 1
        else:
            order = [self._extras["chime"].result()] if "chime" in self._extras else []
            for i in range(opts.repeat):
                if i:
                    order.append(self._extras["pause"].result())
                order.extend(body)
            if "closing" in self._extras:
                order.append(self._extras["closing"].result())
            with out.open("wb") as f:
                for path in order:
                    f.write(path.read_bytes())
            segments = len(order)
        frames = opts.repeat * self._frames + (opts.repeat - 1) * len(pause)
        if opts.chime:
            frames += len(chime(rate))
        if closing:
            frames += len(pause) + sum(len(p) for p in closing)
        slack = SEGMENT_SLACK_MS * segments if opts.format == "mp3" else 0
        return out, checked_output(out, opts, frames * 1000 // rate, slack)

    def _gain_value(self) -> float:
        assert self._gain is not None
        return self._gain

    def _encode(self, name: str, segment: Segment) -> Future[Path]:
        path = self._dir / f"{name}.mp3"

        def run() -> Path:
            encode_segment(segment, self._rate, path, self._opts)
            return path

        return self._executor.submit(run)

    def __enter__(self) -> Assembly:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._stack.close()
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)


def _chime_segment(rate: int, opts: RenderOptions) -> Segment:
    bell = chime(rate)
    return Segment((bell,), _gain_db([bell], rate, opts.loudness_lufs))


def _gain_db(parts: list[Pcm], rate: int, target: float | None) -> float:
    if target is None or not parts:
        return 0.0
    gain = gain_to_target(parts, rate, target, LIMIT_DBFS, GAIN_MEASURED_S)
    if gain is None:
        return 0.0
    return max(-MAX_GAIN_DB, min(MAX_GAIN_DB, gain))
