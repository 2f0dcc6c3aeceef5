"""Shared test helpers."""

from __future__ import annotations

import threading
from collections.abc import Callable
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
