"""Exactly one active scheduler: a PostgreSQL advisory lock, or a file lock on SQLite.

The lock belongs to a connection (or an open file), so it is released when the holder
dies, even by ``kill -9``; a waiting process takes over at its next try.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, text

logger = logging.getLogger(__name__)

# Arbitrary, fixed: "cunxiang" as a 63-bit number.
ADVISORY_KEY = 0x63756E7869616E67 & 0x7FFFFFFFFFFFFFFF


class LeaderLock(Protocol):
    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class AdvisoryLock:
    """A session-level PostgreSQL advisory lock held on a dedicated connection."""

    def __init__(self, engine: Engine, key: int = ADVISORY_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self.engine.connect()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        conn.commit()
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None


def leader_lock(engine: Engine, data_dir: Path) -> LeaderLock:
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine)
    return FileLock(data_dir / "scheduler.lock")


def wait_for_leadership(lock: LeaderLock, stop: threading.Event, interval: float = 1.0) -> bool:
    """Block until the lock is ours (True) or ``stop`` is set (False)."""
    announced = False
    while not stop.is_set():
        if lock.try_acquire():
            logger.info("this process is the active scheduler")
            return True
        if not announced:
            logger.info("another scheduler is active; waiting to take over")
            announced = True
        stop.wait(interval)
    return False
