"""Expiring access tokens for the media endpoint (audio is fetched by URL, never sent over MQTT)."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

# Rendered audio by format: the file extension in /media URLs and the Content-Type it is
# served with (one place, for the application and any static file server in front of it).
MEDIA_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg; codecs=opus"}


def media_type(fmt: str) -> str | None:
    """Content-Type of rendered audio in format ``fmt`` (``mp3``, ``opus``), else None."""
    return MEDIA_TYPES.get(fmt)


def media_token(secret: str, sha256: str, expires_epoch: int) -> str:
    msg = f"{sha256}:{expires_epoch}".encode("ascii")
    return hmac.new(secret.encode("utf-8"), msg, hashlib.sha256).hexdigest()[:32]


def verify_media_token(
    secret: str, sha256: str, expires_epoch: int, token: str, now_epoch: int
) -> bool:
    if now_epoch > expires_epoch:
        return False
    return hmac.compare_digest(media_token(secret, sha256, expires_epoch), token)


def media_url(base_url: str, secret: str, sha256: str, expires_epoch: int, ext: str = "mp3") -> str:
    if ext not in MEDIA_TYPES:
        raise ValueError(f"no media URL for format {ext!r}")
    query = urlencode({"exp": expires_epoch, "token": media_token(secret, sha256, expires_epoch)})
    return f"{base_url.rstrip('/')}/media/{sha256}.{ext}?{query}"
