"""Server side of the MQTT contract: publishes the outbox, ingests receipts and availability.

paho callbacks only decode and enqueue; worker threads do the database work, so a slow
database or a malformed payload never stalls or kills the network loop.

Incoming receipts are acknowledged to the broker (QoS 1 PUBACK) only after the transaction
that records them has committed: if the gateway dies with receipts in its queue, or the
database is unreachable, the broker still holds them and delivers them again when the
gateway's persistent session reconnects. Recording is idempotent per (command, kind), so a
redelivered receipt is counted once.
"""

from __future__ import annotations

import itertools
import logging
import queue
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.exc import DBAPIError, OperationalError

from broadcast.keys import b64
from broadcast.receipts import ACK_KINDS
from broadcast.services import Services
from broadcast.views import IncomingEvent, OutgoingCommand
from devices import protocol
from devices.protocol import ProtocolError, Topics

logger = logging.getLogger(__name__)

# No in-flight window: paho's default of 20 would meter a broadcast to 1,000 loudspeakers
# out in round trips, and with any window paho walks every unacknowledged message on each
# PUBACK to find the next one to send (quadratic: a seventh of the server's CPU in a
# 1,000-loudspeaker broadcast with a window of 1,000). paho holds at most one outbox
# pass (MAX_PASSES x PAGE) either way; the rest waits in the outbox table.
MAX_INFLIGHT = 0  # unlimited
# Outbox queries per pass, each returning up to PAGE due commands: a broadcast to a
# thousand loudspeakers goes out from one query.
MAX_PASSES = 50
PAGE = 2000
# Messages taken off the inbox ahead of the one being written (sorted by urgency).
BACKLOG = 10_000
# How long receipts wait for an outbox pass to finish before they are written anyway.
YIELD_SECONDS = 2.0
# Messages handled per database transaction when a burst arrives: answers to commands in
# batches of up to BATCH; later receipts in smaller ones, so that answers arriving
# meanwhile wait for at most ROUTINE_BATCH receipts to be verified and written.
BATCH = 500
ROUTINE_BATCH = 100
# Back-off while the database cannot take a batch of receipts (they stay unacknowledged).
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)


