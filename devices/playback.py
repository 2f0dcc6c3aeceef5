"""Audio for the reference loudspeaker: the content-addressed cache, downloads and sinks.

A sink plays one file once and calls ``done(ok)`` on the reactor thread; the returned
function cancels it (``done`` is then never called).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

from devices.reactor import Reactor

Cancel = Callable[[], None]
Done = Callable[[bool], None]


class HashMismatch(Exception):
    """The downloaded bytes are not the audio the command names."""


class AudioCache:
    """Verified audio files named by their SHA-256."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, sha256: str) -> Path:
        return self.directory / f"{sha256}.audio"

    def get(self, sha256: str) -> Path | None:
        path = self.path(sha256)
        return path if path.exists() else None

    def download(
        self,
        url: str,
        sha256: str,
        size: int,
        timeout: float,
        delay: float = 0.0,
        fail: bool = False,
    ) -> tuple[Path, int]:
        """Fetch ``url`` (blocking; run it on a worker), check it, store it. ``delay`` and
        ``fail`` are injected faults (a slow or broken link)."""
        if delay > 0:
            time.sleep(delay)  # a slow village link, simulated on a worker thread
        if fail:
            raise OSError("simulated download failure")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                data = resp.read(size + 1)
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the connection open otherwise
            raise OSError(f"HTTP {exc.code} from the media server") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise HashMismatch(f"got {len(data)} bytes that do not match {sha256[:12]}")
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{uuid.uuid4().hex}.part"
        tmp.write_bytes(data)
        os.replace(tmp, self.path(sha256))
        return self.path(sha256), len(data)


class NullSink:
    """Plays into silence for the audio's real duration."""

    def __init__(self, reactor: Reactor) -> None:
        self.reactor = reactor

    def play(self, path: Path, duration_ms: int, volume: int, done: Done) -> Cancel:
        timer = self.reactor.call_later(duration_ms / 1000, lambda: done(True))
        return timer.cancel


class CommandSink:
    """Plays through an external player, e.g. ``ffplay -nodisp -autoexit -volume {volume} {file}``.

    ``{file}`` is the audio file and ``{volume}`` the level 0-100.
    """

    def __init__(self, reactor: Reactor, template: str) -> None:
        self.reactor = reactor
        self.template = template

    def play(self, path: Path, duration_ms: int, volume: int, done: Done) -> Cancel:
        argv = [
            a.replace("{file}", str(path)).replace("{volume}", str(volume))
            for a in shlex.split(self.template)
        ]
        lock = threading.Lock()
        cancelled = False
        procs: list[subprocess.Popen[bytes]] = []

        def run() -> int:
            with lock:
                if cancelled:
                    return -1
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                procs.append(proc)
            return proc.wait()

        def finished(code: int | None, error: BaseException | None) -> None:
            if not cancelled:
                done(error is None and code == 0)

        def cancel() -> None:
            nonlocal cancelled
            with lock:
                cancelled = True
                for proc in procs:
                    if proc.poll() is None:
                        proc.terminate()

        self.reactor.run_blocking(run, finished)
        return cancel
