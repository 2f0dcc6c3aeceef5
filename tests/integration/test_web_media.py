"""``/media/<sha256>.mp3``: expiring tokens for loudspeakers, the session for the panel."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers

from broadcast.services import Services
from broadcast.settings import Settings
from cunxiang.runtime import build_services
from tests.helpers import Clock
from web import create_app

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-1"
START = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
UNKNOWN = "0" * 64


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def services(settings: Settings, clock: Clock) -> Iterator[Services]:
    svc = build_services(settings, clock=clock)
    svc.add_user("admin", PASSWORD)
    yield svc
    svc.close()


@pytest.fixture
def client(services: Services) -> FlaskClient:
    return create_app(services, testing=True).test_client()


@pytest.fixture
def sha(services: Services) -> str:
    return services.render("各位村民请注意，今晚停电。").sha256


def token_url(services: Services, sha256: str, expires_at: datetime) -> str:
    """The path and query a loudspeaker would fetch."""
    parts = urlsplit(services.media_url(sha256, expires_at))
    return f"{parts.path}?{parts.query}"


def login(client: FlaskClient) -> None:
    page = client.get("/login").text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found
    resp = client.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": found.group(1)}
    )
    assert resp.status_code == 302


def fetch(client: FlaskClient, url: str, **headers: str) -> tuple[int, Headers, bytes]:
    """GET and close the response (a served file stays open until then)."""
    with client.get(url, headers=headers) as resp:
        return resp.status_code, resp.headers, resp.get_data()


def test_valid_token_serves_the_mp3(client: FlaskClient, services: Services, sha: str) -> None:
    status, headers, data = fetch(client, token_url(services, sha, START + timedelta(minutes=15)))
    assert status == 200
    assert headers["Content-Type"] == "audio/mpeg"
    assert headers["ETag"] == f'"{sha}"'
    assert headers["Accept-Ranges"] == "bytes"
    assert "private" in headers["Cache-Control"]
    path = services.media_path(sha)
    assert path is not None
    assert data == path.read_bytes()


def test_range_and_conditional_requests(client: FlaskClient, services: Services, sha: str) -> None:
    url = token_url(services, sha, START + timedelta(minutes=15))
    status, headers, data = fetch(client, url, Range="bytes=0-99")
    assert status == 206
    assert len(data) == 100
    assert headers["Content-Range"].startswith("bytes 0-99/")
    status, _, _ = fetch(client, url, **{"If-None-Match": f'"{sha}"'})
    assert status == 304


def test_bad_token_is_forbidden(client: FlaskClient, services: Services, sha: str) -> None:
    url = token_url(services, sha, START + timedelta(minutes=15))
    tampered = re.sub(r"token=[0-9a-f]", "token=x", url)
    resp = client.get(tampered)
    assert resp.status_code == 403
    assert resp.json is not None and resp.json["error"] == "forbidden"
    assert client.get(f"/media/{sha}.mp3?exp=abc&token=00").status_code == 403
    assert client.get(f"/media/{sha}.mp3?token=00").status_code == 403


def test_token_for_another_file_is_forbidden(
    client: FlaskClient, services: Services, sha: str
) -> None:
    other = services.render("另一条通知。").sha256
    query = parse_qs(urlsplit(services.media_url(other, START + timedelta(minutes=5))).query)
    resp = client.get(f"/media/{sha}.mp3", query_string={k: v[0] for k, v in query.items()})
    assert resp.status_code == 403


def test_expired_token_is_forbidden(
    client: FlaskClient, services: Services, sha: str, clock: Clock
) -> None:
    url = token_url(services, sha, START + timedelta(minutes=1))
    assert fetch(client, url)[0] == 200
    clock.now = START + timedelta(minutes=2)
    assert client.get(url).status_code == 403


def test_no_token_and_no_session_is_unauthorized(client: FlaskClient, sha: str) -> None:
    resp = client.get(f"/media/{sha}.mp3")
    assert resp.status_code == 401
    assert resp.json == {"error": "unauthorized", "message": "请先登录"}


def test_logged_in_session_may_listen(client: FlaskClient, sha: str) -> None:
    login(client)
    status, headers, _ = fetch(client, f"/media/{sha}.mp3")
    assert status == 200
    assert headers["Content-Type"] == "audio/mpeg"


def test_unknown_hash_is_not_found(client: FlaskClient, services: Services) -> None:
    resp = client.get(token_url(services, UNKNOWN, START + timedelta(minutes=5)))
    assert resp.status_code == 404
    login(client)
    assert client.get(f"/media/{UNKNOWN}.mp3").status_code == 404
    assert client.get("/media/not-a-hash.mp3").status_code == 404
    assert client.get("/media/..%2Fkeys%2Fserver.key.mp3").status_code == 404
