"""The loudspeakers' media server (web.media_port): same files and tokens as the panel's
/media, served from its own process."""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from broadcast.errors import ConfigError
from broadcast.keys import load_or_create_secret
from broadcast.media import media_url
from broadcast.settings import Settings
from devices.broker import free_port
from tests.conftest import ServicesFactory
from web.media_server import FILE_IN_MEMORY, MediaServer

AUDIO = b"ID3 not really an mp3, but the hash is what counts" * 100
SHA = hashlib.sha256(AUDIO).hexdigest()


@pytest.fixture
def media_settings(settings: Settings) -> Settings:
    web = settings.web.model_copy(update={"port": free_port(0), "media_port": free_port(0)})
    return settings.model_copy(update={"web": web})


@pytest.fixture
def server(media_settings: Settings) -> Iterator[MediaServer]:
    media_settings.media_dir.mkdir(parents=True, exist_ok=True)
    (media_settings.media_dir / f"{SHA}.mp3").write_bytes(AUDIO)
    server = MediaServer(media_settings)
    server.start()
    yield server
    server.stop()


def url_for(settings: Settings, sha: str = SHA, ext: str = "mp3", expires: int = 0) -> str:
    secret = load_or_create_secret(settings.keys_dir / "media.secret")
    exp = expires or int(time.time()) + 600
    return media_url(settings.web.media_base_url(), secret, sha, exp, ext)


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def test_a_loudspeaker_downloads_audio_with_its_token(
    server: MediaServer, media_settings: Settings
) -> None:
    url = url_for(media_settings)
    assert url.startswith(f"http://127.0.0.1:{media_settings.web.media_port}/media/{SHA}.mp3?")
    with urllib.request.urlopen(url) as resp:
        assert resp.read() == AUDIO
        assert resp.headers["Content-Type"] == "audio/mpeg"
        assert resp.headers["Cache-Control"] == "private, max-age=86400"
        etag = resp.headers["ETag"]
    assert etag
    assert status_of(url, {"If-None-Match": etag}) == 304
    ranged = urllib.request.Request(url, headers={"Range": "bytes=0-9"})
    with urllib.request.urlopen(ranged) as resp:
        assert resp.status == 206 and resp.read() == AUDIO[:10]


def fetch(url: str, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
            return int(r.status), r.read(), r.headers["Content-Range"]
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, b"", exc.headers["Content-Range"]


def test_ranges_and_conditions_served_from_memory(
    server: MediaServer, media_settings: Settings
) -> None:
    url = url_for(media_settings)
    size = len(AUDIO)
    assert fetch(url, {"Range": "bytes=10-"}) == (206, AUDIO[10:], f"bytes 10-{size - 1}/{size}")
    assert fetch(url, {"Range": "bytes=-5"}) == (
        206,
        AUDIO[-5:],
        f"bytes {size - 5}-{size - 1}/{size}",
    )
    assert fetch(url, {"Range": f"bytes=100-{size + 50}"})[1] == AUDIO[100:]
    assert fetch(url, {"Range": f"bytes={size}-"}) == (416, b"", f"bytes */{size}")
    assert fetch(url, {"Range": "lines=1-2"}) == (416, b"", f"bytes */{size}")
    # A range for another version of the file (If-Range) gets the whole of this one.
    assert fetch(url, {"Range": "bytes=0-9", "If-Range": '"other"'})[:2] == (200, AUDIO)
    assert status_of(url, {"If-None-Match": '"x", "' + SHA + '"'}) == 304
    assert status_of(url, {"If-None-Match": '"x"'}) == 200


def test_a_large_file_is_sent_from_disk_and_a_deleted_one_is_gone(
    server: MediaServer, media_settings: Settings
) -> None:
    big = bytes(range(256)) * (FILE_IN_MEMORY // 256 + 1)
    big_sha = hashlib.sha256(big).hexdigest()
    (media_settings.media_dir / f"{big_sha}.mp3").write_bytes(big)
    url = url_for(media_settings, sha=big_sha)
    with urllib.request.urlopen(url) as resp:
        assert resp.read() == big
    assert fetch(url, {"Range": "bytes=0-3"})[:2] == (206, big[:4])

    assert status_of(url_for(media_settings)) == 200  # now in memory
    (media_settings.media_dir / f"{SHA}.mp3").unlink()  # evicted from the audio cache
    assert status_of(url_for(media_settings)) == 404


def test_refusals(server: MediaServer, media_settings: Settings) -> None:
    good = url_for(media_settings)
    base = good.split("?")[0]
    assert status_of(base) == 401  # no token
    assert status_of(good[:-4] + "0000") == 403  # wrong token
    assert status_of(url_for(media_settings, expires=int(time.time()) - 5)) == 403  # expired
    assert status_of(url_for(media_settings, sha="0" * 64)) == 404  # no such audio
    assert status_of(url_for(media_settings).replace(".mp3?", ".wav?")) == 404  # no such format
    assert status_of(base.replace(SHA, "../../etc/passwd")) == 404  # only hashes are names


def test_commands_name_the_media_server_when_it_is_configured(
    media_settings: Settings, make_services: ServicesFactory
) -> None:
    services = make_services(media_settings)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    port = media_settings.web.media_port
    assert services.media_url(SHA, expires).startswith(f"http://127.0.0.1:{port}/media/")
    behind_proxy = media_settings.web.model_copy(update={"public_url": "https://town.example/"})
    assert behind_proxy.media_base_url() == "https://town.example"
    without = media_settings.web.model_copy(update={"media_port": None})
    assert without.media_base_url() == without.base_url()


def test_a_taken_port_is_a_clear_error(server: MediaServer, media_settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"did not start on .*web\.media_port"):
        MediaServer(media_settings).start(timeout=20)
