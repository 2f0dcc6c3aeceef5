"""Shared test helpers."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.1) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    pause = threading.Event()
    deadline = timeout / interval
    tries = 0
    while True:
        value = condition()
        if value:
            return value
        tries += 1
        if tries > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition!r}")
        pause.wait(interval)


class Clock:
    """A clock the test moves by hand; Services read "now" from it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def csrf(html: str) -> str:
    """The CSRF token a panel page carries in its <meta> tag."""
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found, "page has no CSRF token"
    return found.group(1)
