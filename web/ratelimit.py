"""In-memory limit on failed logins, per (username, client address)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

Key = tuple[str, str]


class LoginLimiter:
    """Allow at most ``max_failures`` failed logins per key within ``window`` seconds.

    Process-local: with several web workers each keeps its own count, which still bounds
    guessing to ``workers * max_failures`` per window.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        max_failures: int = 5,
        window: float = 300.0,
        max_keys: int = 10_000,
    ) -> None:
        self._clock = clock
        self._max = max_failures
        self._window = window
        self._max_keys = max_keys
        self._failures: dict[Key, deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(username: str, address: str | None) -> Key:
        return (username.strip().lower(), address or "")

    def blocked(self, key: Key) -> bool:
        with self._lock:
            return len(self._recent(key, self._clock())) >= self._max

    def record_failure(self, key: Key) -> None:
        with self._lock:
            now = self._clock()
            if key not in self._failures and len(self._failures) >= self._max_keys:
                self._prune(now)
            self._recent(key, now).append(now)

    def reset(self, key: Key) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: Key, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        return times

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            if not self._recent(key, now):
                del self._failures[key]
        # Still full of live keys (a spray from many addresses): forget the oldest ones.
        while len(self._failures) >= self._max_keys:
            oldest = min(self._failures, key=lambda k: self._failures[k][-1])
            del self._failures[oldest]
