"""The served app on a free port in a background thread, and a phone-sized Chromium page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from broadcast.services import Services
from broadcast.settings import Settings
from cunxiang.runtime import build_services
from web import create_app

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def admin() -> tuple[str, str]:
    """Username and password of the panel account the fixtures create."""
    return ("admin", "correct-horse-1")


@pytest.fixture
def live_services(settings: Settings, admin: tuple[str, str]) -> Iterator[Services]:
    """A fresh install with one admin, two villages and three loudspeakers."""
    services = build_services(settings)
    services.add_user(*admin)
    services.add_village("东村", "dc")
    services.add_village("西村", "xc")
    services.add_speaker("dc-01", "dc", "村口大槐树")
    services.add_speaker("dc-02", "dc", "祠堂")
    services.add_speaker("xc-01", "xc", "小学门口")
    yield services
    services.close()


@pytest.fixture
def live_url(live_services: Services) -> Iterator[str]:
    """Base URL of the app served on 127.0.0.1 on a free port."""
    # make_server binds before returning, so the server is reachable once constructed.
    server = make_server("127.0.0.1", 0, create_app(live_services), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="cunxiang-web", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium fonts-wqy-microhei")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A fresh page the size of a common phone screen (390 x 844)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()
