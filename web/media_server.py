"""A lightweight server for the loudspeakers' audio downloads, apart from the panel.

A broadcast makes every loudspeaker fetch its audio at once. Served by the Flask panel
(threaded werkzeug), each download cost the server process about 2 ms of CPU and competed
for the interpreter lock with the gateway recording receipts. This server (aiohttp, in its
own process, no database) serves the same files from the audio cache under the same
expiring tokens, from memory once a file has been served (about 0.5 ms each here; files
over ``FILE_IN_MEMORY`` with sendfile), with ETag, conditional and range requests. It is
started by ``cunxiang serve`` when ``web.media_port`` is set; the panel keeps its own
``/media`` route for staff sessions. A static file server such as nginx can
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
from collections import OrderedDict
from pathlib import Path

from aiohttp import hdrs, web

from broadcast.errors import ConfigError
from broadcast.keys import load_or_create_secret
from broadcast.media import media_type, verify_media_token
from broadcast.settings import Settings

logger = logging.getLogger(__name__)

# Mark a served file as used (the audio cache evicts the least recently used) at most
# this often: one utime per download of the same file would be wasted work.
TOUCH_EVERY_S = 600.0
# A broadcast makes every loudspeaker fetch the same file within a second or two. Files
# up to FILE_IN_MEMORY bytes are kept in memory (content-addressed, so never stale), up to
# MEMORY_BYTES in all, least recently served dropped first: a download is then answered
# without opening, stat-ing or sendfile-ing the file through the event loop's thread pool,
# which was half of this process's CPU per download. Larger files go out with sendfile.
FILE_IN_MEMORY = 8 * 1024 * 1024
MEMORY_BYTES = 64 * 1024 * 1024
PR_SET_PDEATHSIG = 1


class MediaFiles:
    """The request handler: token check, then the file from the audio cache directory."""

    def __init__(self, directory: Path, secret: str) -> None:
        self.directory = directory
        self.secret = secret
        self._touched: dict[Path, float] = {}
        self._memory: OrderedDict[Path, bytes] = OrderedDict()
        self._memory_bytes = 0

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
        body = self._memory.get(path)
        if body is None:
            body = await asyncio.get_running_loop().run_in_executor(None, _small_file, path)
            if body is not None:
                self._keep(path, body)
        elif path.is_file():
            self._memory.move_to_end(path)
        else:  # evicted from the audio cache since: gone here too
            self._memory_bytes -= len(self._memory.pop(path))
            raise web.HTTPNotFound()
        self._touch(path)
        # Content-addressed, so it never changes; private because access is controlled.
        headers = {"Cache-Control": "private, max-age=86400"}
        if body is None:
            response = web.FileResponse(path, headers=headers)
            response.content_type = content_type
            return response
        headers[hdrs.ETAG] = etag = f'"{sha256}"'
        headers[hdrs.ACCEPT_RANGES] = "bytes"
        if_none_match = request.headers.get(hdrs.IF_NONE_MATCH)
        if if_none_match is not None and (if_none_match.strip() == "*" or etag in if_none_match):
            return web.Response(status=304, headers=headers)
        if hdrs.RANGE in request.headers and request.headers.get(hdrs.IF_RANGE, etag) == etag:
            return _partial(request, body, content_type, headers)
        return web.Response(body=body, content_type=content_type, headers=headers)

    def _keep(self, path: Path, body: bytes) -> None:
        if path in self._memory:  # two first downloads at once
            return
        self._memory[path] = body
        self._memory_bytes += len(body)
        while self._memory_bytes > MEMORY_BYTES and len(self._memory) > 1:
            _old, dropped = self._memory.popitem(last=False)
            self._memory_bytes -= len(dropped)

    def _touch(self, path: Path) -> None:
        now = time.time()
        if now - self._touched.get(path, 0.0) < TOUCH_EVERY_S:
            return
        self._touched[path] = now
        with contextlib.suppress(OSError):
            os.utime(path, (now, now))


def _small_file(path: Path) -> bytes | None:
    """The file's bytes, or None when it is too large to keep in memory (run on a worker
    thread). Raises HTTPNotFound when there is no such file."""
    try:
        if path.stat().st_size > FILE_IN_MEMORY:
            return None
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise web.HTTPNotFound() from None


def _partial(
    request: web.Request, body: bytes, content_type: str, headers: dict[str, str]
) -> web.Response:
    """A single byte range of ``body`` (206), or 416 when it cannot be satisfied."""
    size = len(body)
    try:
        rng = request.http_range
    except ValueError:
        rng = slice(size, None)  # malformed: answered as unsatisfiable
    start = 0 if rng.start is None else rng.start
    stop = size if rng.stop is None else min(rng.stop, size)
    if start < 0:  # the last -start bytes
        start = max(0, size + start)
    if start >= size or start >= stop:
        headers[hdrs.CONTENT_RANGE] = f"bytes */{size}"
        return web.Response(status=416, headers=headers)
    headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{stop - 1}/{size}"
    return web.Response(
        status=206, body=body[start:stop], content_type=content_type, headers=headers
    )


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
