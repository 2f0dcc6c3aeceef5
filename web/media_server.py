"""A lightweight server for the loudspeakers' audio downloads, apart from the panel.

A broadcast makes every loudspeaker fetch its audio at once. Served by the Flask panel
(threaded werkzeug), each download cost the server process about 2 ms of CPU and competed
for the interpreter lock with the gateway recording receipts. This server (aiohttp, in its
own process, no database) serves the same files from the audio cache under the same
expiring tokens for about 0.5 ms each, with sendfile, ETag, conditional and range
requests. It is started by ``cunxiang serve`` when ``web.media_port`` is set; the panel
keeps its own ``/media`` route for staff sessions. A static file server such as nginx can
take its place in production (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.process
import multiprocessing.synchronize
import os
import signal
import time
from pathlib import Path

from aiohttp import web

from broadcast.errors import ConfigError
from broadcast.keys import load_or_create_secret
from broadcast.media import media_type, verify_media_token
from broadcast.settings import Settings

logger = logging.getLogger(__name__)

# Mark a served file as used (the audio cache evicts the least recently used) at most
# this often: one utime per download of the same file would be wasted work.
TOUCH_EVERY_S = 600.0
PR_SET_PDEATHSIG = 1


class MediaFiles:
    """The request handler: token check, then the file from the audio cache directory."""

    def __init__(self, directory: Path, secret: str) -> None:
        self.directory = directory
        self.secret = secret
        self._touched: dict[Path, float] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(r"/media/{sha256:[0-9a-f]{64}}.{ext:[a-z0-9]{1,8}}", self.serve)
        return app

    async def serve(self, request: web.Request) -> web.StreamResponse:
        sha256, ext = request.match_info["sha256"], request.match_info["ext"]
        content_type = media_type(ext)
        if content_type is None:
            raise web.HTTPNotFound()
        exp, token = request.query.get("exp"), request.query.get("token")
        if exp is None and token is None:
            raise web.HTTPUnauthorized()
        if (
            exp is None
            or token is None
            or not exp.isdigit()
            or len(exp) > 12
            or not verify_media_token(self.secret, sha256, int(exp), token, int(time.time()))
        ):
            logger.info("refused media %s for %s: bad or expired token", sha256, request.remote)
            raise web.HTTPForbidden()
        path = self.directory / f"{sha256}.{ext}"
        if not path.is_file():
            raise web.HTTPNotFound()
        self._touch(path)
        response = web.FileResponse(path)
        response.content_type = content_type
        # Content-addressed, so it never changes; private because access is controlled.
        response.headers["Cache-Control"] = "private, max-age=86400"
        return response

    def _touch(self, path: Path) -> None:
        now = time.time()
        if now - self._touched.get(path, 0.0) < TOUCH_EVERY_S:
            return
        self._touched[path] = now
        with contextlib.suppress(OSError):
            os.utime(path, (now, now))


async def _serve_until_stopped(
    files: MediaFiles, host: str, port: int, ready: multiprocessing.synchronize.Event | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(files.app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_address=True).start()
        logger.info("media server at http://%s:%s", host, port)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await runner.cleanup()


def run(settings: Settings, ready: multiprocessing.synchronize.Event | None = None) -> None:
    """Serve ``/media`` on ``web.host``:``web.media_port`` until SIGTERM (a process's main)."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    assert settings.web.media_port is not None, "web.media_port is not set"
    files = MediaFiles(
        settings.media_dir, load_or_create_secret(settings.keys_dir / "media.secret")
    )
    try:
        asyncio.run(_serve_until_stopped(files, settings.web.host, settings.web.media_port, ready))
    except OSError as exc:  # the port is taken or the address is not ours: the parent says so
        logger.error("media server: %s", exc)
        raise SystemExit(2) from None


def _die_with_parent() -> None:
    """Ask Linux to end this process when its parent dies (even by kill -9)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class MediaServer:
    """The media server as a child process of ``cunxiang serve``."""

    def __init__(self, settings: Settings) -> None:
        if settings.web.media_port is None:
            raise ValueError("web.media_port is not set")
        self.settings = settings
        self._proc: multiprocessing.process.BaseProcess | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, timeout: float = 30.0) -> None:
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        proc = ctx.Process(
            target=run, args=(self.settings, ready), name="cunxiang-media", daemon=True
        )
        proc.start()
        self._proc = proc
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if not proc.is_alive() or time.monotonic() > deadline:
                self.stop()
                web_settings = self.settings.web
                raise ConfigError(
                    f"the media server did not start on {web_settings.host}:"
                    f"{web_settings.media_port} (web.media_port): is the port taken?"
                )

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        proc.close()
