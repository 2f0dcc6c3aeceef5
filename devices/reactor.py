"""One thread's event loop for many MQTT clients: sockets, timers and hand-offs.

paho's own ``loop_start()`` runs a thread per client; a thousand of them are 3-5x
slower than a few loops that each multiplex many sockets. A ``Reactor`` drives any
number of paho clients through ``loop_read``/``loop_write``/``loop_misc`` on one
``selectors`` loop, runs timers, and runs blocking work (downloads, an audio player)
on a small thread pool whose results come back to the loop thread. Everything that
touches a client or a loudspeaker's state runs on the loop thread.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import logging
import random
import selectors
import socket
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

logger = logging.getLogger(__name__)

T = TypeVar("T")
MISC_INTERVAL = 1.0
# CPython asks the thread holding the GIL to hand it over only every 5 ms by default, so
# a thread that does many short socket reads and writes (a network loop) waits up to 5 ms
# after each one while another thread computes (signing, verifying, the database): 1,000
# QoS 1 publishes next to two busy threads took 0.5-1.9 s instead of 0.1 s; with 1 ms,
# 0.4-0.7 s. See docs/performance.md, "Fan-out".
SWITCH_INTERVAL_S = 0.001


def favour_network_threads() -> None:
    """Shorten the interpreter's thread switch interval (process-wide; call it in the
    composition root of a process that runs network loops beside busy threads)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


# The cyclic garbage collector's youngest generation is collected after this many net
# allocations (CPython's default is 700). A burst of receipts allocates hundreds of
# thousands of short-lived objects, and at the default the full collections that follow
# scan the whole heap (every imported module, the ORM's mappers): pauses of 100 ms and
# more in the middle of a broadcast. See docs/performance.md, "Fan-out".
GC_THRESHOLDS = (50_000, 20, 10)


