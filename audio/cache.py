"""Content-addressed store of rendered audio files, with a size limit.

Layout: ``<root>/<sha256>.mp3`` (or ``.opus``) holds the audio, ``<root>/index/<key>.json``
maps a render key to it. Every file is written to a temporary name and moved into place
atomically. A hit or a fetch refreshes a file's modification time; when the files exceed
``max_bytes`` the least recently used are deleted, except those ``keep`` names (audio that
stored notices still refer to).
"""

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from audio.errors import AudioError

logger = logging.getLogger(__name__)

_HEX64 = re.compile(r"[0-9a-f]{64}")
FORMATS = ("mp3", "opus")


@dataclass(frozen=True)
class RenderedAudio:
    sha256: str  # hex sha256 of the encoded bytes; names the file and its URL
    path: Path
    size: int
    duration_ms: int
    format: str = "mp3"


class AudioCache:
    """Audio files by content hash, plus an index from render key to content hash.

    Keys and hashes are 64 lower-case hex digits; nothing else ever reaches the file system.
    """

    def __init__(
        self,
        root: Path,
        max_bytes: int | None = None,
        keep: Callable[[], Collection[str]] | None = None,
    ) -> None:
        self._root = Path(root).absolute()
        self._max_bytes = max_bytes
        self._keep = keep
        self._evict_lock = threading.Lock()

    @property
    def root(self) -> Path:
        return self._root

    @property
    def max_bytes(self) -> int | None:
        return self._max_bytes

    def path_for(self, sha256: str, fmt: str | None = None) -> Path | None:
        """The audio file for a content hash (any format unless ``fmt``), or ``None``."""
        if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
            return None
        for ext in (fmt,) if fmt in FORMATS else FORMATS:
            path = self._root / f"{sha256}.{ext}"
            if path.is_file():
                _touch(path)
                return path
        return None

    def total_bytes(self) -> int:
        return sum(size for _, size, _ in self._files())

    def lookup(self, key: str) -> RenderedAudio | None:
        """The audio stored under a render key, or ``None``."""
        index = self._index_path(key)
        try:
            entry = json.loads(index.read_bytes())
            sha256, duration_ms = str(entry["sha256"]), int(entry["duration_ms"])
            fmt = str(entry.get("format", "mp3"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("ignoring unreadable cache index %s", index)
            return None
        path = self.path_for(sha256, fmt)
        if path is None:
            return None
        try:
            size = path.stat().st_size
        except FileNotFoundError:  # removed since path_for looked
            return None
        return RenderedAudio(sha256, path, size, duration_ms, fmt)

    def store(self, key: str, data: bytes, duration_ms: int, fmt: str = "mp3") -> RenderedAudio:
        """Save encoded audio and index it under ``key``; evicts old files past the limit."""
        index = self._index_path(key)
        if not data:
            raise AudioError("refusing to cache empty audio")
        if fmt not in FORMATS:
            raise AudioError(f"unknown audio format {fmt!r}")
        sha256 = hashlib.sha256(data).hexdigest()
        path = self._root / f"{sha256}.{fmt}"
        entry = {"sha256": sha256, "duration_ms": duration_ms, "format": fmt}
        try:
            if not (path.is_file() and path.stat().st_size == len(data)):
                _write_atomic(path, data)
            else:
                _touch(path)
            _write_atomic(index, json.dumps(entry, sort_keys=True).encode())
        except OSError as e:
            raise AudioError(f"cannot write to the audio cache {self._root}: {e}") from e
        self.evict(protect={sha256})
        return RenderedAudio(sha256, path, len(data), duration_ms, fmt)

    def evict(self, protect: Collection[str] = ()) -> list[str]:
        """Delete least recently used audio until under ``max_bytes``; returns their hashes."""
        if self._max_bytes is None:
            return []
        with self._evict_lock:
            files = self._files()
            total = sum(size for _, size, _ in files)
            if total <= self._max_bytes:
                return []
            keep = set(protect) | set(self._keep() if self._keep is not None else ())
            removed = []
            for path, size, _ in sorted(files, key=lambda f: f[2]):
                if total <= self._max_bytes:
                    break
                sha256 = path.stem
                if sha256 in keep:
                    continue
                path.unlink(missing_ok=True)
                total -= size
                removed.append(sha256)
            if removed:
                logger.info(
                    "audio cache over %d bytes: evicted %d file(s)", self._max_bytes, len(removed)
                )
            return removed

    def _files(self) -> list[tuple[Path, int, float]]:
        out = []
        try:
            entries = list(os.scandir(self._root))
        except FileNotFoundError:
            return []
        for entry in entries:
            name, _, ext = entry.name.partition(".")
            if ext in FORMATS and _HEX64.fullmatch(name):
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                out.append((Path(entry.path), st.st_size, st.st_mtime))
        return out

    def _index_path(self, key: str) -> Path:
        if not isinstance(key, str) or not _HEX64.fullmatch(key):
            raise AudioError(f"invalid cache key {key!r}: expected 64 lower-case hex digits")
        return self._root / "index" / f"{key}.json"


def _touch(path: Path) -> None:
    """Mark a file as just used (its mtime orders the LRU eviction)."""
    try:
        now = time.time()
        os.utime(path, (now, now))
    except OSError:
        pass  # read-only cache: eviction order is then only approximate


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a web server may serve these files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
