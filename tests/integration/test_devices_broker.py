"""The private broker's pid file: reload and stale-broker clean-up signal only our mosquitto."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from broadcast.keys import mosquitto_password_hash
from devices.broker import BrokerError, PrivateBroker, free_port, our_broker_pid
from devices.protocol import Topics
from tests.conftest import require
from tests.helpers import wait_until
from tests.mqtt_probe import Probe

PASSWORD = "server-password-for-tests"


def make_broker(directory: Path) -> PrivateBroker:
    return PrivateBroker(
        directory=directory,
        port=free_port(0),
        topics=Topics("t"),
        server_password_hash=mosquitto_password_hash(PASSWORD),
    )


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """Some other process that a stale pid may name: SIGHUP or SIGTERM would end it."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait(5)


def test_reload_with_a_stale_pid_file_signals_no_other_process(
    tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    broker = make_broker(tmp_path / "mosquitto")
    broker.write_files([])
    broker.pid_path.write_text(f"{bystander.pid}\n")

    assert broker.reload([("sp-01", mosquitto_password_hash("pw"))]) is False
    with pytest.raises(subprocess.TimeoutExpired):
        bystander.wait(0.5)  # still running: it was not sent SIGHUP
    assert "sp-01:" in (tmp_path / "mosquitto" / "passwd").read_text()


def test_reload_with_a_dead_pid_or_a_garbled_pid_file_is_a_no_op(tmp_path: Path) -> None:
    broker = make_broker(tmp_path / "mosquitto")
    broker.write_files([])
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    broker.pid_path.write_text(done.stdout)
    assert broker.reload([]) is False
    broker.pid_path.write_text("not a pid\n")
    assert broker.reload([]) is False
    broker.pid_path.unlink()
    assert broker.reload([]) is False


def test_another_township_s_mosquitto_is_not_ours(tmp_path: Path) -> None:
    require("mosquitto")
    other = make_broker(tmp_path / "other")
    other.start([])
    try:
        mine = make_broker(tmp_path / "mine")
        mine.write_files([])
        # Our pid file names a live mosquitto, but one started with another config.
        mine.pid_path.write_text(other.pid_path.read_text())
        assert our_broker_pid(mine.pid_path, mine.conf_path, mine.executable) is None
        assert mine.reload([]) is False
        assert other.reload([]) is True
        # And starting ours does not stop theirs as if it were a stale broker of ours.
        mine.port = free_port(0)
        mine.start([])
        try:
            probe = Probe(other.port, "cunxiang-server", PASSWORD)
            assert probe.wait_connect_result()
            probe.close()
        finally:
            mine.stop()
    finally:
        other.stop()


def test_reload_makes_the_running_broker_accept_a_new_account(tmp_path: Path) -> None:
    require("mosquitto")
    broker = make_broker(tmp_path / "mosquitto")
    broker.start([])
    try:
        pid = our_broker_pid(broker.pid_path, broker.conf_path, broker.executable)
        assert pid is not None and str(pid) == broker.pid_path.read_text().strip()
        refused = Probe(broker.port, "sp-01", "pw")
        assert not refused.wait_connect_result()
        refused.close()
        assert broker.reload([("sp-01", mosquitto_password_hash("pw"))]) is True

        def accepted() -> bool:  # mosquitto rereads its files soon after the signal
            probe = Probe(broker.port, "sp-01", "pw")
            try:
                return probe.wait_connect_result()
            finally:
                probe.close()

        wait_until(accepted, timeout=10)
    finally:
        broker.stop()


def test_a_broker_whose_port_is_taken_fails_to_start_instead_of_leaving_clients_to_another(
    tmp_path: Path,
) -> None:
    require("mosquitto")
    first = make_broker(tmp_path / "first")
    first.start([])
    try:
        second = make_broker(tmp_path / "second")
        second.port = first.port  # another process took the port meanwhile
        with pytest.raises(BrokerError, match="did not start"):
            second.start([])
        probe = Probe(first.port, "cunxiang-server", PASSWORD)
        assert probe.wait_connect_result()  # the first one is untouched
        probe.close()
    finally:
        first.stop()
