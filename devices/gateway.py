"""Server side of the MQTT contract: publishes the outbox, ingests receipts and availability.

paho callbacks only decode and enqueue; worker threads do the database work, so a slow
database or a malformed payload never stalls or kills the network loop.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from broadcast.keys import b64
from broadcast.services import Services
from broadcast.views import IncomingEvent, OutgoingCommand
from devices import protocol
from devices.protocol import ProtocolError, Topics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str
    password: str
    tls: bool = False
    ca_file: str | None = None


def epoch_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class Gateway:
    def __init__(
        self,
        services: Services,
        broker: BrokerAddress,
        topics: Topics,
        client_id: str = "cunxiang-server",
        poll_seconds: float = 1.0,
    ) -> None:
        self.services = services
        self.broker = broker
        self.topics = topics
        self.poll_seconds = poll_seconds
        self._kid = services.server_key.key_id
        self._private_b64 = b64(services.server_key.private)
        self._inbox: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._threads: list[threading.Thread] = []
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self._client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self._client.tls_set(ca_certs=broker.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self._client.will_set(topics.server_state, protocol.availability(False), 1, retain=True)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(1, 30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self._client.loop_start()
        for name, target in (
            ("gateway-ingest", self._ingest_loop),
            ("gateway-outbox", self._outbox_loop),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def wake(self) -> None:
        """Publish due commands now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._inbox.put(None)
        for thread in self._threads:
            thread.join(10)
        if self._connected.is_set():
            info = self._client.publish(
                self.topics.server_state, protocol.availability(False), 1, retain=True
            )
            info.wait_for_publish(5)
        self._client.disconnect()
        self._client.loop_stop()
        logger.info("gateway stopped")

    # -- paho callbacks: decode and enqueue only ------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: Any,
        reason_code: ReasonCode,
        _properties: Any,
    ) -> None:
        if reason_code.is_failure:
            logger.error("broker refused the gateway: %s", reason_code)
            return
        for leaf in ("event", "availability", "state"):
            client.subscribe(self.topics.all_of(leaf), qos=1)
        client.publish(self.topics.server_state, protocol.availability(True), 1, retain=True)
        self._connected.set()
        self._wake.set()
        logger.info("gateway connected to %s:%s", self.broker.host, self.broker.port)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: Any,
        reason_code: ReasonCode,
        _properties: Any,
    ) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            logger.warning("gateway lost the broker: %s", reason_code)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put((msg.topic, bytes(msg.payload)))

    # -- workers ------------------------------------------------------------------
    def _ingest_loop(self) -> None:
        while True:
            item = self._inbox.get()
            if item is None:
                return
            try:
                self.handle(*item)
            except Exception:
                logger.exception("failed to handle a message on %s", item[0])

    def handle(self, topic: str, payload: bytes) -> None:
        """Process one incoming message. Bad input is logged and dropped."""
        parsed = self.topics.parse(topic)
        if parsed is None:
            logger.warning("message on unexpected topic %s dropped", topic)
            return
        speaker_id, leaf = parsed
        if leaf == "event":
            self._handle_event(speaker_id, payload)
        elif leaf == "availability":
            online = protocol.parse_availability(payload)
            if online is None:
                logger.warning("malformed availability from %s dropped", speaker_id)
            elif not self.services.set_availability(speaker_id, online):
                logger.warning("availability from unknown loudspeaker %s dropped", speaker_id)
        elif leaf == "state":
            state = protocol.parse_state(payload)
            if state is None:
                logger.warning("malformed state from %s dropped", speaker_id)
            else:
                self.services.set_speaker_state(speaker_id, state)

    def _handle_event(self, speaker_id: str, payload: bytes) -> None:
        public = self.services.speaker_public_key(speaker_id)
        if public is None:
            logger.warning("event from unknown or revoked loudspeaker %s dropped", speaker_id)
            return
        try:
            event = protocol.verify_event(payload, speaker_id, public)
        except ProtocolError as exc:
            logger.warning("event from %s refused: %s", speaker_id, exc)
            return
        recorded = self.services.record_event(
            IncomingEvent(
                command_id=event.command_id,
                speaker_id=speaker_id,
                kind=event.kind,
                at=from_epoch_ms(event.at),
                details=event.details,
            )
        )
        logger.debug(
            "event %s %s from %s recorded=%s", event.kind, event.command_id, speaker_id, recorded
        )

    def _outbox_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.expire_and_publish()
            except Exception:
                logger.exception("outbox pass failed")

    def expire_and_publish(self) -> int:
        """One outbox pass: close expired commands, publish due ones. Returns how many."""
        expired = self.services.expire_commands()
        if expired:
            logger.info("%d commands expired without a receipt", expired)
        if not self._connected.is_set():
            return 0
        sent: list[str] = []
        for cmd in self.services.due_commands():
            payload = self.encode(cmd)
            info = self._client.publish(self.topics.command(cmd.speaker_id), payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                logger.warning("publish to %s failed: rc=%s", cmd.speaker_id, info.rc)
                break
            sent.append(cmd.id)
        if sent:
            self.services.mark_sent(sent)
            logger.info("published %d commands", len(sent))
        return len(sent)

    def encode(self, cmd: OutgoingCommand) -> bytes:
        """Build and sign the wire message for an outbox row."""
        play = None
        if cmd.type == "play":
            p = cmd.params
            play = protocol.Play(
                broadcast_id=int(p["broadcast_id"]),
                url=self.services.media_url(str(p["audio_sha256"]), cmd.expires_at),
                sha256=str(p["audio_sha256"]),
                size=int(p["audio_size"]),
                duration_ms=int(p["duration_ms"]),
                repeat=int(p.get("repeat", 1)),
                volume=int(p.get("volume", 80)),
            )
        message = protocol.Command(
            id=cmd.id,
            target=cmd.speaker_id,
            seq=cmd.seq,
            type=cmd.type,
            issued_at=epoch_ms(cmd.issued_at),
            not_before=epoch_ms(cmd.not_before),
            expires_at=epoch_ms(cmd.expires_at),
            priority=cmd.priority,
            play=play,
            volume=int(cmd.params["volume"]) if cmd.type == "volume" else None,
        )
        return protocol.sign_command(message, self._private_b64, self._kid)
