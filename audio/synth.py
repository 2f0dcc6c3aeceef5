"""The pinyin worker: a persistent, replaceable spawned process (``audio.worker``) that turns
characters into tone-numbered pinyin for the ``cmn-latn-pinyin`` voice. Speech itself is made
by espeak-ng child processes (``audio.espeak``).

Light to import (no numpy), so a command can start the worker before loading the rest.
"""

import contextlib
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import TracebackType

from audio.errors import AudioError
from audio.worker import Converted, Failed, PinyinJob, Ready, serve

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


_STARTUP_DIED = (
    "pinyin worker exited during start-up (exit code {code}); a script that renders "
    "must keep its top-level code under `if __name__ == '__main__':` (spawn re-imports it)"
)


class _WorkerDied(Exception):
    pass


class PinyinWorker:
    """Parent side of the pinyin worker. Thread-safe: jobs run one at a time.

    The process is started on the first job (or by ``start``). A worker that times out is
    killed; one found dead (crashed or killed from outside) is replaced and the job retried
    once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._owner_pid = os.getpid()
        self._jobs = 0
        self._generation = 0  # bumped by close(): a start under way gives up

    @property
    def pid(self) -> int | None:
        """Process id of the running worker, if one is running."""
        proc = self._proc
        return proc.pid if proc is not None else None

    @property
    def jobs(self) -> int:
        """Number of synthesis jobs started so far."""
        return self._jobs

    def convert(self, texts: Sequence[str], deadline: float) -> list[str]:
        """``texts`` in tone-numbered pinyin, before ``deadline`` (``time.monotonic()``)."""
        job = PinyinJob(tuple(texts))
        with self._lock:
            self._jobs += 1
            try:
                return self._run(job, deadline)
            except _WorkerDied:
                logger.warning("pinyin worker died; retrying the job with a new worker")
                self._discard()
            try:
                return self._run(job, deadline)
            except _WorkerDied as e:
                self._discard()
                raise AudioError("pinyin worker died twice on this text") from e

    def start_in_background(self) -> None:
        """``start`` on a thread of its own; a failure shows again on first use."""

        def run() -> None:
            try:
                self.start()
            except AudioError as e:
                logger.debug("pinyin worker warm-up failed: %s", e)

        threading.Thread(target=run, name="cunxiang-pinyin-start", daemon=True).start()

    def start(self) -> None:
        """Start the worker now (if not running), so a first job does not wait for it."""
        with self._lock:
            self._running()

    def close(self) -> None:
        """Stop the worker process (a later job starts a new one). It holds no state, so it
        is killed rather than asked to exit: freeing its dictionary would take ~0.2 s."""
        self._generation += 1  # a worker still loading is killed, not waited for
        with self._lock:
            self._discard()

    def __enter__(self) -> "PinyinWorker":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, job: PinyinJob, deadline: float) -> list[str]:
        proc, conn = self._running()
        try:
            conn.send(job)
        except OSError as e:
            raise _WorkerDied from e
        reply = self._receive(proc, conn, deadline)
        if reply is None:
            self._discard()
            raise AudioError("speech synthesis timed out (pinyin conversion)")
        if isinstance(reply, Failed):
            if reply.fatal:
                self._discard()
            raise AudioError(reply.message)
        if not isinstance(reply, Converted) or len(reply.texts) != len(job.texts):
            self._discard()
            raise AudioError(f"pinyin worker sent an unexpected reply: {type(reply).__name__}")
        return list(reply.texts)

    def _running(self) -> tuple[BaseProcess, Connection]:
        if self._owner_pid != os.getpid():
            # Copied into a forked child: the worker belongs to the parent; start our own.
            self._proc = self._conn = None
            self._owner_pid = os.getpid()
        if self._proc is not None and not self._proc.is_alive():
            logger.warning(
                "pinyin worker exited (code %s); starting a new one", self._proc.exitcode
            )
            self._discard()
        if self._proc is None or self._conn is None:
            self._start()
        assert self._proc is not None and self._conn is not None
        return self._proc, self._conn

    def _start(self) -> None:
        # spawn, never fork: a forked copy of a threaded server may deadlock on its locks
        ctx = multiprocessing.get_context("spawn")
        conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=serve, args=(child_conn,), name="cunxiang-pinyin", daemon=True)
        with _plain_main():
            proc.start()
        child_conn.close()
        self._proc, self._conn = proc, conn
        generation = self._generation
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        reply: object | None = None
        try:
            while reply is None and time.monotonic() < deadline:
                if self._generation != generation:
                    reply = Failed("pinyin worker closed while starting", fatal=True)
                    break
                reply = self._receive(proc, conn, min(deadline, time.monotonic() + 0.02))
        except _WorkerDied:
            proc.join(STOP_TIMEOUT_S)
            reply = Failed(_STARTUP_DIED.format(code=proc.exitcode), fatal=True)
        if not isinstance(reply, Ready):
            self._discard()
            if isinstance(reply, Failed):
                raise AudioError(reply.message)
            raise AudioError(f"pinyin worker did not start within {STARTUP_TIMEOUT_S:g} s")
        logger.info("pinyin worker started (pid %s)", reply.pid)

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
    worker needs nothing from it (its entry point is ``audio.worker.serve``), and
    re-importing a program such as the ``cunxiang`` CLI costs the worker most of a second.
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
