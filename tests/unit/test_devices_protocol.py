"""Protocol rules added with the hardened loudspeaker, and the extra worked examples of
docs/protocol.md (receipt count, stop for a broadcast), byte for byte."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from devices import protocol
from devices.protocol import (
    CLOCK_TOLERANCE_MS,
    MAX_LEAD_MS,
    MAX_VALIDITY_MS,
    Command,
    Event,
    ProtocolError,
)

DOC = Path(__file__).parents[2] / "docs" / "protocol.md"
SERVER_PRIVATE = base64.b64encode(bytes(range(32))).decode()
SPEAKER_PRIVATE = base64.b64encode(bytes(range(32, 64))).decode()
SERVER_KEYS = {
    "56475aa75463474c": base64.b64encode(
        protocol.load_private(SERVER_PRIVATE).public_key().public_bytes_raw()
    ).decode()
}
NOW = 1_795_000_000_000


def ping(**changes: object) -> Command:
    fields: dict[str, object] = {
        "id": "c-1",
        "target": "spk-1",
        "seq": 1,
        "type": "ping",
        "issued_at": NOW,
        "not_before": NOW,
        "expires_at": NOW + 60_000,
    }
    fields.update(changes)
    return Command(**fields)  # type: ignore[arg-type]


def reason(cmd: Command, now: int = NOW) -> str | None:
    payload = protocol.sign_command(cmd, SERVER_PRIVATE, "56475aa75463474c")
    try:
        protocol.verify_command(payload, SERVER_KEYS, "spk-1", now)
    except ProtocolError as exc:
        return exc.reason
    return None


def test_clock_rules_with_their_tolerance() -> None:
    assert reason(ping()) is None
    # Issued in the future: refused beyond the tolerance only.
    assert reason(ping(issued_at=NOW + CLOCK_TOLERANCE_MS)) is None
    assert reason(ping(issued_at=NOW + CLOCK_TOLERANCE_MS + 1)) == "not_yet_valid"
    # Starting far ahead: up to an hour (plus tolerance) is accepted.
    ahead = NOW + CLOCK_TOLERANCE_MS + MAX_LEAD_MS
    assert reason(ping(not_before=ahead, expires_at=ahead + 1)) is None
    assert reason(ping(not_before=ahead + 1, expires_at=ahead + 2)) == "not_yet_valid"
    # Expired: beyond expires_at plus the tolerance.
    assert reason(ping(), now=NOW + 60_000 + CLOCK_TOLERANCE_MS) is None
    assert reason(ping(), now=NOW + 60_000 + CLOCK_TOLERANCE_MS + 1) == "expired"


def test_a_command_may_be_valid_for_a_day_at_most() -> None:
    assert reason(ping(expires_at=NOW + MAX_VALIDITY_MS)) is None
    assert reason(ping(expires_at=NOW + MAX_VALIDITY_MS + 1)) == "malformed"
    assert reason(ping(expires_at=NOW)) == "malformed"


def test_checks_without_the_clock_come_first() -> None:
    # A copy is recognised by id before the clock is consulted (the loudspeaker's step 6).
    late = protocol.sign_command(ping(), SERVER_PRIVATE, "56475aa75463474c")
    cmd = protocol.authentic_command(late, SERVER_KEYS, "spk-1")
    assert cmd.id == "c-1"
    with pytest.raises(ProtocolError) as err:
        protocol.check_time(cmd, NOW + 10 * 60_000)
    assert err.value.reason == "expired"


def test_stop_may_name_a_broadcast_and_nothing_else_carries_one() -> None:
    stop = ping(type="stop", broadcast_id=17)
    payload = protocol.sign_command(stop, SERVER_PRIVATE, "56475aa75463474c")
    assert protocol.verify_command(payload, SERVER_KEYS, "spk-1", NOW).broadcast_id == 17
    body = ping().to_body()
    body["broadcast_id"] = 17  # ignored on a ping
    assert Command.from_body(body).broadcast_id is None


def test_extra_worked_examples_match_the_document() -> None:
    doc = DOC.read_text(encoding="utf-8")
    event = Event(
        "0b6f3c1e-5d7a-4c1e-9a51-3f2d8c7b6a10",
        "shangxi-01",
        "finished",
        1795312830000,
        {"repeat": 2, "receipts": 4},
    )
    assert protocol.sign_event(event, SPEAKER_PRIVATE, "24f6ed6acbfe1009").decode() in doc
    stop = Command(
        id="7d2c9a04-8e1f-4b6a-a3c5-2f90d1e6b7c8",
        target="shangxi-01",
        seq=43,
        type="stop",
        issued_at=1795313000000,
        not_before=1795313000000,
        expires_at=1795313300000,
        priority=100,
        broadcast_id=17,
    )
    assert protocol.canonical(stop.to_body()).decode() in doc
    wire = json.loads(protocol.sign_command(stop, SERVER_PRIVATE, "56475aa75463474c"))
    assert wire["sig"] in doc
