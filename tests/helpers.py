"""Shared test helpers."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    from broadcast.settings import Settings

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


def pin_broker_port(settings: Settings) -> Settings:
    """Give the private broker a port from the kernel: the product's "first free from
    18830" races between test processes that start brokers at the same moment."""
    from devices.broker import free_port

    port_file = settings.data_dir / "mosquitto" / "port"
    port_file.parent.mkdir(parents=True, exist_ok=True)
    port_file.write_text(f"{free_port(0)}\n")
    return settings
