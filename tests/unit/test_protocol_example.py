"""The worked example in docs/protocol.md, byte for byte."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from devices import protocol
from devices.protocol import Command, Event, Play

DOC = Path(__file__).parents[2] / "docs" / "protocol.md"
SERVER_PRIVATE = base64.b64encode(bytes(range(32))).decode()
SPEAKER_PRIVATE = base64.b64encode(bytes(range(32, 64))).decode()


def example_command() -> Command:
    sha = "5f" * 32
    return Command(
        id="0b6f3c1e-5d7a-4c1e-9a51-3f2d8c7b6a10",
        target="shangxi-01",
        seq=42,
        type="play",
        issued_at=1795312800000,
        not_before=1795312800000,
        expires_at=1795313700000,
        priority=50,
        play=Play(
            17,
            f"http://192.0.2.10:8080/media/{sha}.mp3?exp=1795313700&token=3c0f2a",
            sha,
            48213,
            12046,
            2,
            80,
        ),
    )


def test_command_example_matches_the_document() -> None:
    doc = DOC.read_text(encoding="utf-8")
    canonical = protocol.canonical(example_command().to_body())
    assert canonical.decode() in doc
    assert hashlib.sha256(canonical).hexdigest() in doc
    wire = json.loads(protocol.sign_command(example_command(), SERVER_PRIVATE, "56475aa75463474c"))
    assert wire["sig"] in doc
    public = protocol.load_private(SERVER_PRIVATE).public_key().public_bytes_raw()
    assert protocol.key_id(public) == "56475aa75463474c"
    assert base64.b64encode(public).decode() in doc


def test_event_example_matches_the_document() -> None:
    doc = DOC.read_text(encoding="utf-8")
    event = Event(
        "0b6f3c1e-5d7a-4c1e-9a51-3f2d8c7b6a10",
        "shangxi-01",
        "finished",
        1795312830000,
        {"repeat": 2},
    )
    wire = protocol.sign_event(event, SPEAKER_PRIVATE, "24f6ed6acbfe1009").decode()
    assert wire in doc
    public = protocol.load_private(SPEAKER_PRIVATE).public_key().public_bytes_raw()
    assert (
        protocol.verify_event(wire.encode(), "shangxi-01", base64.b64encode(public).decode())
        == event
    )
