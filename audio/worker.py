"""The speech worker process: drives pyttsx3 (libespeak-ng) one job at a time.

Runs in a process started with the ``spawn`` method; talks to ``audio.synth.SynthWorker``
over a pipe. pyttsx3 is not thread-safe, hangs after a fork and returns from its first
``runAndWait`` before the file is written, so the engine is initialised once, warmed up,
and every utterance is awaited on its ``finished-utterance`` callback with a deadline.
"""

import logging
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from audio.errors import AudioError
from audio.sentences import split_chunks
from audio.textnorm.pinyin import to_pinyin
from audio.wavfile import WavInfo, check_wav, join_wavs

logger = logging.getLogger(__name__)

WARM_UP_TIMEOUT_S = 30.0
IDLE_POLL_S = 0.002


@dataclass(frozen=True)
class SynthJob:
    """Speak ``chunks`` one after another into the WAV file ``out``."""

    chunks: tuple[str, ...]
    out: Path
    voice: str
    rate: int
    timeout_s: float


@dataclass(frozen=True)
class Ready:
    pid: int


@dataclass(frozen=True)
class Failed:
    message: str
    fatal: bool  # the worker exits after sending this


class _Speaker:
    """One pyttsx3 engine, used from one thread."""

    def __init__(self) -> None:
        import pyttsx3  # only ever imported in the worker process
        from pyttsx3.drivers import _espeak

        self._engine: Any = pyttsx3.init("espeak")
        self._espeak_busy: Any = _espeak.IsPlaying
        self._done = threading.Event()
        self._completed = False
        self._errors: list[str] = []
        self._engine.connect("finished-utterance", self._on_finished)
        self._engine.connect("error", self._on_error)
        self._voices = _voice_names(self._engine.getProperty("voices"))
        self.broken = False

    def _on_finished(self, name: object, completed: bool) -> None:
        self._completed = completed
        self._done.set()

    def _on_error(self, name: object, exception: BaseException) -> None:
        self._errors.append(str(exception))

    def warm_up(self, directory: Path) -> None:
        # The first utterance of a process is unreliable; spend it on a throwaway text.
        deadline = time.monotonic() + WARM_UP_TIMEOUT_S
        self._say("ready", directory / "warm-up.wav", deadline)

    def run(self, job: SynthJob) -> WavInfo:
        deadline = time.monotonic() + job.timeout_s
        self._set("voice", job.voice)
        self._set("rate", job.rate)
        chunks = job.chunks
        if job.voice.lower().endswith("latn-pinyin"):
            # Characters to tone-numbered pinyin here, in parallel workers, so polyphones are
            # read by pypinyin's phrase dictionary (which costs each process ~50 MB).
            chunks = tuple(p for c in chunks for p in split_chunks(to_pinyin(c)))
            if not chunks:
                raise AudioError("text has nothing to pronounce")
        parts = [job.out.with_name(f"{job.out.stem}.{i:04d}.wav") for i in range(len(chunks))]
        try:
            for chunk, part in zip(chunks, parts, strict=True):
                self._say(chunk, part, deadline)
            return join_wavs(parts, job.out)
        finally:
            for part in parts:
                part.unlink(missing_ok=True)

    def _set(self, name: str, value: object) -> None:
        if name == "voice" and str(value).lower() not in self._voices:
            raise AudioError(f"unknown voice {value!r}; see `espeak-ng --voices`")
        self._errors.clear()
        self._engine.setProperty(name, value)
        if self._errors:
            raise AudioError(f"speech engine rejected {name} {value!r}: {self._errors[0]}")

    def _say(self, text: str, out: Path, deadline: float) -> None:
        self._wait_idle(deadline)
        self._done.clear()
        self._errors.clear()
        self._engine.save_to_file(text, str(out))
        self._engine.runAndWait()
        if not self._done.wait(max(0.0, deadline - time.monotonic())):
            self.broken = True
            raise AudioError("speech engine did not finish in time")
        if self._errors or not self._completed:
            self.broken = True
            detail = self._errors[0] if self._errors else "utterance cancelled"
            raise AudioError(f"speech engine failed: {detail}")
        try:
            check_wav(out)
        except AudioError:
            self.broken = True
            raise

    def _wait_idle(self, deadline: float) -> None:
        # Property changes are queued in espeak's command queue. If it is still busy when
        # runAndWait starts, pyttsx3 cancels the new utterance (finished, completed=False).
        while self._espeak_busy():
            if time.monotonic() > deadline:
                self.broken = True
                raise AudioError("speech engine stayed busy; giving up")
            time.sleep(IDLE_POLL_S)


def _voice_names(voices: list[Any]) -> frozenset[str]:
    """Names espeak-ng accepts for a voice: identifier, its file name, language code."""
    names: set[str] = set()
    for voice in voices:
        identifier = str(voice.id).lower()
        names.update({identifier, identifier.rsplit("/", 1)[-1]})
        names.update(str(lang).lower() for lang in voice.languages or ())
    return frozenset(names)


def _silence_stdout() -> None:
    # pyttsx3 prints "Audio saved to ..." for every file.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def serve(conn: Connection) -> None:
    """Worker process entry point: answer jobs until the pipe closes or ``None`` arrives."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    _silence_stdout()
    try:
        speaker = _Speaker()
        to_pinyin("准备")  # loads the phrase dictionary before the first job
        with tempfile.TemporaryDirectory(prefix="cunxiang-tts-") as tmp:
            speaker.warm_up(Path(tmp))
    except Exception as e:
        conn.send(Failed(f"speech engine failed to start: {e}", fatal=True))
        return
    conn.send(Ready(os.getpid()))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if not isinstance(job, SynthJob):
            return
        reply: WavInfo | Failed
        try:
            reply = speaker.run(job)
        except AudioError as e:
            reply = Failed(str(e), fatal=speaker.broken)
        except Exception as e:
            logger.exception("speech job failed")
            reply = Failed(f"speech synthesis failed: {e}", fatal=True)
        conn.send(reply)
        if isinstance(reply, Failed) and reply.fatal:
            return
