"""Parallel speech synthesis: chunks turned into pinyin by the pinyin worker process, then
spoken by espeak-ng child processes, one thread (one process at a time) per core.

Results come back as futures in chunk order, so the caller can shape and encode the first
chunks while later ones are still being spoken.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from audio.errors import AudioError
from audio.espeak import check_voice, is_pinyin_voice, speak
from audio.pcm import Pcm
from audio.synth import PinyinWorker

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
Spoken = tuple[Pcm, int]


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


class SynthPool:
    """Thread-safe. The threads and the pinyin worker start on first use (or ``warm_up``);
    ``close`` stops them and kills any espeak-ng process still running."""

    def __init__(self, workers: int | None = None, pinyin: PinyinWorker | None = None) -> None:
        self._size = workers or default_workers()
        self._pinyin = pinyin or PinyinWorker()
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._jobs = 0
        self._peak = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def pinyin_pid(self) -> int | None:
        """Process id of the pinyin worker, if it is running."""
        return self._pinyin.pid

    @property
    def speech_pids(self) -> list[int]:
        """Process ids of the espeak-ng processes speaking right now."""
        with self._lock:
            return sorted(self._running)

    @property
    def jobs(self) -> int:
        """How many chunks were sent to the speech engine."""
        return self._jobs

    @property
    def peak_parallel(self) -> int:
        """The most espeak-ng processes that ever ran at once."""
        return self._peak

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._size, thread_name_prefix="cunxiang-tts")
            return self._executor

    def warm_up(self) -> None:
        """Start the pinyin worker in the background (it takes ~0.3 s to load)."""
        self._pinyin.start_in_background()

    def _watch(self, proc: subprocess.Popen[bytes], started: bool) -> None:
        with self._lock:
            if started:
                self._running[proc.pid] = proc
                self._peak = max(self._peak, len(self._running))
            else:
                self._running.pop(proc.pid, None)

    def submit(
        self,
        chunks: Sequence[str],
        voice: str,
        rate: int,
        timeout_s: float,
        progress: Progress | None = None,
    ) -> list[Future[Spoken]]:
        """Start speaking every chunk; the futures are in chunk order. Once a chunk fails,
        the chunks not yet started fail at once with the same error."""
        check_voice(voice)
        deadline = time.monotonic() + timeout_s
        texts = self._pinyin.convert(chunks, deadline) if is_pinyin_voice(voice) else chunks
        done = 0
        failed: list[BaseException] = []

        def one(text: str) -> Spoken:
            nonlocal done
            if failed:
                raise failed[0]
            with self._lock:
                self._jobs += 1
            try:
                spoken = speak(text, voice, rate, deadline, self._watch)
            except AudioError as e:
                if "timed out" in str(e):
                    e = AudioError(f"speech synthesis timed out after {timeout_s:g} s")
                failed.append(e)
                raise e from None
            except BaseException as e:
                failed.append(e)
                raise
            if progress is not None:
                with self._lock:
                    done += 1
                    count = done
                progress(count, len(chunks))
            return spoken

        pool = self._pool()
        return [pool.submit(one, t) for t in texts]

    def synthesize(
        self,
        chunks: Sequence[str],
        voice: str,
        rate: int,
        timeout_s: float,
        progress: Progress | None = None,
    ) -> list[Spoken]:
        """Speak every chunk; returns samples and frame rate in chunk order."""
        futures = self.submit(chunks, voice, rate, timeout_s, progress)
        try:
            return [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
            running = list(self._running.values())
        for proc in running:
            if proc.poll() is None:
                proc.kill()
        self._pinyin.close()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