def settle_heap() -> None:
    """Call once a long-running process has started: exempt what it has built so far
    from the cyclic collector's scans and collect less often (process-wide)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class Timer:
    __slots__ = ("cancelled", "fn", "when")

    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Reactor:
    def __init__(self, name: str = "reactor", workers: int = 4) -> None:
        self.name = name
        self.workers = workers
        self._timers: list[tuple[float, int, Timer]] = []
        self._counter = itertools.count()
        self._ready: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()
        self._clients: set[mqtt.Client] = set()
        self._thread: threading.Thread | None = None
        self._running = False
        # Created by start(), so that an unstarted reactor holds no sockets or threads.
        self._sel = selectors.DefaultSelector()
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._pool: ThreadPoolExecutor | None = None

    # -- scheduling (thread-safe) ------------------------------------------------------
    def call_soon(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._ready.append(fn)
        self._wake()

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        timer = Timer(time.monotonic() + max(0.0, delay), fn)
        with self._lock:
            heapq.heappush(self._timers, (timer.when, next(self._counter), timer))
        self._wake()
        return timer

    def run_blocking(
        self, work: Callable[[], T], done: Callable[[T | None, BaseException | None], None]
    ) -> None:
        """Run ``work`` on the pool; call ``done(result, error)`` back on the loop thread."""

        def job() -> None:
            try:
                result = work()
            except BaseException as exc:  # handed back to the loop, never lost
                error = exc
                self.call_soon(lambda: done(None, error))
                return
            self.call_soon(lambda: done(result, None))

        assert self._pool is not None, "reactor not started"
        self._pool.submit(job)

    def in_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def _wake(self) -> None:
        wake = self._wake_w
        if wake is not None and threading.current_thread() is not self._thread:
            with contextlib.suppress(OSError):
                wake.send(b"\0")

    # -- paho clients --------------------------------------------------------------
    def attach(self, client: mqtt.Client) -> None:
        """Let this loop drive ``client``'s socket (call before connecting it)."""
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        client.on_socket_register_write = self._register_write
        client.on_socket_unregister_write = self._unregister_write
        self._clients.add(client)

    def detach(self, client: mqtt.Client) -> None:
        self._clients.discard(client)

    def _socket_open(self, client: mqtt.Client, _u: Any, sock: Any) -> None:
        self._sel.register(sock, selectors.EVENT_READ, client)

    def _socket_close(self, _client: mqtt.Client, _u: Any, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(sock)

    def _register_write(self, client: mqtt.Client, _u: Any, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def _unregister_write(self, client: mqtt.Client, _u: Any, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.modify(sock, selectors.EVENT_READ, client)

    # -- the loop -----------------------------------------------------------------
    def start(self) -> None:
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=f"{self.name}-io")
        self._running = True
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._running = False
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._sel.close()
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._wake_r = self._wake_w = None

    def _run(self) -> None:
        next_misc = time.monotonic() + MISC_INTERVAL
        while self._running:
            now = time.monotonic()
            with self._lock:
                timeout = min(next_misc, self._timers[0][0]) - now if self._timers else None
            if self._ready:
                timeout = 0.0
            wait = MISC_INTERVAL if timeout is None else max(0.0, min(timeout, MISC_INTERVAL))
            for key, mask in self._sel.select(wait):
                if key.data is None:
                    self._drain_wake()
                    continue
                self._serve(key.data, key.fileobj, mask)
            self._run_due()
            now = time.monotonic()
            if now >= next_misc:
                next_misc = now + MISC_INTERVAL
                for client in list(self._clients):
                    self._guard(client.loop_misc)
        # Never leak a socket of a client that was not closed before the loop stopped.
        for key in list(self._sel.get_map().values()):
            if isinstance(key.data, mqtt.Client):
                self._guard(key.data._sock_close)

    def _serve(self, client: mqtt.Client, sock: Any, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            self._guard(client.loop_read)
            # TLS may hold decrypted bytes that select() does not report.
            if isinstance(sock, ssl.SSLSocket) and sock.pending() and client.socket() is sock:
                self.call_soon(lambda: self._serve(client, sock, selectors.EVENT_READ))
        if mask & selectors.EVENT_WRITE and client.socket() is sock:
            self._guard(client.loop_write)

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass

    def _run_due(self) -> None:
        now = time.monotonic()
        due: list[Callable[[], None]] = []
        with self._lock:
            while self._timers and self._timers[0][0] <= now:
                _when, _n, timer = heapq.heappop(self._timers)
                if not timer.cancelled:
                    due.append(timer.fn)
            due.extend(self._ready)
            self._ready.clear()
        for fn in due:
            self._guard(fn)

    @staticmethod
    def _guard(fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception:
            logger.exception("reactor callback failed")


class Link:
    """Connects one paho client through a Reactor and keeps it connected.

    Reconnects after a jittered back-off (1,000 loudspeakers coming back at once would
    overflow the broker's listen backlog). ``drop(seconds)`` cuts the connection without
    a DISCONNECT (the broker publishes the will) and stays away that long: a link fault.
    """

    def __init__(
        self,
        reactor: Reactor,
        client: mqtt.Client,
        host: str,
        port: int,
        keepalive: int = 30,
        min_delay: float = 0.5,
        max_delay: float = 30.0,
        on_connect: Callable[[bool], None] | None = None,
        on_disconnect: Callable[[], None] | None = None,
        name: str = "",
    ) -> None:
        self.reactor = reactor
        self.client = client
        self.name = name
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.connected = False
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._delay = min_delay
        self._closing = False
        self._away_until = 0.0
        self._pending: Timer | None = None
        client.connect_timeout = 5.0
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        reactor.attach(client)
        client.connect_async(host, port, keepalive)

    def open(self, delay: float = 0.0) -> None:
        self._schedule(delay)

    def _schedule(self, delay: float) -> None:
        if self._pending is not None:
            self._pending.cancel()
        self._pending = self.reactor.call_later(delay, self._connect)

    def _connect(self) -> None:
        self._pending = None
        if self._closing or self.connected:
            return
        wait = self._away_until - time.monotonic()
        if wait > 0:
            self._schedule(wait)
            return
        try:
            self.client.reconnect()
        except (OSError, ssl.SSLError) as exc:
            logger.debug("connect failed: %s", exc)
            self._retry()

    def _retry(self) -> None:
        if self._closing:
            return
        delay = self._delay * random.uniform(0.5, 1.5)
        self._delay = min(self._delay * 2, self.max_delay)
        self._schedule(delay)

    def _connected(self, _c: mqtt.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            logger.error("broker refused %s: %s", self.name, rc)
            return  # paho closes the socket; _disconnected schedules the retry
        self.connected = True
        self._delay = self.min_delay
        if self._on_connect is not None:
            self._on_connect(bool(getattr(flags, "session_present", False)))

    def _disconnected(self, _c: mqtt.Client, _u: Any, _f: Any, _rc: ReasonCode, _p: Any) -> None:
        was = self.connected
        self.connected = False
        if was and self._on_disconnect is not None:
            self._on_disconnect()
        if not self._closing:
            self._retry()

    def drop(self, seconds: float) -> None:
        """Simulate a lost link: no DISCONNECT packet, no reconnect for ``seconds``."""
        self._away_until = time.monotonic() + seconds
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def come_back(self) -> None:
        self._away_until = 0.0
        self._delay = self.min_delay
        if not self.connected:
            self._schedule(0.0)

    def close(self) -> None:
        """Clean disconnect (the caller publishes its own ``offline`` first)."""
        self._closing = True
        if self._pending is not None:
            self._pending.cancel()
        if self.client.socket() is not None:
            self.client.disconnect()
            # Flush what is queued and the DISCONNECT (paho closes the socket after it).
            for _ in range(10):
                if self.client.socket() is None or not self.client.want_write():
                    break
                self.client.loop_write()
            if self.client.socket() is not None:
                self.client._sock_close()
        self.reactor.detach(self.client)
