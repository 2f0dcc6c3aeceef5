"""Parallel speech synthesis: one spawned speech worker per core, chunks handed out in order.

Each ``SynthWorker`` keeps its own timeout and replaces a crashed process (retrying the chunk
once), so one stuck or dead worker never blocks the others for longer than its timeout.
"""

import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from audio.synth import SynthWorker

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


class SynthPool:
    """Thread-safe. Workers start on first use (or on ``warm_up``) and stop on ``close``."""

    def __init__(self, workers: int | None = None) -> None:
        self._size = workers or default_workers()
        self._workers = [SynthWorker() for _ in range(self._size)]
        self._free: queue.SimpleQueue[SynthWorker] = queue.SimpleQueue()
        for w in self._workers:
            self._free.put(w)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._size

    @property
    def pids(self) -> list[int]:
        return [pid for w in self._workers if (pid := w.pid) is not None]

    @property
    def jobs(self) -> int:
        return sum(w.jobs for w in self._workers)

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._size, thread_name_prefix="cunxiang-tts")
            return self._executor

    def warm_up(self) -> list[Future[None]]:
        """Start every worker in the background; returns futures that finish when they run."""
        return [self._pool().submit(w.start) for w in self._workers]

    def synthesize(
        self,
        chunks: Sequence[str],
        directory: Path,
        voice: str,
        rate: int,
        timeout_s: float,
        progress: Progress | None = None,
    ) -> list[Path]:
        """Speak each chunk into its own WAV in ``directory``; returns the paths in order."""
        paths = [directory / f"chunk-{i:04d}.wav" for i in range(len(chunks))]
        done = 0
        done_lock = threading.Lock()
        failed = threading.Event()  # one chunk failed: the rest are not started

        def one(i: int) -> None:
            nonlocal done
            if failed.is_set():
                return
            worker = self._free.get()
            try:
                if failed.is_set():
                    return
                worker.synthesize(chunks[i], paths[i], voice, rate, timeout_s)
            except BaseException:
                failed.set()
                raise
            finally:
                self._free.put(worker)
            if progress is not None:
                with done_lock:
                    done += 1
                    progress(done, len(chunks))

        futures = [self._pool().submit(one, i) for i in range(len(chunks))]
        try:
            for f in futures:
                f.result()
        finally:
            for f in futures:
                f.cancel()
        return paths

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        for w in self._workers:
            w.close()
