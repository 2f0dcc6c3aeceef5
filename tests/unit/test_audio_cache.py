"""AudioCache: content-addressed MP3 files, an index by render key, safe lookups."""

import hashlib
import stat
from pathlib import Path

import pytest

from audio import AudioCache, AudioError, RenderedAudio

KEY = "a" * 64
OTHER_KEY = "b" * 64
MP3 = b"\xff\xfb\x90\x64" + bytes(range(256)) * 4
SHA = hashlib.sha256(MP3).hexdigest()


@pytest.fixture
def cache(tmp_path: Path) -> AudioCache:
    return AudioCache(tmp_path / "cache")


def test_store_then_lookup(cache: AudioCache) -> None:
    stored = cache.store(KEY, MP3, 1234)
    assert stored == RenderedAudio(SHA, cache.root / f"{SHA}.mp3", len(MP3), 1234, "mp3")
    assert stored.path.read_bytes() == MP3
    assert cache.lookup(KEY) == stored
    assert cache.path_for(SHA) == stored.path


def test_lookup_survives_a_new_cache_object(cache: AudioCache) -> None:
    stored = cache.store(KEY, MP3, 1234)
    assert AudioCache(cache.root).lookup(KEY) == stored


def test_nothing_is_created_before_the_first_store(cache: AudioCache) -> None:
    assert cache.lookup(KEY) is None
    assert cache.path_for(SHA) is None
    assert not cache.root.exists()


def test_same_audio_under_two_keys_is_stored_once(cache: AudioCache) -> None:
    first = cache.store(KEY, MP3, 1234)
    second = cache.store(OTHER_KEY, MP3, 1234)
    assert first.path == second.path
    assert sorted(p.name for p in cache.root.iterdir()) == [f"{SHA}.mp3", "index"]


def test_store_leaves_no_temporary_files_and_readable_modes(cache: AudioCache) -> None:
    stored = cache.store(KEY, MP3, 1234)
    files = [p for p in cache.root.rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == sorted([f"{SHA}.mp3", f"{KEY}.json"])
    assert stat.S_IMODE(stored.path.stat().st_mode) == 0o644


@pytest.mark.parametrize(
    "bad",
    [
        "../x",
        f"../{SHA}",
        SHA.upper(),
        SHA[:-1],
        SHA + "0",
        f"{SHA}.mp3",
        f"{SHA[:-1]}/",
        "",
        "g" * 64,
    ],
)
def test_path_for_rejects_malformed_hashes(cache: AudioCache, bad: str) -> None:
    cache.store(KEY, MP3, 1234)
    assert cache.path_for(bad) is None


def test_path_for_unknown_hash_is_none(cache: AudioCache) -> None:
    cache.store(KEY, MP3, 1234)
    assert cache.path_for("0" * 64) is None


@pytest.mark.parametrize("bad", ["../" + "a" * 61, "A" * 64, "a" * 63, "index"])
def test_malformed_keys_are_errors(cache: AudioCache, bad: str) -> None:
    with pytest.raises(AudioError, match="invalid cache key"):
        cache.lookup(bad)
    with pytest.raises(AudioError, match="invalid cache key"):
        cache.store(bad, MP3, 1)


def test_empty_audio_is_not_stored(cache: AudioCache) -> None:
    with pytest.raises(AudioError):
        cache.store(KEY, b"", 0)


def test_unwritable_cache_is_an_audio_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    with pytest.raises(AudioError, match="cannot write to the audio cache"):
        AudioCache(tmp_path / "file").store(KEY, MP3, 1234)


def test_unreadable_index_is_a_miss(cache: AudioCache, caplog: pytest.LogCaptureFixture) -> None:
    cache.store(KEY, MP3, 1234)
    (cache.root / "index" / f"{KEY}.json").write_text("{not json")
    assert cache.lookup(KEY) is None
    assert "unreadable cache index" in caplog.text


def test_index_pointing_to_a_deleted_file_is_a_miss(cache: AudioCache) -> None:
    stored = cache.store(KEY, MP3, 1234)
    stored.path.unlink()
    assert cache.lookup(KEY) is None
    assert cache.store(KEY, MP3, 1234) == stored  # storing again repairs it
    assert cache.lookup(KEY) == stored
