"""Content-addressed store of rendered MP3 files.

Layout: ``<root>/<sha256>.mp3`` holds the audio, ``<root>/index/<key>.json`` maps a render
key to it. Every file is written to a temporary name and moved into place atomically.
"""

import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from audio.errors import AudioError

logger = logging.getLogger(__name__)

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class RenderedAudio:
    sha256: str  # hex sha256 of the encoded bytes; names the file and its URL
    path: Path
    size: int
    duration_ms: int
    format: str = "mp3"


class AudioCache:
    """MP3 files by content hash, plus an index from render key to content hash.

    Keys and hashes are 64 lower-case hex digits; nothing else ever reaches the file system.
    """

    def __init__(self, root: Path) -> None:
        self._root = Path(root).absolute()

    @property
    def root(self) -> Path:
        return self._root

    def path_for(self, sha256: str) -> Path | None:
        """The MP3 file for a content hash, or ``None`` if malformed or absent."""
        if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
            return None
        path = self._root / f"{sha256}.mp3"
        return path if path.is_file() else None

    def lookup(self, key: str) -> RenderedAudio | None:
        """The audio stored under a render key, or ``None``."""
        index = self._index_path(key)
        try:
            entry = json.loads(index.read_bytes())
            sha256, duration_ms = str(entry["sha256"]), int(entry["duration_ms"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("ignoring unreadable cache index %s", index)
            return None
        path = self.path_for(sha256)
        if path is None:
            return None
        try:
            size = path.stat().st_size
        except FileNotFoundError:  # removed since path_for looked
            return None
        return RenderedAudio(sha256, path, size, duration_ms)

    def store(self, key: str, mp3: bytes, duration_ms: int) -> RenderedAudio:
        """Save encoded audio and index it under ``key``."""
        index = self._index_path(key)
        if not mp3:
            raise AudioError("refusing to cache empty audio")
        sha256 = hashlib.sha256(mp3).hexdigest()
        path = self._root / f"{sha256}.mp3"
        entry = {"sha256": sha256, "duration_ms": duration_ms, "format": "mp3"}
        try:
            if not (path.is_file() and path.stat().st_size == len(mp3)):
                _write_atomic(path, mp3)
            _write_atomic(index, json.dumps(entry, sort_keys=True).encode())
        except OSError as e:
            raise AudioError(f"cannot write to the audio cache {self._root}: {e}") from e
        return RenderedAudio(sha256, path, len(mp3), duration_ms)

    def _index_path(self, key: str) -> Path:
        if not isinstance(key, str) or not _HEX64.fullmatch(key):
            raise AudioError(f"invalid cache key {key!r}: expected 64 lower-case hex digits")
        return self._root / "index" / f"{key}.json"


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