class Incoming(NamedTuple):
    topic: str
    payload: bytes
    mid: int
    qos: int
    # Which connection delivered it: a packet id is only meaningful on its own connection.
    connection: int


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
        self._inbox: queue.Queue[Incoming | None] = queue.Queue()
        self._connection = 0
        self._aborted = False
        # Messages taken off the wire, by leaf ("event", "availability", "state").
        self.received: dict[str, int] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        # Set while no outbox pass runs: receipts wait for a pass so that signing and
        # publishing a broadcast are not slowed by the answers to its first commands.
        self._outbox_idle = threading.Event()
        self._outbox_idle.set()
        self._pass_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._unacked: deque[mqtt.MQTTMessageInfo] = deque(maxlen=100_000)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        self._client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self._client.tls_set(ca_certs=broker.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self._client.will_set(topics.server_state, protocol.availability(False), 1, retain=True)
        self._client.max_queued_messages_set(0)
        self._client.max_inflight_messages_set(MAX_INFLIGHT)
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

    def flush(self, timeout: float) -> bool:
        """Wait until the broker has acknowledged every command published so far."""
        deadline = time.monotonic() + timeout
        while self._unacked:
            info = self._unacked[0]
            if not info.is_published():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    info.wait_for_publish(remaining)
                except (RuntimeError, ValueError):
                    return False
                if not info.is_published():
                    return False
            self._unacked.popleft()
        return True

    def wake(self) -> None:
        """Publish due commands now instead of at the next poll."""
        self._wake.set()

    def abort(self) -> None:
        """Simulate a crash (tests): drop the connection without DISCONNECT or a final
        ``offline``, so the broker publishes the will, and stop the workers."""
        self._aborted = True  # a dead process acknowledges nothing more
        self._stopping.set()
        self._wake.set()
        self._inbox.put(None)
        self._client.loop_stop()
        sock = self._client.socket()
        if sock is not None:
            sock.close()
        for thread in self._threads:
            thread.join(10)

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
            try:
                info.wait_for_publish(5)
            except (RuntimeError, ValueError) as exc:  # the broker went away meanwhile
                logger.warning("could not announce offline: %s", exc)
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
        self._connection += 1
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
        leaf = msg.topic.rsplit("/", 1)[-1]
        self.received[leaf] = self.received.get(leaf, 0) + 1
        self._inbox.put(Incoming(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._connection))

    # -- workers ------------------------------------------------------------------
    def _ingest_loop(self) -> None:
        # What has arrived is sorted into two queues: a loudspeaker's answer to a command
        # (`received`, `rejected`) and its availability are recorded ahead of the receipts
        # that follow (`downloaded`, `started`, ...). When a broadcast to a thousand
        # loudspeakers answers, the last ones' `received` no longer waits behind the
        # first ones' playback receipts. Order within a command does not matter to the log.
        urgent: deque[Incoming] = deque()
        routine: deque[Incoming] = deque()
        stop = False
        while True:
            if not urgent and not routine:
                if stop:
                    return
                item = self._inbox.get()
                if item is None:
                    return
                (urgent if _urgent(item) else routine).append(item)
            while not stop and len(urgent) + len(routine) < BACKLOG:
                try:
                    more = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    (urgent if _urgent(more) else routine).append(more)
            if urgent:
                batch = [urgent.popleft() for _ in range(min(BATCH, len(urgent)))]
            else:
                batch = [routine.popleft() for _ in range(min(ROUTINE_BATCH, len(routine)))]
            self._outbox_idle.wait(YIELD_SECONDS)
            if self._process(batch):
                self._acknowledge(batch)

    def _process(self, batch: list[Incoming]) -> bool:
        """Handle a batch; True once it is done with (recorded, or refused for good).

        While the database is unreachable the batch is retried with back-off and stays
        unacknowledged; a gateway stopping meanwhile leaves it to the broker to redeliver.
        Any other failure is a bad message or a bug: it is logged and dropped, one message
        at a time, so one poisoned receipt never holds back the rest."""
        items = [(m.topic, m.payload) for m in batch]
        for attempt in itertools.count():
            try:
                self.handle_batch(items)
                return True
            except DBAPIError as exc:
                # Unreachable, restarting or locked: worth waiting for. Anything else
                # (a constraint, bad data) will not heal by itself.
                if not exc.connection_invalidated and not isinstance(exc, OperationalError):
                    logger.exception("failed to handle %d messages; one by one", len(items))
                    break
                delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                logger.warning(
                    "database unavailable, %d messages kept unacknowledged; retry in %.1f s: %s",
                    len(items),
                    delay,
                    exc.orig,
                )
                if self._stopping.wait(delay):
                    return False
            except Exception:
                logger.exception("failed to handle %d messages; one by one", len(items))
                break
        for one in items:
            try:
                self.handle_batch([one])
            except Exception:
                logger.exception("failed to handle a message on %s; dropped", one[0])
        return True

    def _acknowledge(self, batch: list[Incoming]) -> None:
        if self._aborted:
            return
        for m in batch:
            # A message from an earlier connection is redelivered on the current one (the
            # session is persistent) and acknowledged then.
            if m.qos and m.connection == self._connection:
                self._client.ack(m.mid, m.qos)

    def handle(self, topic: str, payload: bytes) -> None:
        """Process one incoming message. Bad input is logged and dropped."""
        self.handle_batch([(topic, payload)])

    def handle_batch(self, items: list[tuple[str, bytes]]) -> None:
        """Process a burst of messages: events verified and recorded in one transaction,
        availability and state (the latest per loudspeaker) in another."""
        events: list[tuple[str, bytes]] = []
        online: dict[str, bool] = {}
        states: dict[str, dict[str, Any]] = {}
        for topic, payload in items:
            parsed = self.topics.parse(topic)
            if parsed is None:
                logger.warning("message on unexpected topic %s dropped", topic)
                continue
            speaker_id, leaf = parsed
            if leaf == "event":
                events.append((speaker_id, payload))
            elif leaf == "availability":
                is_online = protocol.parse_availability(payload)
                if is_online is None:
                    logger.warning("malformed availability from %s dropped", speaker_id)
                else:
                    online[speaker_id] = is_online
            elif leaf == "state":
                state = protocol.parse_state(payload)
                if state is None:
                    logger.warning("malformed state from %s dropped", speaker_id)
                else:
                    states[speaker_id] = state
        if events:
            self._record(events)
        if online or states:
            self.services.update_speakers(online, states)

    def _record(self, events: list[tuple[str, bytes]]) -> None:
        # Keys are read fresh for every burst, so a revocation takes effect at once.
        keys = self.services.speaker_public_keys({sid for sid, _p in events})
        verified: list[IncomingEvent] = []
        for speaker_id, payload in events:
            public = keys.get(speaker_id)
            if public is None:
                logger.warning("event from unknown or revoked loudspeaker %s dropped", speaker_id)
                continue
            try:
                event = protocol.verify_event(payload, speaker_id, public)
            except ProtocolError as exc:
                logger.warning("event from %s refused: %s", speaker_id, exc)
                continue
            verified.append(
                IncomingEvent(
                    command_id=event.command_id,
                    speaker_id=speaker_id,
                    kind=event.kind,
                    at=from_epoch_ms(event.at),
                    details=event.details,
                )
            )
        if verified:
            recorded = self.services.record_events(verified)
            logger.debug("%d of %d events recorded", recorded, len(verified))

    def _outbox_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stopping.is_set():
                return
            self._outbox_idle.clear()
            try:
                self.expire_and_publish()
            except Exception:
                logger.exception("outbox pass failed")
            finally:
                self._outbox_idle.set()

    def expire_and_publish(self) -> int:
        """One outbox pass: close expired commands, publish due ones. Returns how many.

        Passes never overlap (two would read the same due commands before either marks
        them sent, and publish them twice): a caller waits for the pass under way."""
        with self._pass_lock:
            return self._expire_and_publish()

    def _expire_and_publish(self) -> int:
        expired = self.services.expire_commands()
        if expired:
            logger.info("%d commands expired without a receipt", expired)
        if not self._connected.is_set():
            return 0
        while self._unacked and self._unacked[0].is_published():
            self._unacked.popleft()
        total = 0
        urls: dict[tuple[str, datetime], str] = {}  # a broadcast's commands share one URL
        # A broadcast to 1,000 loudspeakers goes out at once, not 500 per poll.
        for _ in range(MAX_PASSES):
            due = self.services.due_commands(limit=PAGE)
            sent: list[str] = []
            # Sign the whole page before handing any to paho: once commands are out, their
            # acknowledgements and receipts keep paho's network thread (and the interpreter
            # lock) busy, and signing the rest beside it took three times as long.
            payloads = [self.encode(cmd, urls) for cmd in due]
            for cmd, payload in zip(due, payloads, strict=True):
                info = self._client.publish(self.topics.command(cmd.speaker_id), payload, qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    logger.warning("publish to %s failed: rc=%s", cmd.speaker_id, info.rc)
                    break
                self._unacked.append(info)
                sent.append(cmd.id)
            if sent:
                self.services.mark_sent(sent)
                total += len(sent)
            if not sent or len(sent) < len(due):
                break
        if total:
            logger.info("published %d commands", total)
        return total

    def encode(
        self, cmd: OutgoingCommand, urls: dict[tuple[str, datetime], str] | None = None
    ) -> bytes:
        """Build and sign the wire message for an outbox row (``urls`` caches media URLs)."""
        play = None
        if cmd.type == "play":
            p = cmd.params
            sha = str(p["audio_sha256"])
            fmt = str(p.get("audio_format", "mp3"))
            url = None if urls is None else urls.get((sha, cmd.expires_at))
            if url is None:
                url = self.services.media_url(sha, cmd.expires_at, fmt)
                if urls is not None:
                    urls[(sha, cmd.expires_at)] = url
            play = protocol.Play(
                broadcast_id=int(p["broadcast_id"]),
                url=url,
                sha256=str(p["audio_sha256"]),
                size=int(p["audio_size"]),
                duration_ms=int(p["duration_ms"]),
                repeat=int(p.get("repeat", 1)),
                volume=int(p.get("volume", 80)),
                drill=bool(p.get("drill", False)),
                format=fmt,
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
            broadcast_id=(
                int(cmd.params["broadcast_id"])
                if cmd.type == "stop" and "broadcast_id" in cmd.params
                else None
            ),
        )
        return protocol.sign_command(message, self._private_b64, self._kid)


def _urgent(m: Incoming) -> bool:
    """Answers to commands and availability: recorded first (see ``_ingest_loop``)."""
    leaf = m.topic.rsplit("/", 1)[-1]
    if leaf == "availability":
        return True
    return leaf == "event" and protocol.claimed_kind(m.payload) in ACK_KINDS
