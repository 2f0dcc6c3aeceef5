"""The v1 MQTT contract: topics, messages, canonical encoding, Ed25519 signatures.

This is the only module that builds or parses topics and payloads. The reference
loudspeaker imports nothing else from Cunxiang, so a vendor can read this file alone.

Wire form of a signed message (command or event)::

    {"body": {...}, "kid": "<key id>", "sig": "<base64 Ed25519 signature>"}

The signature covers ``canonical(body)``: JSON with sorted keys, no spaces, UTF-8,
integers only (floats are refused so that every implementation encodes the same bytes).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

VERSION = 1
MAX_PAYLOAD = 16 * 1024
SPEAKER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
COMMAND_TYPES = frozenset({"play", "stop", "volume", "ping"})
EVENT_KINDS = frozenset(
    {"received", "rejected", "downloaded", "started", "finished", "failed", "preempted", "stopped"}
)
# Rejection reasons a loudspeaker may report.
REASONS = frozenset(
    {
        "bad_signature",
        "unknown_key",
        "wrong_target",
        "replayed",
        "expired",
        "not_yet_valid",
        "malformed",
        "hash_mismatch",
    }
)
# Clock tolerance a loudspeaker allows on issued_at / not_before / expires_at.
CLOCK_TOLERANCE_MS = 30_000
# A command may wait at most this long on a loudspeaker before its not_before ...
MAX_LEAD_MS = 3600 * 1000
# ... and may be valid (expires_at - not_before) for at most a day.
MAX_VALIDITY_MS = 24 * 3600 * 1000
# Emergency priority: plays at its own volume whatever the loudspeaker's volume setting.
EMERGENCY_PRIORITY = 90
# Audio containers a play may name: MP3 (mono, 16 kHz, 32 kbps CBR) or Ogg Opus (16 kbps,
# for weak links). A command without ``format`` is MP3 (senders before it was added).
AUDIO_FORMATS = ("mp3", "opus")


class ProtocolError(Exception):
    """A message is not acceptable; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason


# -- topics -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Topics:
    base: str = "cunxiang"

    @property
    def server_state(self) -> str:
        return f"{self.base}/server/state"

    def command(self, speaker_id: str) -> str:
        return f"{self.base}/speakers/{_checked_id(speaker_id)}/command"

    def event(self, speaker_id: str) -> str:
        return f"{self.base}/speakers/{_checked_id(speaker_id)}/event"

    def availability(self, speaker_id: str) -> str:
        return f"{self.base}/speakers/{_checked_id(speaker_id)}/availability"

    def state(self, speaker_id: str) -> str:
        return f"{self.base}/speakers/{_checked_id(speaker_id)}/state"

    def all_of(self, leaf: str) -> str:
        """Subscription filter for one leaf (event, availability, state) of every loudspeaker."""
        if leaf not in ("event", "availability", "state", "command"):
            raise ValueError(f"unknown leaf {leaf!r}")
        return f"{self.base}/speakers/+/{leaf}"

    def parse(self, topic: str) -> tuple[str, str] | None:
        """``(speaker_id, leaf)`` of a loudspeaker topic, or None if it is not one."""
        prefix = f"{self.base}/speakers/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) != 2 or not SPEAKER_ID.match(parts[0]):
            return None
        return parts[0], parts[1]


def _checked_id(speaker_id: str) -> str:
    if not SPEAKER_ID.match(speaker_id):
        raise ValueError(f"invalid loudspeaker id {speaker_id!r}")
    return speaker_id


# -- encoding and keys ----------------------------------------------------------------


def _no_floats(value: Any, path: str = "body") -> None:
    if isinstance(value, float):
        raise ProtocolError("malformed", f"float at {path}")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ProtocolError("malformed", f"non-string key at {path}")
            _no_floats(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_floats(v, f"{path}[{i}]")


def canonical(body: dict[str, Any]) -> bytes:
    """The exact bytes that are signed: sorted keys, no spaces, UTF-8, no floats."""
    _no_floats(body)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


@functools.lru_cache(maxsize=4096)
def load_private(b64: str) -> Ed25519PrivateKey:
    # Cached: loading a key costs as much as a signature, and the same few keys sign
    # every message (the server's; one per simulated loudspeaker).
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(b64))


@functools.lru_cache(maxsize=4096)
def load_public(b64: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(b64))


def seal(body: dict[str, Any], private_b64: str, kid: str) -> bytes:
    """Sign ``body`` and wrap it in the wire envelope."""
    sig = load_private(private_b64).sign(canonical(body))
    envelope = {"body": body, "kid": kid, "sig": base64.b64encode(sig).decode("ascii")}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def open_envelope(payload: bytes) -> tuple[dict[str, Any], str, bytes]:
    """Parse the envelope: ``(body, kid, signature)``. Raises ProtocolError("malformed")."""
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError("malformed", f"payload of {len(payload)} bytes is too large")
    try:
        env = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("malformed", "not JSON") from exc
    if not isinstance(env, dict) or set(env) != {"body", "kid", "sig"}:
        raise ProtocolError("malformed", "envelope must have exactly body, kid, sig")
    body, kid, sig = env["body"], env["kid"], env["sig"]
    if not isinstance(body, dict) or not isinstance(kid, str) or not isinstance(sig, str):
        raise ProtocolError("malformed", "envelope fields have wrong types")
    try:
        raw = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("malformed", "signature is not base64") from exc
    return body, kid, raw


