"""One active scheduler; kill -9 around an occurrence; the waiting one takes over.

Real processes (`cunxiang serve --role scheduler`), the real private broker, SQLite or
PostgreSQL. Every scenario must end with the occurrence fired exactly once, not missed.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from broadcast.planning import ScheduleRequest
from broadcast.services import Services
from broadcast.settings import Settings
from tests.conftest import ServicesFactory, require
from tests.helpers import wait_until


class Server:
    """A `cunxiang serve --role scheduler` child whose log lines the test can wait for."""

    def __init__(self, settings: Settings, name: str) -> None:
        env = dict(os.environ)
        # Dispatch exactly at the planned time, so the kills land before, at and after it.
        env["CUNXIANG_SCHEDULE__DISPATCH_LEAD_SECONDS"] = "0"
        if settings.database_url is not None:
            env["CUNXIANG_DATABASE_URL"] = settings.database_url.get_secret_value()
        self.name = name
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cunxiang.cli",
                *("--data-dir", str(settings.data_dir), "serve", "--role", "scheduler"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while datetime.now(UTC) < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.log.append(line)
            if text in line:
                return
        raise AssertionError(f"{self.name}: no {text!r} in:\n{''.join(self.log)}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def town(make_services: ServicesFactory) -> Iterator[tuple[Services, int, int]]:
    require("mosquitto")
    require("espeak-ng")
    services = make_services()
    village = services.add_village("南山村", "330000000004")
    services.set_quiet_hours(village.id, "-")  # occurrences on the real clock, at any hour
    services.add_speaker("nanshan-01", village.id)
    notice = services.add_notice("通知", "请注意。")
    yield services, village.id, notice.id


def broadcasts_at(services: Services, planned: datetime) -> list[tuple[datetime, bool]]:
    return [(b.planned_at, b.missed) for b in services.list_broadcasts() if b.planned_at == planned]


@pytest.mark.parametrize("kill_offset", [-1.0, 0.0, 1.0], ids=["before", "at", "after"])
def test_kill_9_around_an_occurrence_fires_it_exactly_once(
    town: tuple[Services, int, int], settings: Settings, kill_offset: float
) -> None:
    services, village_id, notice_id = town
    at = (datetime.now(UTC) + timedelta(seconds=6)).replace(microsecond=0)
    services.add_schedule(ScheduleRequest(notice_id, [village_id], "once", at=at))

    first = Server(settings, "first")
    second: Server | None = None
    try:
        first.wait_for("scheduler started")
        # Started at the same time as the first one is running: it must wait, not fire.
        second = Server(settings, "second")
        second.wait_for("waiting to take over")
        kill_at = at + timedelta(seconds=kill_offset)
        wait_until(lambda: datetime.now(UTC) >= kill_at, timeout=30, interval=0.02)
        first.kill()
        second.wait_for("scheduler started", timeout=30)
        wait_until(lambda: broadcasts_at(services, at), timeout=30)
        # Let the survivor run a few more sync passes: nothing is fired twice.
        second.wait_for("published", timeout=30)
        assert broadcasts_at(services, at) == [(at, False)]
        [bc] = [b for b in services.list_broadcasts() if b.planned_at == at]
        assert bc.targeted == 1
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_two_schedulers_started_together_fire_once(
    town: tuple[Services, int, int], settings: Settings, tmp_path: Path
) -> None:
    services, village_id, notice_id = town
    at = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    services.add_schedule(ScheduleRequest(notice_id, [village_id], "once", at=at))
    servers = [Server(settings, "a"), Server(settings, "b")]
    try:
        wait_until(lambda: broadcasts_at(services, at), timeout=30)
        wait_until(lambda: datetime.now(UTC) >= at + timedelta(seconds=3), timeout=30)
        assert broadcasts_at(services, at) == [(at, False)]
    finally:
        for server in servers:
            server.stop()
