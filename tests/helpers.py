"""Shared test helpers."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from flask.testing import FlaskClient

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


def log_in(client: FlaskClient, username: str, password: str, then: str = "/notices") -> str:
    """Log ``client`` in through the panel's form; the CSRF token of the new session,
    read from the page ``then``."""
    token = csrf(client.get("/login").get_data(as_text=True))
    resp = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    return csrf(client.get(then).get_data(as_text=True))