def verify_body(body: dict[str, Any], sig: bytes, public_b64: str) -> None:
    try:
        load_public(public_b64).verify(sig, canonical(body))
    except (InvalidSignature, ValueError) as exc:
        raise ProtocolError("bad_signature") from exc


# -- messages -------------------------------------------------------------------------


def _int(body: dict[str, Any], key: str, lo: int = 0, hi: int = 2**63 - 1) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ProtocolError("malformed", f"{key} must be an integer in [{lo}, {hi}]")
    return value


def _str(body: dict[str, Any], key: str, max_len: int = 2048) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise ProtocolError("malformed", f"{key} must be a non-empty string")
    return value


@dataclass(frozen=True)
class Play:
    broadcast_id: int
    url: str
    sha256: str
    size: int
    duration_ms: int
    repeat: int = 1
    volume: int = 80
    # An emergency drill (演练): a loudspeaker may announce or display it as such.
    drill: bool = False
    format: str = "mp3"  # one of AUDIO_FORMATS

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "broadcast_id": self.broadcast_id,
            "format": self.format,
            "url": self.url,
            "sha256": self.sha256,
            "size": self.size,
            "duration_ms": self.duration_ms,
            "repeat": self.repeat,
            "volume": self.volume,
        }
        if self.drill:
            body["drill"] = True  # absent unless true
        return body

    @classmethod
    def from_body(cls, body: Any) -> Play:
        if not isinstance(body, dict):
            raise ProtocolError("malformed", "play must be an object")
        sha = _str(body, "sha256", 64)
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise ProtocolError("malformed", "sha256 must be 64 lowercase hex digits")
        url = _str(body, "url")
        if not url.startswith(("http://", "https://")):
            raise ProtocolError("malformed", "url must be http(s)")
        drill = body.get("drill", False)
        if not isinstance(drill, bool):
            raise ProtocolError("malformed", "drill must be true or false")
        fmt = body.get("format", "mp3")
        if fmt not in AUDIO_FORMATS:
            raise ProtocolError("malformed", f"format must be one of {', '.join(AUDIO_FORMATS)}")
        return cls(
            broadcast_id=_int(body, "broadcast_id"),
            url=url,
            sha256=sha,
            size=_int(body, "size", 1, 512 * 1024 * 1024),
            duration_ms=_int(body, "duration_ms", 1, 24 * 3600 * 1000),
            repeat=_int(body, "repeat", 1, 10),
            volume=_int(body, "volume", 0, 100),
            drill=drill,
            format=fmt,
        )


@dataclass(frozen=True)
class Command:
    """A server-to-loudspeaker command. Times are epoch milliseconds."""

    id: str
    target: str
    seq: int
    type: str
    issued_at: int
    not_before: int
    expires_at: int
    priority: int = 50
    play: Play | None = None
    volume: int | None = None
    # For stop: only plays of this broadcast (else every play of priority <= this one's).
    broadcast_id: int | None = None

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "v": VERSION,
            "id": self.id,
            "target": self.target,
            "seq": self.seq,
            "type": self.type,
            "issued_at": self.issued_at,
            "not_before": self.not_before,
            "expires_at": self.expires_at,
            "priority": self.priority,
        }
        if self.play is not None:
            body["play"] = self.play.to_body()
        if self.volume is not None:
            body["volume"] = self.volume
        if self.broadcast_id is not None:
            body["broadcast_id"] = self.broadcast_id
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Command:
        if body.get("v") != VERSION:
            raise ProtocolError("malformed", f"unsupported protocol version {body.get('v')!r}")
        ctype = _str(body, "type", 16)
        if ctype not in COMMAND_TYPES:
            raise ProtocolError("malformed", f"unknown command type {ctype!r}")
        target = _str(body, "target", 64)
        if not SPEAKER_ID.match(target):
            raise ProtocolError("malformed", "bad target id")
        play = Play.from_body(body.get("play")) if ctype == "play" else None
        volume = _int(body, "volume", 0, 100) if ctype == "volume" else None
        broadcast_id = None
        if ctype == "stop" and "broadcast_id" in body:
            broadcast_id = _int(body, "broadcast_id")
        cmd = cls(
            id=_str(body, "id", 64),
            target=target,
            seq=_int(body, "seq", 1),
            type=ctype,
            issued_at=_int(body, "issued_at"),
            not_before=_int(body, "not_before"),
            expires_at=_int(body, "expires_at"),
            priority=_int(body, "priority", 0, 100),
            play=play,
            volume=volume,
            broadcast_id=broadcast_id,
        )
        if cmd.expires_at <= cmd.not_before:
            raise ProtocolError("malformed", "expires_at must be after not_before")
        if cmd.expires_at - cmd.not_before > MAX_VALIDITY_MS:
            raise ProtocolError("malformed", "a command may be valid for at most a day")
        return cmd


