"""The reference loudspeaker: verifies, queues by priority, fetches, checks, plays, reports.

It uses only ``devices.protocol`` (the contract), ``devices.reactor`` (a generic event
loop) and ``devices.playback`` (cache and audio sinks), so a vendor can read these
files alone. Everything below runs on the reactor's thread; blocking work (downloads,
an external player) runs on its workers and reports back to that thread.

State that survives a restart lives under ``state_dir``: ``state.json`` (last accepted
sequence number, volume), ``receipts.jsonl`` (the commands accepted lately and the
signed receipts sent for each) and ``audio/`` (the cache, by SHA-256).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices import protocol
from devices.playback import AudioCache, Cancel, CommandSink, HashMismatch, NullSink
from devices.protocol import Command, Event, ProtocolError, Topics
from devices.reactor import Link, Reactor, Timer

logger = logging.getLogger(__name__)

RECENT_IDS = 256
FIRMWARE = "cunxiang-reference/2"
TERMINAL = frozenset({"rejected", "finished", "failed", "preempted", "stopped"})
# Skip re-announcing when the server's "online" arrives this soon after our own announce.
ANNOUNCE_QUIET_S = 2.0


class ConfigFileError(Exception):
    pass


@dataclass(frozen=True)
class SpeakerConfig:
    """The provisioning file of one loudspeaker (JSON; see docs/protocol.md)."""

    speaker_id: str
    host: str
    port: int
    password: str
    private_key: str
    public_key: str
    server_keys: dict[str, str]
    state_dir: Path
    base_topic: str = "cunxiang"
    tls: bool = False
    # The CA that signed the broker's certificate: a path, or the PEM text itself.
    ca_file: str | None = None
    ca_pem: str | None = None
    # Command line of a real audio player ({file}, {volume}); None plays into a null sink.
    player: str | None = None
    village: str = ""

    @property
    def kid(self) -> str:
        return protocol.key_id(base64.b64decode(self.public_key))

    @classmethod
    def load(cls, path: Path, state_root: Path | None = None) -> SpeakerConfig:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            broker = raw["broker"]
            state_dir = raw.get("state_dir")
            if state_dir is None:
                root = state_root if state_root is not None else path.parent / "state"
                state_dir = str(root / raw["speaker_id"])
            return cls(
                speaker_id=str(raw["speaker_id"]),
                host=str(broker["host"]),
                port=int(broker["port"]),
                tls=bool(broker.get("tls", False)),
                ca_file=broker.get("ca_file"),
                ca_pem=broker.get("ca_pem"),
                password=str(raw["password"]),
                private_key=str(raw["private_key"]),
                public_key=str(raw["public_key"]),
                server_keys={str(k): str(v) for k, v in raw["server_keys"].items()},
                base_topic=str(raw.get("base_topic", "cunxiang")),
                state_dir=Path(state_dir),
                player=raw.get("player"),
                village=str(raw.get("village", "")),
            )
        except FileNotFoundError as exc:
            raise ConfigFileError(f"{path}: no such file") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigFileError(f"{path}: invalid provisioning file ({exc!r})") from exc


@dataclass
class Faults:
    """Misbehaviour injected by the simulator and the fault tests. Defaults: healthy."""

    drop_events: float = 0.0  # chance an event publish is lost
    duplicate_events: float = 0.0  # chance an event is published twice
    reorder_events: float = 0.0  # chance an event is held back behind the next one
    download_delay: float = 0.0  # seconds added to every download attempt
    download_after: float = 0.0  # seconds a loudspeaker waits before its first attempt
    fail_downloads: float = 0.0  # chance a download attempt fails
    clock_skew_ms: int = 0
    seed: int | None = None


@dataclass
class _Job:
    cmd: Command
    due: bool = False  # not_before has come
    path: Path | None = None  # downloaded and verified
    started: bool = False
    closed: bool = False
    remaining: int = 0
    backoff: float = 1.0
    timers: list[Timer] = field(default_factory=list)
    stop_output: Cancel | None = None


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class Loudspeaker:
    def __init__(
        self,
        config: SpeakerConfig,
        clock_ms: Callable[[], int] = wall_clock_ms,
        reactor: Reactor | None = None,
        faults: Faults | None = None,
        download_timeout: float = 20.0,
        reconnect: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self.config = config
        self.sid = config.speaker_id
        self._kid = config.kid  # a hash of the public key: computed once, not per receipt
        # Parsed (and cached by protocol) now, not on the first receipt of a broadcast:
        # parsing a private key costs as much as a signature.
        protocol.load_private(config.private_key)
        self.topics = Topics(config.base_topic)
        self.faults = faults or Faults()
        self._clock = clock_ms
        self._rng = random.Random(self.faults.seed)
        self.download_timeout = download_timeout
        self.played: list[str] = []  # command ids played to the end, for tests and logs
        self._own_reactor = reactor is None
        self.reactor = reactor or Reactor(f"speaker-{self.sid}", workers=4)
        self.cache = AudioCache(config.state_dir / "audio")
        self._sink = (
            CommandSink(self.reactor, config.player) if config.player else NullSink(self.reactor)
        )
        self._state_path = config.state_dir / "state.json"
        self._receipts_path = config.state_dir / "receipts.jsonl"
        self._last_seq, self._volume = self._load_state()
        self._receipts = self._load_receipts()
        self._interrupted = [
            cid for cid, evs in self._receipts.items() if not any(k in TERMINAL for k, _ in evs)
        ]
        self._jobs: dict[str, _Job] = {}
        self._current: _Job | None = None
        self._held: tuple[str, bytes] | None = None
        self._announced_at = 0.0
        self.announce_quiet_s = ANNOUNCE_QUIET_S
        self._connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.sid,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self._client.username_pw_set(self.sid, config.password)
        if config.tls:
            ctx = ssl.create_default_context(cafile=config.ca_file, cadata=config.ca_pem)
            self._client.tls_set_context(ctx)
        self._client.will_set(
            self.topics.availability(self.sid), protocol.availability(False), 1, True
        )
        self._client.max_queued_messages_set(0)
        self._client.max_inflight_messages_set(100)
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._subscribe_mid = -1
        self._link = Link(
            self.reactor,
            self._client,
            config.host,
            config.port,
            keepalive=30,
            min_delay=reconnect[0],
            max_delay=reconnect[1],
            on_connect=self._on_connect,
            on_disconnect=self._connected.clear,
            name=self.sid,
        )

    def now_ms(self) -> int:
        return self._clock() + self.faults.clock_skew_ms

    # -- persistent state -------------------------------------------------------------
    def _load_state(self) -> tuple[int, int]:
        try:
            raw = json.loads(self._state_path.read_text(encoding="utf-8"))
            return int(raw["last_seq"]), int(raw.get("volume", 80))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return 0, 80

    def _save_state(self) -> None:
        data = json.dumps({"last_seq": self._last_seq, "volume": self._volume}).encode()
        tmp = str(self._state_path) + ".tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except FileNotFoundError:
            self.config.state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, self._state_path)

    def _load_receipts(self) -> OrderedDict[str, list[tuple[str, bytes]]]:
        """Accepted command ids, oldest first, each with the receipts sent for it."""
        found: OrderedDict[str, list[tuple[str, bytes]]] = OrderedDict()
        self._receipt_lines = 0
        try:
            lines = self._receipts_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return found
        for line in lines:
            try:
                row = json.loads(line)
                evs = found.setdefault(str(row["id"]), [])
                if row.get("kind"):
                    evs.append((str(row["kind"]), str(row["p"]).encode()))
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line after a power cut
        while len(found) > RECENT_IDS:
            found.popitem(last=False)
        self._rewrite_receipts(found)
        return found

    def _rewrite_receipts(self, receipts: OrderedDict[str, list[tuple[str, bytes]]]) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._receipts_path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for cid, evs in receipts.items():
                fh.write(json.dumps({"id": cid}) + "\n")
                for kind, payload in evs:
                    fh.write(json.dumps({"id": cid, "kind": kind, "p": payload.decode()}) + "\n")
        os.replace(tmp, self._receipts_path)
        self._receipt_lines = sum(1 + len(evs) for evs in receipts.values())

    def _append_receipt(self, row: dict[str, str]) -> None:
        # One write of one whole line with O_APPEND (a loudspeaker appends a few lines per
        # command; the file object of open() costs more than the write itself).
        fd = os.open(self._receipts_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(row) + "\n").encode())
        finally:
            os.close(fd)
        self._receipt_lines += 1
        if self._receipt_lines > 8 * RECENT_IDS:
            self._rewrite_receipts(self._receipts)

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def volume(self) -> int:
        return self._volume

    # -- lifecycle (any thread) ---------------------------------------------------------
    def start(self) -> None:
        if self._own_reactor:
            self.reactor.start()
        self.reactor.call_soon(self._link.open)

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def go_offline(self, seconds: float) -> None:
        """Lose the link (as a village 4G link does) and come back after ``seconds``."""
        self.reactor.call_soon(lambda: self._link.drop(seconds))

    def come_back(self) -> None:
        """End a ``go_offline`` early: reconnect now."""
        self.reactor.call_soon(self._link.come_back)

    def stop(self) -> None:
        """Clean shutdown: say offline (so it is not mistaken for a crash), then disconnect."""
        done = threading.Event()

        def shut() -> None:
            try:
                for job in list(self._jobs.values()):
                    self._cancel(job)
                if self._link.connected:
                    self._client.publish(
                        self.topics.availability(self.sid), protocol.availability(False), 1, True
                    )
                self._link.close()
                self._connected.clear()
            finally:
                done.set()

        self.reactor.call_soon(shut)
        done.wait(10)
        if self._own_reactor:
            self.reactor.stop()

    # -- MQTT (reactor thread) ------------------------------------------------------------
    def _on_connect(self, _session_present: bool) -> None:
        _rc, mid = self._client.subscribe(
            [(self.topics.command(self.sid), 1), (self.topics.server_state, 1)]
        )
        self._subscribe_mid = -1 if mid is None else mid
        self._announce()
        for cid in self._interrupted:
            self.emit(cid, "failed", reason="interrupted")
        self._interrupted = []
        logger.debug("%s connected", self.sid)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        if mid == self._subscribe_mid:
            self._connected.set()  # connected and subscribed: commands will arrive

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        if msg.topic == self.topics.server_state:
            if protocol.parse_availability(payload) and (
                time.monotonic() - self._announced_at > self.announce_quiet_s
            ):
                self._announce()
        elif msg.topic == self.topics.command(self.sid):
            try:
                self.on_command(payload)
            except Exception:
                # Never let one bad command take the network loop down.
                logger.exception("%s: command handling failed", self.sid)

    def _announce(self) -> None:
        self._announced_at = time.monotonic()
        self._client.publish(
            self.topics.availability(self.sid), protocol.availability(True), 1, retain=True
        )
        self._publish_state()

    def _publish_state(self) -> None:
        payload = json.dumps(self.state_report()).encode()
        self._client.publish(self.topics.state(self.sid), payload, 1, retain=True)

    def state_report(self) -> dict[str, Any]:
        current = self._current.cmd.id if self._current is not None else None
        return {
            "volume": self._volume,
            "playing": current,
            "queue": len(self._jobs) - (1 if current else 0),
            "last_seq": self._last_seq,
            "firmware": FIRMWARE,
        }

    # -- events ----------------------------------------------------------------------
    def emit(self, command_id: str, kind: str, **details: Any) -> None:
        """Sign and send a receipt; receipts of accepted commands are kept for resending."""
        kept = self._receipts.get(command_id)
        if kind in TERMINAL and kept is not None and not details.get("duplicate"):
            # The final receipt counts them all, so the server can tell if one was lost.
            details["receipts"] = len(kept) + 1
        event = Event(command_id, self.sid, kind, self.now_ms(), dict(details))
        payload = protocol.sign_event(event, self.config.private_key, self._kid)
        if kept is not None and not details.get("duplicate"):
            kept.append((kind, payload))
            self._append_receipt({"id": command_id, "kind": kind, "p": payload.decode()})
        self._send_event(payload)

    def _send_event(self, payload: bytes) -> None:
        f, topic = self.faults, self.topics.event(self.sid)
        if f.drop_events and self._rng.random() < f.drop_events:
            return
        copies = 2 if f.duplicate_events and self._rng.random() < f.duplicate_events else 1
        if self._held is not None:
            # The held-back event goes out after this one: the server sees them reordered.
            held, self._held = self._held, None
            for _ in range(copies):
                self._client.publish(topic, payload, qos=1)
            self._client.publish(held[0], held[1], qos=1)
            return
        if f.reorder_events and self._rng.random() < f.reorder_events:
            self._held = (topic, payload)
            self.reactor.call_later(1.0, self._release_held)
            return
        for _ in range(copies):
            self._client.publish(topic, payload, qos=1)

    def _release_held(self) -> None:
        if self._held is not None:
            topic, payload = self._held
            self._held = None
            self._client.publish(topic, payload, qos=1)

    # -- commands ---------------------------------------------------------------------
    def on_command(self, payload: bytes) -> None:
        """Check a command in the order docs/protocol.md gives, then act on it once."""
        try:
            cmd = protocol.authentic_command(payload, self.config.server_keys, self.sid)
        except ProtocolError as exc:
            self._reject(protocol.command_id_of(payload) or "unknown", exc)
            return
        if cmd.id in self._receipts:
            self._redelivered(cmd.id)
            return
        try:
            protocol.check_time(cmd, self.now_ms())
            if cmd.seq <= self._last_seq:
                raise ProtocolError("replayed", f"seq {cmd.seq} <= {self._last_seq}")
        except ProtocolError as exc:
            self._reject(cmd.id, exc)
            return
        self._last_seq = cmd.seq
        self._receipts[cmd.id] = []
        while len(self._receipts) > RECENT_IDS:
            self._receipts.popitem(last=False)
        self._save_state()
        self._append_receipt({"id": cmd.id})
        self.emit(cmd.id, "received")
        if cmd.type == "play":
            self._enqueue(cmd)
        else:
            delay = (cmd.not_before - self.now_ms()) / 1000
            if delay > 0:
                self.reactor.call_later(delay, lambda: self._control(cmd))
            else:
                self._control(cmd)

    def _reject(self, command_id: str, exc: ProtocolError) -> None:
        logger.warning("%s rejected %s: %s", self.sid, command_id, exc)
        self.emit(command_id, "rejected", reason=exc.reason)

    def _redelivered(self, command_id: str) -> None:
        """A copy of an accepted command (QoS 1 redelivery, server resend or replay): never
        acted on twice. Resend the receipts already sent, in case the server lost some."""
        for _kind, payload in self._receipts[command_id]:
            self._send_event(payload)
        self.emit(command_id, "rejected", reason="replayed", duplicate=1)

    def _control(self, cmd: Command) -> None:
        if cmd.type == "volume" and cmd.volume is not None:
            self._volume = cmd.volume
            self._save_state()
            self._publish_state()
            self.emit(cmd.id, "finished", volume=cmd.volume)
        elif cmd.type == "ping":
            self._publish_state()
            self.emit(cmd.id, "finished", state=self.state_report())
        elif cmd.type == "stop":
            victims = [j for j in self._jobs.values() if _stops(cmd, j.cmd)]
            for job in victims:
                self._close(job, "stopped", by=cmd.id)
            self.emit(cmd.id, "finished", stopped=len(victims))
            self._schedule()

    # -- the play queue -------------------------------------------------------------------
    def _enqueue(self, cmd: Command) -> None:
        job = _Job(cmd)
        self._jobs[cmd.id] = job
        until_expiry = (cmd.expires_at + protocol.CLOCK_TOLERANCE_MS - self.now_ms()) / 1000
        job.timers.append(self.reactor.call_later(until_expiry, lambda: self._expire(job)))
        until_start = (cmd.not_before - self.now_ms()) / 1000
        if until_start > 0:
            job.timers.append(self.reactor.call_later(until_start, lambda: self._due(job)))
        else:
            job.due = True
        # Acknowledge first, fetch second: the download starts after every command that
        # arrived with this one has been answered.
        if self.faults.download_after > 0:
            job.timers.append(
                self.reactor.call_later(self.faults.download_after, lambda: self._fetch(job))
            )
        else:
            self.reactor.call_soon(lambda: self._fetch(job))

    def _due(self, job: _Job) -> None:
        job.due = True
        self._schedule()

    def _expire(self, job: _Job) -> None:
        if not job.closed and not job.started:
            self._close(job, "failed", reason="expired")

    def _fetch(self, job: _Job) -> None:
        play = job.cmd.play
        assert play is not None
        cached = self.cache.get(play.sha256)
        if cached is not None:
            self._fetched(job, (cached, 0), None)
            return
        f = self.faults
        fail = bool(f.fail_downloads) and self._rng.random() < f.fail_downloads
        self.reactor.run_blocking(
            lambda: self.cache.download(
                play.url, play.sha256, play.size, self.download_timeout, f.download_delay, fail
            ),
            lambda result, error: self._fetched(job, result, error),
        )

    def _fetched(
        self, job: _Job, result: tuple[Path, int] | None, error: BaseException | None
    ) -> None:
        if job.closed:
            return
        if isinstance(error, HashMismatch):
            logger.warning("%s: audio for %s: %s", self.sid, job.cmd.id, error)
            self._close(job, "rejected", reason="hash_mismatch")
            return
        if error is not None or result is None:
            if not isinstance(error, OSError):
                logger.error("%s: download crashed: %r", self.sid, error)
            delay = job.backoff * self._rng.uniform(0.8, 1.2)
            job.backoff = min(job.backoff * 2, 30.0)
            if self.now_ms() + delay * 1000 > job.cmd.expires_at:
                self._close(job, "failed", reason="download_failed")
            else:
                logger.info("%s: download failed (%s); again in %.1f s", self.sid, error, delay)
                job.timers.append(self.reactor.call_later(delay, lambda: self._fetch(job)))
            return
        path, size = result
        if size:
            self.emit(job.cmd.id, "downloaded", bytes=size)
        else:
            self.emit(job.cmd.id, "downloaded", cached=1)
        job.path = path
        self._schedule()

    def _schedule(self) -> None:
        """Start the most urgent ready play; a higher priority pre-empts the current one."""
        ready = [
            j
            for j in self._jobs.values()
            if j.due and j.path is not None and j is not self._current
        ]
        if not ready:
            return
        best = min(ready, key=lambda j: (-j.cmd.priority, j.cmd.seq))
        current = self._current
        if current is not None:
            if best.cmd.priority <= current.cmd.priority:
                return  # equal priority queues
            self._close(current, "preempted", by=best.cmd.id)
        self._start(best)

    def _start(self, job: _Job) -> None:
        play = job.cmd.play
        assert play is not None
        self._current = job
        job.started = True
        job.remaining = play.repeat
        self.emit(job.cmd.id, "started")
        self._output(job)

    def _output(self, job: _Job) -> None:
        play = job.cmd.play
        assert play is not None and job.path is not None
        volume = play.volume
        if job.cmd.priority < protocol.EMERGENCY_PRIORITY:
            volume = play.volume * self._volume // 100
        job.stop_output = self._sink.play(
            job.path, play.duration_ms, volume, lambda ok: self._played(job, ok)
        )

    def _played(self, job: _Job, ok: bool) -> None:
        if job.closed:
            return
        play = job.cmd.play
        assert play is not None
        job.stop_output = None
        if not ok:
            self._close(job, "failed", reason="player")
        else:
            job.remaining -= 1
            if job.remaining > 0:
                self._output(job)
                return
            self.played.append(job.cmd.id)
            self._close(job, "finished", repeat=play.repeat)
        self._schedule()

    def _cancel(self, job: _Job) -> None:
        job.closed = True
        for timer in job.timers:
            timer.cancel()
        if job.stop_output is not None:
            job.stop_output()
            job.stop_output = None
        self._jobs.pop(job.cmd.id, None)
        if self._current is job:
            self._current = None

    def _close(self, job: _Job, kind: str, **details: Any) -> None:
        self._cancel(job)
        self.emit(job.cmd.id, kind, **details)


def _stops(stop: Command, play: Command) -> bool:
    """Whether ``stop`` ends ``play``: its broadcast if named, else anything not more urgent."""
    if stop.broadcast_id is not None:
        return play.play is not None and play.play.broadcast_id == stop.broadcast_id
    return play.priority <= stop.priority
