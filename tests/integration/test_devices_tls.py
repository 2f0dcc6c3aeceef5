"""The private broker's TLS listener, for loudspeakers outside the town network."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broadcast.keys import KeyPair, b64, mosquitto_password_hash
from broadcast.settings import Settings, load_settings
from broadcast.views import Provisioning
from cunxiang.provision import provisioning_document
from cunxiang.runtime import private_broker
from devices import protocol
from devices.broker import PrivateBroker, TlsListener, free_port
from devices.protocol import Topics
from devices.speaker import Loudspeaker, SpeakerConfig
from tests.conftest import require
from tests.devices_rig import SERVER_PW, events_of
from tests.mqtt_probe import Probe


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    require("mosquitto")
    broker = PrivateBroker(
        tmp_path / "mosquitto",
        free_port(0),
        Topics("tlstest"),
        mosquitto_password_hash(SERVER_PW),
        tls=TlsListener(free_port(0), "127.0.0.1", ("localhost", "127.0.0.1")),
    )
    broker.start([("far-01", mosquitto_password_hash("far-password"))])
    yield broker
    broker.stop()


def test_a_loudspeaker_connects_over_tls_trusting_the_ca_in_its_file(
    tls_broker: PrivateBroker, tmp_path: Path
) -> None:
    assert tls_broker.tls is not None
    server_key, pair = KeyPair.generate(), KeyPair.generate()
    config = SpeakerConfig(
        speaker_id="far-01",
        host="localhost",
        port=tls_broker.tls.port,
        password="far-password",
        private_key=b64(pair.private),
        public_key=b64(pair.public),
        server_keys={server_key.key_id: b64(server_key.public)},
        state_dir=tmp_path / "state",
        base_topic="tlstest",
        tls=True,
        ca_pem=tls_broker.certificates().ca_pem(),
    )
    speaker = Loudspeaker(config)
    speaker.start()
    try:
        assert speaker.wait_connected(20)
        server = Probe(tls_broker.port, "cunxiang-server", SERVER_PW)
        assert server.wait_connect_result()
        server.subscribe("tlstest/speakers/+/event")
        now = int(time.time() * 1000)
        ping = protocol.Command("p-1", "far-01", 1, "ping", now, now, now + 60_000)
        server.publish(
            Topics("tlstest").command("far-01"),
            protocol.sign_command(ping, b64(server_key.private), server_key.key_id),
        )
        server.wait_for(lambda m: any(e["kind"] == "finished" for e in events_of(m)))
        server.close()
    finally:
        speaker.stop()


def test_tls_listener_refuses_clients_that_do_not_trust_it_or_speak_plain_mqtt(
    tls_broker: PrivateBroker,
) -> None:
    assert tls_broker.tls is not None
    system_cas_only = ssl.create_default_context()
    with (
        socket.create_connection(("localhost", tls_broker.tls.port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        system_cas_only.wrap_socket(raw, server_hostname="localhost").close()
    plain = Probe(tls_broker.tls.port, "far-01", "far-password")
    assert not plain.wait_connect_result(5)
    plain.close()


def test_provisioning_file_carries_the_tls_listener_and_its_ca(settings: Settings) -> None:
    values = settings.model_dump()
    values["mqtt"] = {**values["mqtt"], "tls_port": 8883, "public_host": "mqtt.town.example"}
    values["database_url"] = None
    tls_settings = load_settings(None, **values)
    prov = Provisioning("far-01", "上溪村", "priv", "pub", "pw", {"k": "v"})
    broker = provisioning_document(tls_settings, prov)["broker"]
    assert isinstance(broker, dict)
    assert (broker["host"], broker["port"], broker["tls"]) == ("mqtt.town.example", 8883, True)
    assert str(broker["ca_pem"]).startswith("-----BEGIN CERTIFICATE-----")
    certs = private_broker(tls_settings).certificates()
    assert certs.ca_pem() == broker["ca_pem"]
    assert (certs.server_key.stat().st_mode & 0o777) == 0o600