def sign_command(cmd: Command, server_private_b64: str, kid: str) -> bytes:
    return seal(cmd.to_body(), server_private_b64, kid)


def verify_command(
    payload: bytes,
    server_keys: dict[str, str],
    me: str,
    now_ms: int,
    tolerance_ms: int = CLOCK_TOLERANCE_MS,
) -> Command:
    """Check a command as a loudspeaker must, except for the sequence number (stateful).

    Raises ProtocolError naming the reason; the caller checks ``seq`` against the last
    accepted one and reports ``replayed`` when it is not newer.
    """
    cmd = authentic_command(payload, server_keys, me)
    check_time(cmd, now_ms, tolerance_ms)
    return cmd


def authentic_command(payload: bytes, server_keys: dict[str, str], me: str) -> Command:
    """Steps 1-5 of the checks: envelope, key, signature, form, target (no clock, no state)."""
    body, kid, sig = open_envelope(payload)
    public = server_keys.get(kid)
    if public is None:
        raise ProtocolError("unknown_key", f"key id {kid!r} is not provisioned")
    verify_body(body, sig, public)
    cmd = Command.from_body(body)
    if cmd.target != me:
        raise ProtocolError("wrong_target", f"command is for {cmd.target!r}")
    return cmd


def check_time(cmd: Command, now_ms: int, tolerance_ms: int = CLOCK_TOLERANCE_MS) -> None:
    """Steps 6-7: the command is inside its validity window on this clock.

    ``expired``: now is past expires_at (plus tolerance). ``not_yet_valid``: the command
    claims to be issued in the future, or asks to wait more than MAX_LEAD_MS before
    starting: either the clocks disagree or someone holds signed commands back for later.
    """
    if now_ms > cmd.expires_at + tolerance_ms:
        raise ProtocolError("expired")
    if cmd.issued_at > now_ms + tolerance_ms:
        raise ProtocolError("not_yet_valid", "issued in the future")
    if cmd.not_before > now_ms + tolerance_ms + MAX_LEAD_MS:
        raise ProtocolError("not_yet_valid", "starts too far ahead")


def command_id_of(payload: bytes) -> str | None:
    """Best-effort command id of an unverifiable payload, for the ``rejected`` event."""
    try:
        env = json.loads(payload)
        cid = env["body"]["id"]
    except (ValueError, KeyError, TypeError):
        return None
    return cid if isinstance(cid, str) and 0 < len(cid) <= 64 else None


@dataclass(frozen=True)
class Event:
    """A loudspeaker-to-server receipt, signed with the loudspeaker's own key."""

    command_id: str
    speaker: str
    kind: str
    at: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_body(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "command_id": self.command_id,
            "speaker": self.speaker,
            "kind": self.kind,
            "at": self.at,
            "details": self.details,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Event:
        if body.get("v") != VERSION:
            raise ProtocolError("malformed", "unsupported protocol version")
        kind = _str(body, "kind", 16)
        if kind not in EVENT_KINDS:
            raise ProtocolError("malformed", f"unknown event kind {kind!r}")
        details = body.get("details", {})
        if not isinstance(details, dict):
            raise ProtocolError("malformed", "details must be an object")
        return cls(
            command_id=_str(body, "command_id", 64),
            speaker=_str(body, "speaker", 64),
            kind=kind,
            at=_int(body, "at"),
            details=details,
        )


def sign_event(event: Event, speaker_private_b64: str, kid: str) -> bytes:
    return seal(event.to_body(), speaker_private_b64, kid)


def claimed_kind(payload: bytes) -> str | None:
    """The kind an event's body names, unverified: for ordering work, never for trust."""
    try:
        body, _kid, _sig = open_envelope(payload)
    except ProtocolError:
        return None
    kind = body.get("kind")
    return kind if isinstance(kind, str) else None


def verify_event(payload: bytes, speaker_id: str, speaker_public_b64: str) -> Event:
    """Check an event received on ``speaker_id``'s event topic."""
    body, _kid, sig = open_envelope(payload)
    verify_body(body, sig, speaker_public_b64)
    event = Event.from_body(body)
    if event.speaker != speaker_id:
        raise ProtocolError("wrong_target", "event names another loudspeaker")
    return event


def availability(online: bool) -> bytes:
    return json.dumps({"state": "online" if online else "offline"}).encode()


def parse_availability(payload: bytes) -> bool | None:
    """True for online, False for offline, None for anything else."""
    try:
        state = json.loads(payload).get("state")
    except (ValueError, AttributeError):
        return None
    return {"online": True, "offline": False}.get(state)


def parse_state(payload: bytes) -> dict[str, Any] | None:
    if len(payload) > MAX_PAYLOAD:
        return None
    try:
        state = json.loads(payload)
    except ValueError:
        return None
    return state if isinstance(state, dict) else None
