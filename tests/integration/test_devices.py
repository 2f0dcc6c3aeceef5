"""The reference loudspeaker and the private broker, on a real mosquitto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from broadcast.keys import KeyPair, b64, mosquitto_password_hash
from devices import protocol
from devices.broker import PrivateBroker, free_port
from devices.protocol import Command, Topics
from devices.speaker import Loudspeaker, SpeakerConfig
from tests.conftest import require
from tests.mqtt_probe import Probe

NOW = 1_795_000_000_000
SERVER_PW = "server-password-for-tests"


@dataclass
class Rig:
    broker: PrivateBroker
    server_key: KeyPair
    speakers: dict[str, tuple[KeyPair, str]]  # id -> (key pair, mqtt password)
    topics: Topics
    tmp: Path

    @property
    def port(self) -> int:
        return self.broker.port

    def server_probe(self) -> Probe:
        probe = Probe(self.port, "cunxiang-server", SERVER_PW)
        assert probe.wait_connect_result()
        return probe

    def speaker(self, sid: str, clock_ms: int = NOW) -> Loudspeaker:
        pair, password = self.speakers[sid]
        config = SpeakerConfig(
            speaker_id=sid,
            host="127.0.0.1",
            port=self.port,
            password=password,
            private_key=b64(pair.private),
            public_key=b64(pair.public),
            server_keys={self.server_key.key_id: b64(self.server_key.public)},
            state_dir=self.tmp / "state" / sid,
            base_topic=self.topics.base,
        )
        return Loudspeaker(config, clock_ms=lambda: clock_ms)

    def command(self, target: str, seq: int, **changes: object) -> Command:
        fields: dict[str, object] = {
            "id": f"cmd-{target}-{seq}",
            "target": target,
            "seq": seq,
            "type": "ping",
            "issued_at": NOW,
            "not_before": NOW,
            "expires_at": NOW + 60_000,
        }
        fields.update(changes)
        return Command(**fields)  # type: ignore[arg-type]

    def sign(self, cmd: Command, key: KeyPair | None = None) -> bytes:
        key = key or self.server_key
        return protocol.sign_command(cmd, b64(key.private), key.key_id)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    require("mosquitto")
    topics = Topics("t" + tmp_path.name[-8:].replace("_", "").lower())
    speakers = {sid: (KeyPair.generate(), f"pw-{sid}-secret") for sid in ("spk-a", "spk-b")}
    broker = PrivateBroker(
        tmp_path / "mosquitto", free_port(0), topics, mosquitto_password_hash(SERVER_PW)
    )
    broker.start([(sid, mosquitto_password_hash(pw)) for sid, (_k, pw) in speakers.items()])
    try:
        yield Rig(broker, KeyPair.generate(), speakers, topics, tmp_path)
    finally:
        broker.stop()


def events_of(messages: list[tuple[str, bytes]]) -> list[dict[str, object]]:
    return [json.loads(p)["body"] for t, p in messages if t.endswith("/event")]


def test_anonymous_and_wrong_password_connections_are_refused(rig: Rig) -> None:
    anonymous = Probe(rig.port, None, None)
    assert not anonymous.wait_connect_result()
    anonymous.close()
    wrong = Probe(rig.port, "spk-a", "not-the-password")
    assert not wrong.wait_connect_result()
    wrong.close()


def test_a_loudspeaker_cannot_command_another_or_forge_its_events(rig: Rig) -> None:
    server = rig.server_probe()
    server.subscribe(f"{rig.topics.base}/#")
    _pair, password = rig.speakers["spk-a"]
    intruder = Probe(rig.port, "spk-a", password)
    assert intruder.wait_connect_result()
    intruder.publish(rig.topics.command("spk-b"), b"evil")
    intruder.publish(rig.topics.event("spk-b"), b"forged")
    intruder.publish(rig.topics.event("spk-a"), b"own topic is allowed")
    server.wait_for(lambda m: any(p == b"own topic is allowed" for _t, p in m))
    assert all(p not in (b"evil", b"forged") for _t, p in server.messages)
    intruder.close()
    server.close()


def test_loudspeaker_accepts_a_signed_command_once_and_rejects_attacks(rig: Rig) -> None:
    server = rig.server_probe()
    server.subscribe(rig.topics.all_of("event"))
    speaker = rig.speaker("spk-a")
    speaker.start()
    assert speaker.wait_connected(10)
    topic = rig.topics.command("spk-a")

    good = rig.sign(rig.command("spk-a", 5))
    server.publish(topic, good)
    server.publish(topic, good)  # a redelivery: ignored, not replayed
    server.wait_for(lambda m: [e["kind"] for e in events_of(m)] == ["received", "finished"])

    attacks = {
        "forged": (rig.sign(rig.command("spk-a", 6), KeyPair.generate()), "unknown_key"),
        "older seq": (rig.sign(rig.command("spk-a", 4, id="cmd-old")), "replayed"),
        "wrong target": (rig.sign(rig.command("spk-b", 7)), "wrong_target"),
        "expired": (
            rig.sign(rig.command("spk-a", 8, not_before=NOW - 600_000, expires_at=NOW - 60_000)),
            "expired",
        ),
        "malformed": (b"{not json", "malformed"),
    }
    for payload, _reason in attacks.values():
        server.publish(topic, payload)
    expected = [reason for _p, reason in attacks.values()]

    def rejections(m: list[tuple[str, bytes]]) -> list[object] | None:
        got = [e["details"].get("reason") for e in events_of(m) if e["kind"] == "rejected"]  # type: ignore[union-attr]
        return got if len(got) == len(expected) else None

    assert server.wait_for(rejections) == expected
    # Tampering with a signed body is a bad signature.
    env = json.loads(rig.sign(rig.command("spk-a", 9)))
    env["body"]["seq"] = 10
    server.publish(topic, json.dumps(env).encode())
    server.wait_for(
        lambda m: any(e["details"] == {"reason": "bad_signature"} for e in events_of(m))
    )
    assert speaker.last_seq == 5
    speaker.stop()

    # The accepted sequence number survives a restart: the old command is now a replay.
    again = rig.speaker("spk-a")
    assert again.last_seq == 5
    server.close()
