"""Shape and encode speech with ffmpeg: gain, high-pass, limiter, MP3 or Opus.

MP3 (CBR, no Xing/LAME tag) is encoded as independent segments that are concatenated
byte for byte: each segment starts and ends in silence, so joins are click-free, and the
spoken notice is encoded once however often it is repeated. Segments are encoded in
parallel, one ffmpeg per core. Opus (Ogg) is encoded in one pass.
"""

import contextlib
import queue
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.errors import AudioError
from audio.options import RenderOptions
from audio.pcm import Pcm
from audio.probe import probe_audio, stderr_summary

LIMIT_DBFS = -1.0
# LAME quality 7: half the encoder time of the default at 32 kbps speech, same bitrate.
MP3_QUALITY = "7"
OPUS_COMPRESSION = "5"
# Each independently encoded MP3 segment adds encoder delay and frame padding.
SEGMENT_SLACK_MS = 120
DURATION_TOLERANCE_MS = 250


@dataclass(frozen=True)
class Segment:
    """PCM pieces played one after another, with a gain in dB applied before the limiter."""

    pieces: tuple[Pcm, ...]
    gain_db: float = 0.0

    @property
    def frames(self) -> int:
        return sum(len(p) for p in self.pieces)


def encode(
    segments: Sequence[Segment],
    order: Sequence[int],
    rate: int,
    out: Path,
    options: RenderOptions,
    jobs: int = 2,
) -> int:
    """Encode ``segments`` played in ``order`` (indices, repeats allowed) into ``out``.

    Returns the measured duration in ms.
    """
    expected_ms = sum(segments[i].frames for i in order) * 1000 // rate
    if options.format == "mp3":
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".enc-") as tmp:
            paths = [Path(tmp) / f"{i}.mp3" for i in range(len(segments))]
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                list(
                    pool.map(
                        lambda i: _ffmpeg([segments[i]], rate, paths[i], options),
                        range(len(segments)),
                    )
                )
            data = [p.read_bytes() for p in paths]
            with out.open("wb") as f:
                for i in order:
                    f.write(data[i])
        slack = SEGMENT_SLACK_MS * len(order)
    else:
        _ffmpeg([segments[i] for i in order], rate, out, options)
        slack = 0
    return checked_output(out, options, expected_ms, slack)


def checked_output(out: Path, options: RenderOptions, expected_ms: int, slack_ms: int) -> int:
    """Probe what ffmpeg wrote: the profile's codec, one channel, about ``expected_ms``
    long (up to ``slack_ms`` longer); returns the measured duration in ms."""
    probe = probe_audio(out)
    codec = "mp3" if options.format == "mp3" else "opus"
    if (probe.codec, probe.channels) != (codec, 1) or (
        codec == "mp3" and probe.sample_rate != options.sample_rate
    ):
        raise AudioError(
            f"ffmpeg wrote {probe.codec}, {probe.channels} channel(s), {probe.sample_rate} Hz; "
            f"expected {codec}, 1 channel, {options.sample_rate} Hz"
        )
    if (
        not -DURATION_TOLERANCE_MS
        <= probe.duration_ms - expected_ms
        <= (DURATION_TOLERANCE_MS + slack_ms)
    ):
        raise AudioError(f"ffmpeg output lasts {probe.duration_ms} ms, expected {expected_ms} ms")
    return probe.duration_ms


def _filters(options: RenderOptions) -> str:
    # Resample first: the high-pass, the limiter and the encoder then run on fewer samples.
    chain = [f"aresample={options.sample_rate}"]
    if options.highpass_hz:
        chain.append(f"highpass=f={options.highpass_hz}")
    limit = 10 ** (LIMIT_DBFS / 20)
    chain.append(f"alimiter=limit={limit:.4f}:level=0:attack=5:release=80")
    return ",".join(chain)


def encode_segment(segment: Segment, rate: int, out: Path, options: RenderOptions) -> None:
    """Encode one segment into ``out`` (MP3 segments concatenate byte for byte)."""
    _ffmpeg([segment], rate, out, options)


class StreamEncoder:
    """One ffmpeg fed PCM piece by piece (gain applied) as it becomes available.

    ``write`` only queues: a feeder thread of its own sends the samples, so several
    encoders run in parallel however fast each one is. Use as a context manager;
    ``finish()`` waits for ffmpeg and raises AudioError if it failed or outlived
    ``options.timeout_s``; leaving the block without it kills ffmpeg.
    """

    def __init__(self, rate: int, out: Path, options: RenderOptions) -> None:
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise AudioError("ffmpeg not found; install ffmpeg")
        codec = (
            ["-c:a", "libmp3lame", "-b:a", options.bitrate, "-compression_level", MP3_QUALITY,
             "-write_xing", "0", "-id3v2_version", "0", "-f", "mp3"]
            if options.format == "mp3"
            else ["-c:a", "libopus", "-b:a", options.bitrate, "-application", "voip",
                  "-compression_level", OPUS_COMPRESSION, "-f", "ogg"]
        )  # fmt: skip
        cmd = [
            ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "f32le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0",
            "-af", _filters(options),
            "-map_metadata", "-1", "-ac", "1", "-ar", str(options.sample_rate),
            *codec, str(out),
        ]  # fmt: skip
        self._timeout_s = options.timeout_s
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err
        )
        self._timed_out = threading.Event()
        self._timer = threading.Timer(options.timeout_s, self._kill)
        self._timer.daemon = True
        self._timer.start()
        self._queue: queue.SimpleQueue[tuple[Sequence[Pcm], float] | None] = queue.SimpleQueue()
        self._feeder = threading.Thread(target=self._feed, name="cunxiang-enc", daemon=True)
        self._feeder.start()

    def _kill(self) -> None:
        self._timed_out.set()
        self._proc.kill()

    def write(self, pieces: Sequence[Pcm], gain_db: float = 0.0) -> None:
        """Queue ``pieces`` (16-bit PCM), to be scaled by ``gain_db`` and encoded."""
        self._queue.put((tuple(pieces), gain_db))

    def _feed(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        broken = False
        while (item := self._queue.get()) is not None:
            if broken:
                continue  # drain: ffmpeg stopped early; its exit status and stderr say why
            pieces, gain_db = item
            scale = np.float32(10 ** (gain_db / 20) / 32768)
            try:
                for piece in pieces:
                    stdin.write((piece * scale).astype("<f4", copy=False).tobytes())
            except (BrokenPipeError, ValueError):
                broken = True
        with contextlib.suppress(BrokenPipeError, ValueError):
            stdin.close()

    def finish(self) -> None:
        """Wait until everything queued is encoded; raises AudioError if ffmpeg failed."""
        self._queue.put(None)
        self._feeder.join()
        code = self._proc.wait()
        self._timer.cancel()
        if self._timed_out.is_set():
            raise AudioError(f"ffmpeg timed out after {self._timeout_s:g} s")
        if code != 0:
            self._err.seek(0)
            raise AudioError(f"ffmpeg failed (exit {code}): {stderr_summary(self._err.read())}")

    def __enter__(self) -> "StreamEncoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        if self._proc.poll() is None:
            self._proc.kill()
        self._queue.put(None)
        self._feeder.join()
        self._proc.wait()
        self._err.close()


def _ffmpeg(segments: Sequence[Segment], rate: int, out: Path, options: RenderOptions) -> None:
    """Pipe the segments' PCM, gain applied, as 32-bit float through one ffmpeg."""
    with StreamEncoder(rate, out, options) as encoder:
        for segment in segments:
            encoder.write(segment.pieces, segment.gain_db)
        encoder.finish()
