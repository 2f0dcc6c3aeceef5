"""Attacks on a reference loudspeaker through a real mosquitto: each ends with nothing
played and a signed ``rejected`` event naming the reason."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from broadcast.keys import KeyPair, b64
from devices import protocol
from tests.conftest import require
from tests.devices_rig import NOW, Rig, events_of, kinds_of, make_rig
from tests.mqtt_probe import Probe


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    require("mosquitto")
    with make_rig(tmp_path) as rig:
        yield rig


@pytest.fixture
def server(rig: Rig) -> Iterator[Probe]:
    probe = rig.server_probe()
    probe.subscribe(rig.topics.all_of("event"))
    yield probe
    probe.close()


def rejection(server: Probe, command_id: str) -> dict[str, object]:
    def found(messages: list[tuple[str, bytes]]) -> dict[str, object] | None:
        for e in events_of(messages):
            if e["command_id"] == command_id and e["kind"] == "rejected":
                return dict(e["details"])
        return None

    return dict(server.wait_for(found))


def test_a_genuine_command_plays_once_and_copies_of_it_are_refused(rig: Rig, server: Probe) -> None:
    speaker = rig.speaker("spk-a", start=True)
    topic = rig.topics.command("spk-a")
    good = rig.sign(rig.play("spk-a", 5))
    server.publish(topic, good)
    server.wait_for(lambda m: "finished" in kinds_of(m, "cmd-spk-a-5"))
    # The same bytes again (a QoS 1 redelivery, a resend, or an attacker's replay): the
    # receipts already sent are sent again and the copy is refused; nothing plays twice.
    server.publish(topic, good)
    assert rejection(server, "cmd-spk-a-5") == {"reason": "replayed", "duplicate": 1}
    assert speaker.played == ["cmd-spk-a-5"]
    kinds = kinds_of(server.messages, "cmd-spk-a-5")
    assert kinds.count("started") == 2  # once live, once resent: the server records it once
    speaker.stop()
    # The accepted sequence number and the receipts survive a restart.
    again = rig.speaker("spk-a")
    assert again.last_seq == 5


ATTACKS = {
    # name: (how the command is altered, the reason the loudspeaker must give)
    "forged signature": ("forged", "bad_signature"),
    "unknown key": ("unknown_key", "unknown_key"),
    "tampered body": ("tampered", "bad_signature"),
    "older sequence number": ("older", "replayed"),
    "replayed command": ("replay", "replayed"),
    "expired": ("expired", "expired"),
    "issued in the future": ("future", "not_yet_valid"),
    "starts too far ahead": ("far_ahead", "not_yet_valid"),
    "wrong target": ("wrong_target", "wrong_target"),
    "float in the body": ("float", "malformed"),
    "unknown version": ("version", "malformed"),
}


def attack_payload(rig: Rig, how: str) -> tuple[str, bytes]:
    """(command id the rejection names, payload) for one attack on spk-a (last seq 10)."""
    if how == "forged":
        cmd = rig.play("spk-a", 11)
        return cmd.id, rig.sign(cmd, KeyPair.generate(), kid=rig.server_key.key_id)
    if how == "unknown_key":
        cmd = rig.play("spk-a", 11)
        return cmd.id, rig.sign(cmd, KeyPair.generate())
    if how == "tampered":
        cmd = rig.play("spk-a", 11)
        env = json.loads(rig.sign(cmd))
        env["body"]["play"]["url"] = "http://evil.example/other.mp3"
        return cmd.id, json.dumps(env).encode()
    if how == "older":
        cmd = rig.play("spk-a", 9, id="cmd-older")
        return cmd.id, rig.sign(cmd)
    if how == "replay":
        # Captured on the way to the loudspeaker before seq 10 and replayed later.
        cmd = rig.play("spk-a", 7, id="cmd-captured")
        return cmd.id, rig.sign(cmd)
    if how == "expired":
        cmd = rig.play("spk-a", 11, not_before=NOW - 600_000, expires_at=NOW - 31_000)
        return cmd.id, rig.sign(cmd)
    if how == "future":
        at = NOW + 10 * 60_000
        cmd = rig.play("spk-a", 11, issued_at=at, not_before=at, expires_at=at + 60_000)
        return cmd.id, rig.sign(cmd)
    if how == "far_ahead":
        at = NOW + protocol.MAX_LEAD_MS + 60_000
        cmd = rig.play("spk-a", 11, not_before=at, expires_at=at + 60_000)
        return cmd.id, rig.sign(cmd)
    if how == "wrong_target":
        cmd = rig.play("spk-b", 11)
        return cmd.id, rig.sign(cmd)
    if how in ("float", "version"):
        # Signed by the server's key, but not a valid v1 body.
        cmd = rig.play("spk-a", 11)
        body = cmd.to_body()
        if how == "float":
            body["priority"] = 50.0
        else:
            body["v"] = 2
        raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        sig = protocol.load_private(b64(rig.server_key.private)).sign(raw)
        env = {"body": body, "kid": rig.server_key.key_id, "sig": base64.b64encode(sig).decode()}
        return cmd.id, json.dumps(env).encode()
    raise AssertionError(how)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_rejected_with_its_reason_and_nothing_plays(
    rig: Rig, server: Probe, name: str
) -> None:
    how, reason = ATTACKS[name]
    speaker = rig.speaker("spk-a", start=True)
    topic = rig.topics.command("spk-a")
    server.publish(topic, rig.sign(rig.play("spk-a", 10, id="cmd-base")))
    server.wait_for(lambda m: "finished" in kinds_of(m, "cmd-base"))

    command_id, payload = attack_payload(rig, how)
    server.publish(topic, payload)
    assert rejection(server, command_id)["reason"] == reason
    # A later genuine command still works, and it is the only other thing played.
    server.publish(topic, rig.sign(rig.play("spk-a", 12, id="cmd-after")))
    server.wait_for(lambda m: "finished" in kinds_of(m, "cmd-after"))
    assert speaker.played == ["cmd-base", "cmd-after"]
    assert speaker.last_seq == 12
    assert kinds_of(server.messages, command_id) == ["rejected"]


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b"[]", b'{"body":{},"kid":"x","sig":"!!"}', b"\xff\xfe", b""],
    ids=["not-json", "array", "bad-envelope", "not-utf8", "empty"],
)
def test_malformed_payloads_are_rejected(rig: Rig, server: Probe, payload: bytes) -> None:
    speaker = rig.speaker("spk-a", start=True)
    server.publish(rig.topics.command("spk-a"), payload)
    assert rejection(server, "unknown")["reason"] == "malformed"
    assert speaker.played == []


def test_oversized_payload_is_rejected_unread(rig: Rig, server: Probe) -> None:
    speaker = rig.speaker("spk-a", start=True)
    cmd = rig.play("spk-a", 3)
    env = json.loads(rig.sign(cmd))
    env["padding"] = "x" * (protocol.MAX_PAYLOAD + 1)
    server.publish(rig.topics.command("spk-a"), json.dumps(env).encode())
    assert rejection(server, cmd.id)["reason"] == "malformed"
    assert speaker.played == [] and speaker.last_seq == 0


def test_audio_whose_hash_does_not_match_is_not_played(rig: Rig, server: Probe) -> None:
    rig.media.files["/swapped.mp3"] = b"someone else's audio"
    speaker = rig.speaker("spk-a", start=True)
    cmd = rig.play("spk-a", 1, path="/swapped.mp3")
    server.publish(rig.topics.command("spk-a"), rig.sign(cmd))
    assert rejection(server, cmd.id)["reason"] == "hash_mismatch"
    assert rig.media.hits["/swapped.mp3"] == 1
    assert kinds_of(server.messages, cmd.id) == ["received", "rejected"]
    assert speaker.played == []
    # Nothing was cached under the promised hash.
    assert speaker.cache.get(cmd.play.sha256 if cmd.play else "") is None


def test_a_loudspeaker_account_cannot_touch_another_loudspeakers_topics(
    rig: Rig, server: Probe
) -> None:
    server.subscribe(f"{rig.topics.base}/#")
    victim = rig.speaker("spk-b", start=True)
    pair_a, password = rig.speakers["spk-a"]
    intruder = Probe(rig.port, "spk-a", password)
    assert intruder.wait_connect_result()
    intruder.subscribe(rig.topics.command("spk-b"))  # the ACL filters what it may read
    forged = protocol.Event("cmd-x", "spk-b", "finished", NOW)
    attempts = [
        (rig.topics.command("spk-b"), rig.sign(rig.play("spk-b", 1))),
        (rig.topics.event("spk-b"), protocol.sign_event(forged, b64(pair_a.private), "k")),
        (rig.topics.availability("spk-b"), b'{"state":"offline"}'),
        (rig.topics.state("spk-b"), b'{"volume":0}'),
        (rig.topics.server_state, b'{"state":"offline"}'),
    ]
    for topic, payload in attempts:
        intruder.publish(topic, payload)
    # The server sees a publication on spk-a's own topic, and none of the above.
    intruder.publish(rig.topics.event("spk-a"), b"own topic is allowed")
    server.publish(rig.topics.command("spk-b"), rig.sign(rig.play("spk-b", 2)))
    server.wait_for(lambda m: any(p == b"own topic is allowed" for _t, p in m))
    server.wait_for(lambda m: "finished" in kinds_of(m, "cmd-spk-b-2"))
    assert not set(attempts) & set(server.messages)
    assert intruder.messages == []  # it never read spk-b's command
    assert victim.played == ["cmd-spk-b-2"]
    intruder.close()


def test_anonymous_and_wrong_password_connections_are_refused(rig: Rig) -> None:
    anonymous = Probe(rig.port, None, None)
    assert not anonymous.wait_connect_result()
    anonymous.close()
    wrong = Probe(rig.port, "spk-a", "not-the-password")
    assert not wrong.wait_connect_result()
    wrong.close()
