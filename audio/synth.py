"""Speech synthesis in a persistent, replaceable worker process."""

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import TracebackType

from audio.errors import AudioError
from audio.normalize import checked_text
from audio.options import RenderOptions
from audio.sentences import split_chunks
from audio.wavfile import WavInfo
from audio.worker import Failed, Ready, SynthJob, serve

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


_STARTUP_DIED = (
    "speech worker exited during start-up (exit code {code}); a script that renders "
    "must keep its top-level code under `if __name__ == '__main__':` (spawn re-imports it)"
)


class _WorkerDied(Exception):
    pass


class SynthWorker:
    """Parent side of the speech worker. Thread-safe: jobs run one at a time.

    The process is started on the first job. A worker that times out is killed; one found
    dead (crashed or killed from outside) is replaced and the job retried once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._owner_pid = os.getpid()
        self._jobs = 0

    @property
    def pid(self) -> int | None:
        """Process id of the running worker, if one is running."""
        proc = self._proc
        return proc.pid if proc is not None else None

    @property
    def jobs(self) -> int:
        """Number of synthesis jobs started so far."""
        return self._jobs

    def synthesize(self, text: str, out: Path, voice: str, rate: int, timeout_s: float) -> WavInfo:
        """Speak prepared ``text`` into the WAV ``out``, chunk by chunk, within ``timeout_s``."""
        chunks = tuple(split_chunks(text))
        if not chunks:
            raise AudioError("text has nothing to pronounce")
        job = SynthJob(chunks, out, voice, rate, timeout_s)
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._jobs += 1
            try:
                return self._run(job, deadline)
            except _WorkerDied:
                logger.warning("speech worker died; retrying the job with a new worker")
                self._discard()
            try:
                return self._run(job, deadline)
            except _WorkerDied as e:
                self._discard()
                raise AudioError("speech worker died twice on this text") from e

    def start(self) -> None:
        """Start the worker now (if not running), so a first job does not wait for it."""
        with self._lock:
            self._running()

    def close(self) -> None:
        """Stop the worker process (a later job starts a new one)."""
        with self._lock:
            if self._proc is None or self._conn is None:
                return
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._proc.join(STOP_TIMEOUT_S)
            self._discard()

    def __enter__(self) -> "SynthWorker":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, job: SynthJob, deadline: float) -> WavInfo:
        proc, conn = self._running()
        try:
            conn.send(job)
        except OSError as e:
            raise _WorkerDied from e
        reply = self._receive(proc, conn, deadline)
        if reply is None:
            self._discard()
            raise AudioError(f"speech synthesis timed out after {job.timeout_s:g} s")
        if isinstance(reply, Failed):
            if reply.fatal:
                self._discard()
            raise AudioError(reply.message)
        if not isinstance(reply, WavInfo):
            self._discard()
            raise AudioError(f"speech worker sent an unexpected reply: {type(reply).__name__}")
        return reply

    def _running(self) -> tuple[BaseProcess, Connection]:
        if self._owner_pid != os.getpid():
            # Copied into a forked child: the worker belongs to the parent; start our own.
            self._proc = self._conn = None
            self._owner_pid = os.getpid()
        if self._proc is not None and not self._proc.is_alive():
            logger.warning(
                "speech worker exited (code %s); starting a new one", self._proc.exitcode
            )
            self._discard()
        if self._proc is None or self._conn is None:
            self._start()
        assert self._proc is not None and self._conn is not None
        return self._proc, self._conn

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # never fork: pyttsx3 hangs in forked children
        conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=serve, args=(child_conn,), name="cunxiang-tts", daemon=True)
        with _plain_main():
            proc.start()
        child_conn.close()
        self._proc, self._conn = proc, conn
        try:
            reply = self._receive(proc, conn, time.monotonic() + STARTUP_TIMEOUT_S)
        except _WorkerDied:
            proc.join(STOP_TIMEOUT_S)
            reply = Failed(_STARTUP_DIED.format(code=proc.exitcode), fatal=True)
        if not isinstance(reply, Ready):
            self._discard()
            if isinstance(reply, Failed):
                raise AudioError(reply.message)
            raise AudioError(f"speech worker did not start within {STARTUP_TIMEOUT_S:g} s")
        logger.info("speech worker started (pid %s)", reply.pid)

    @staticmethod
    def _receive(proc: BaseProcess, conn: Connection, deadline: float) -> object | None:
        """The worker's next message, ``None`` on timeout; raises _WorkerDied."""
        ready = wait([conn, proc.sentinel], timeout=max(0.0, deadline - time.monotonic()))
        if conn in ready:
            try:
                reply: object = conn.recv()
                return reply
            except (EOFError, OSError) as e:
                raise _WorkerDied from e
        if ready:
            raise _WorkerDied
        return None

    def _discard(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            conn.close()
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(STOP_TIMEOUT_S)
            if proc.exitcode is not None:
                proc.close()


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _plain_main() -> Iterator[None]:
    """Start a spawned worker without re-running the parent's ``__main__`` in it.

    spawn re-imports the main script in the child so pickled references to it resolve; the
    worker needs nothing from it (its entry point lives here), and re-importing a program
    such as the ``cunxiang`` CLI costs each worker most of a second of start-up.
    """
    main = sys.modules.get("__main__")
    with _MAIN_LOCK:
        saved: dict[str, object] = {
            name: main.__dict__[name]
            for name in ("__file__", "__spec__")
            if main and name in main.__dict__
        }
        try:
            if main is not None:
                main.__dict__.pop("__file__", None)
                main.__dict__["__spec__"] = None
            yield
        finally:
            if main is not None:
                main.__dict__.pop("__spec__", None)
                main.__dict__.update(saved)


def synthesize_wav(text: str, out: Path, voice: str, rate: int, timeout_s: float) -> None:
    """Speak ``text`` into the WAV file ``out`` with a one-off worker process."""
    RenderOptions(voice=voice, rate=rate, timeout_s=timeout_s)  # validates the arguments
    with SynthWorker() as worker:
        worker.synthesize(checked_text(text), out, voice, rate, timeout_s)


@functools.cache
def espeak_version() -> str:
    """Version of the installed libespeak-ng, or "unknown"; loads the library, no engine start."""
    for name in ("libespeak-ng.so.1", "espeak-ng"):
        path = name if name.startswith("lib") else ctypes.util.find_library(name)
        if not path:
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        info = lib.espeak_Info
        info.restype = ctypes.c_char_p
        info.argtypes = [ctypes.c_void_p]
        version = info(None)
        return version.decode("ascii", "replace") if isinstance(version, bytes) else "unknown"
    return "unknown"
