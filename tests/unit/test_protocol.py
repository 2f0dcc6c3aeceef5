"""Signing and verification of the v1 contract."""

from __future__ import annotations

import json

import pytest

from broadcast.keys import KeyPair, b64
from devices import protocol
from devices.protocol import Command, Event, Play, ProtocolError, Topics

NOW = 1_795_000_000_000
SHA = "ab" * 32


@pytest.fixture
def server() -> KeyPair:
    return KeyPair.generate()


def keys_of(pair: KeyPair) -> dict[str, str]:
    return {pair.key_id: b64(pair.public)}


def play_command(target: str = "spk-1", seq: int = 1) -> Command:
    return Command(
        id="c-1",
        target=target,
        seq=seq,
        type="play",
        issued_at=NOW,
        not_before=NOW,
        expires_at=NOW + 600_000,
        priority=50,
        play=Play(7, "http://127.0.0.1:8080/media/x.mp3", SHA, 1000, 4000, 2, 80),
    )


def signed(cmd: Command, pair: KeyPair) -> bytes:
    return protocol.sign_command(cmd, b64(pair.private), pair.key_id)


def test_valid_command_verifies(server: KeyPair) -> None:
    cmd = play_command()
    got = protocol.verify_command(signed(cmd, server), keys_of(server), "spk-1", NOW)
    assert got == cmd


def test_every_changed_byte_of_the_body_is_detected(server: KeyPair) -> None:
    payload = signed(play_command(), server)
    env = json.loads(payload)
    body_start = payload.index(b'"body":') + len(b'"body":')
    body_end = payload.index(b',"kid"')
    failures = 0
    for i in range(body_start, body_end):
        changed = bytearray(payload)
        changed[i] = changed[i] ^ 0x01
        try:
            protocol.verify_command(bytes(changed), keys_of(server), "spk-1", NOW)
        except ProtocolError:
            failures += 1
    assert failures == body_end - body_start
    assert env["kid"] == server.key_id


def test_tampered_field_is_a_bad_signature(server: KeyPair) -> None:
    env = json.loads(signed(play_command(), server))
    env["body"]["play"]["url"] = "http://evil.example/x.mp3"
    with pytest.raises(ProtocolError) as err:
        protocol.verify_command(json.dumps(env).encode(), keys_of(server), "spk-1", NOW)
    assert err.value.reason == "bad_signature"


def test_another_key_with_the_same_key_id_is_refused(server: KeyPair) -> None:
    other = KeyPair.generate()
    payload = protocol.sign_command(play_command(), b64(other.private), server.key_id)
    with pytest.raises(ProtocolError) as err:
        protocol.verify_command(payload, keys_of(server), "spk-1", NOW)
    assert err.value.reason == "bad_signature"


def test_unknown_key_id_is_refused(server: KeyPair) -> None:
    other = KeyPair.generate()
    with pytest.raises(ProtocolError) as err:
        protocol.verify_command(signed(play_command(), other), keys_of(server), "spk-1", NOW)
    assert err.value.reason == "unknown_key"


def test_command_for_another_target_is_refused(server: KeyPair) -> None:
    with pytest.raises(ProtocolError) as err:
        protocol.verify_command(
            signed(play_command("spk-2"), server), keys_of(server), "spk-1", NOW
        )
    assert err.value.reason == "wrong_target"


def test_expired_command_is_refused_past_the_tolerance(server: KeyPair) -> None:
    payload = signed(play_command(), server)
    late = NOW + 600_000 + protocol.CLOCK_TOLERANCE_MS
    assert protocol.verify_command(payload, keys_of(server), "spk-1", late)
    with pytest.raises(ProtocolError) as err:
        protocol.verify_command(payload, keys_of(server), "spk-1", late + 1)
    assert err.value.reason == "expired"


@pytest.mark.parametrize(
    "payload",
    [b"", b"not json", b"[]", b'{"body":{}}', b'{"body":{},"kid":"x","sig":"!!"}', b"x" * 20000],
)
def test_malformed_payloads(server: KeyPair, payload: bytes) -> None:
    with pytest.raises(ProtocolError) as err:
        protocol.verify_command(payload, keys_of(server), "spk-1", NOW)
    assert err.value.reason in ("malformed", "unknown_key")


def test_canonical_encoding_is_sorted_compact_and_refuses_floats() -> None:
    assert protocol.canonical({"b": 1, "a": "村"}) == '{"a":"村","b":1}'.encode()
    with pytest.raises(ProtocolError):
        protocol.canonical({"a": 1.5})


def test_event_verifies_with_the_speaker_key_only() -> None:
    speaker = KeyPair.generate()
    event = Event("c-1", "spk-1", "finished", NOW, {"repeat": 2})
    payload = protocol.sign_event(event, b64(speaker.private), speaker.key_id)
    assert protocol.verify_event(payload, "spk-1", b64(speaker.public)) == event
    with pytest.raises(ProtocolError):
        protocol.verify_event(payload, "spk-1", b64(KeyPair.generate().public))
    with pytest.raises(ProtocolError):
        protocol.verify_event(payload, "spk-2", b64(speaker.public))


def test_topics_build_and_parse() -> None:
    t = Topics("cx")
    assert t.command("spk-1") == "cx/speakers/spk-1/command"
    assert t.parse("cx/speakers/spk-1/event") == ("spk-1", "event")
    assert t.parse("cx/speakers/../event") is None
    assert t.parse("other/speakers/spk-1/event") is None
    with pytest.raises(ValueError):
        t.command("Bad/Id")


def test_drill_is_carried_and_signed_and_absent_otherwise(server: KeyPair) -> None:
    base = play_command()
    assert base.play is not None
    assert "drill" not in base.play.to_body()
    drill = Command(**{**base.__dict__, "play": Play(**{**base.play.__dict__, "drill": True})})
    got = protocol.verify_command(signed(drill, server), keys_of(server), "spk-1", NOW)
    assert got.play is not None and got.play.drill is True
    env = json.loads(signed(drill, server))
    env["body"]["play"]["drill"] = False  # a drill passed off as real: the signature breaks
    with pytest.raises(ProtocolError) as err:
        protocol.verify_command(json.dumps(env).encode(), keys_of(server), "spk-1", NOW)
    assert err.value.reason == "bad_signature"
