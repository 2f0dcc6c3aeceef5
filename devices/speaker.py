"""The reference loudspeaker: verifies, fetches, checks, plays and reports.

It imports only ``devices.protocol`` from Cunxiang so that a vendor can read the two
files alone. State (last accepted sequence number, recent command ids, volume) and the
audio cache live on disk under ``state_dir`` and survive restarts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import queue
import shlex
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from devices import protocol
from devices.protocol import Command, Event, ProtocolError, Topics

logger = logging.getLogger(__name__)

RECENT_IDS = 256


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
    ca_file: str | None = None
    # Command line of a real audio player ({file} is replaced); None plays into a null sink.
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
class _State:
    last_seq: int = 0
    recent: list[str] = field(default_factory=list)
    volume: int = 80


def _now_ms() -> int:
    return int(time.time() * 1000)


class Loudspeaker:
    def __init__(
        self,
        config: SpeakerConfig,
        clock_ms: Callable[[], int] = _now_ms,
        download_timeout: float = 20.0,
    ) -> None:
        self.config = config
        self.topics = Topics(config.base_topic)
        self.clock_ms = clock_ms
        self.download_timeout = download_timeout
        self.played: list[str] = []  # command ids played to the end, for tests and logs
        self._state_path = config.state_dir / "state.json"
        self._cache_dir = config.state_dir / "audio"
        self._state = self._load_state()
        self._jobs: queue.Queue[bytes | None] = queue.Queue()
        self._stop_play = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._now_playing: str | None = None
        self._worker: threading.Thread | None = None
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.speaker_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self._client.username_pw_set(config.speaker_id, config.password)
        if config.tls:
            self._client.tls_set(ca_certs=config.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self._client.will_set(
            self.topics.availability(config.speaker_id), protocol.availability(False), 1, True
        )
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(1, 60)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    # -- persistent state -------------------------------------------------------------
    def _load_state(self) -> _State:
        try:
            raw = json.loads(self._state_path.read_text(encoding="utf-8"))
            return _State(int(raw["last_seq"]), list(raw["recent"]), int(raw.get("volume", 80)))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return _State()

    def _save_state(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._state_path.with_suffix(".tmp")
        data = {
            "last_seq": self._state.last_seq,
            "recent": self._state.recent[-RECENT_IDS:],
            "volume": self._state.volume,
        }
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self._state_path)

    @property
    def last_seq(self) -> int:
        return self._state.last_seq

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        self._worker = threading.Thread(
            target=self._work, name=f"speaker-{self.config.speaker_id}", daemon=True
        )
        self._worker.start()
        self._client.connect_async(self.config.host, self.config.port, keepalive=30)
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        """Clean shutdown: say offline (so it is not mistaken for a crash), then disconnect."""
        self._stopping.set()
        self._stop_play.set()
        self._jobs.put(None)
        if self._worker is not None:
            self._worker.join(10)
        if self._connected.is_set():
            info = self._client.publish(
                self.topics.availability(self.config.speaker_id),
                protocol.availability(False),
                1,
                retain=True,
            )
            info.wait_for_publish(5)
        self._client.disconnect()
        self._client.loop_stop()

    # -- paho callbacks ----------------------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, _u: Any, _f: Any, reason_code: ReasonCode, _p: Any
    ) -> None:
        if reason_code.is_failure:
            logger.error("%s: broker refused connection: %s", self.config.speaker_id, reason_code)
            return
        sid = self.config.speaker_id
        client.subscribe(self.topics.command(sid), qos=1)
        client.subscribe(self.topics.server_state, qos=1)
        self._announce(client)
        self._connected.set()
        logger.info("%s connected", sid)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            logger.warning("%s disconnected: %s", self.config.speaker_id, rc)

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self.topics.server_state:
            if protocol.parse_availability(bytes(msg.payload)):
                self._announce(client)
            return
        self._jobs.put(bytes(msg.payload))

    def _announce(self, client: mqtt.Client) -> None:
        sid = self.config.speaker_id
        client.publish(self.topics.availability(sid), protocol.availability(True), 1, retain=True)
        client.publish(self.topics.state(sid), json.dumps(self._state_report()), 1, retain=True)

    def _state_report(self) -> dict[str, Any]:
        return {
            "volume": self._state.volume,
            "playing": self._now_playing,
            "queue": self._jobs.qsize(),
            "last_seq": self._state.last_seq,
            "firmware": "cunxiang-reference/1",
        }

    # -- events ----------------------------------------------------------------------
    def emit(self, command_id: str, kind: str, **details: Any) -> None:
        event = Event(command_id, self.config.speaker_id, kind, self.clock_ms(), dict(details))
        payload = protocol.sign_event(event, self.config.private_key, self.config.kid)
        self._client.publish(self.topics.event(self.config.speaker_id), payload, qos=1)

    # -- command handling ---------------------------------------------------------------
    def _work(self) -> None:
        while True:
            payload = self._jobs.get()
            if payload is None:
                return
            try:
                self.handle(payload)
            except Exception:
                logger.exception("%s: command handling failed", self.config.speaker_id)

    def accept(self, payload: bytes) -> Command | None:
        """Verify a command and update the replay state; report ``received`` or ``rejected``."""
        try:
            cmd = protocol.verify_command(
                payload, self.config.server_keys, self.config.speaker_id, self.clock_ms()
            )
        except ProtocolError as exc:
            cid = protocol.command_id_of(payload) or "unknown"
            logger.warning("%s rejected %s: %s", self.config.speaker_id, cid, exc)
            self.emit(cid, "rejected", reason=exc.reason)
            return None
        if cmd.id in self._state.recent:
            logger.debug("%s: duplicate delivery of %s ignored", self.config.speaker_id, cmd.id)
            return None
        if cmd.seq <= self._state.last_seq:
            self.emit(cmd.id, "rejected", reason="replayed")
            return None
        self._state.last_seq = cmd.seq
        self._state.recent.append(cmd.id)
        self._save_state()
        self.emit(cmd.id, "received")
        return cmd

    def handle(self, payload: bytes) -> None:
        cmd = self.accept(payload)
        if cmd is None:
            return
        if cmd.type == "play":
            self._play(cmd)
        elif cmd.type == "volume" and cmd.volume is not None:
            self._state.volume = cmd.volume
            self._save_state()
            self.emit(cmd.id, "finished")
        elif cmd.type == "stop":
            self._stop_play.set()
            self.emit(cmd.id, "finished")
        elif cmd.type == "ping":
            self._announce(self._client)
            self.emit(cmd.id, "finished")

    def _play(self, cmd: Command) -> None:
        play = cmd.play
        assert play is not None
        self._stop_play.clear()
        wait_ms = cmd.not_before - self.clock_ms()
        if wait_ms > 0 and self._stop_play.wait(wait_ms / 1000):
            self.emit(cmd.id, "stopped")
            return
        path = self._fetch(cmd)
        if path is None:
            return
        self._now_playing = cmd.id
        try:
            self.emit(cmd.id, "started")
            for _ in range(play.repeat):
                if not self._output(path, play.duration_ms):
                    self.emit(cmd.id, "stopped")
                    return
            self.played.append(cmd.id)
            self.emit(cmd.id, "finished", repeat=play.repeat)
        finally:
            self._now_playing = None

    def _fetch(self, cmd: Command) -> Path | None:
        """Download (or reuse) the audio, retrying with back-off until the command expires."""
        play = cmd.play
        assert play is not None
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        path = self._cache_dir / f"{play.sha256}.audio"
        if path.exists() and _sha256_file(path) == play.sha256:
            self.emit(cmd.id, "downloaded", cached=1)
            return path
        delay = 1.0
        while not self._stop_play.is_set():
            try:
                with urllib.request.urlopen(play.url, timeout=self.download_timeout) as resp:
                    data = resp.read(play.size + 1)
            except (urllib.error.URLError, OSError) as exc:
                logger.warning("%s: download failed: %s", self.config.speaker_id, exc)
                if self.clock_ms() + delay * 1000 > cmd.expires_at:
                    self.emit(cmd.id, "failed", reason="download_failed")
                    return None
                self._stop_play.wait(delay)
                delay = min(delay * 2, 30.0)
                continue
            if hashlib.sha256(data).hexdigest() != play.sha256:
                self.emit(cmd.id, "rejected", reason="hash_mismatch")
                return None
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            self.emit(cmd.id, "downloaded", bytes=len(data))
            return path
        self.emit(cmd.id, "stopped")
        return None

    def _output(self, path: Path, duration_ms: int) -> bool:
        """Play once. Returns False if interrupted by a stop."""
        if self.config.player:
            argv = [a.replace("{file}", str(path)) for a in shlex.split(self.config.player)]
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while proc.poll() is None:
                if self._stop_play.wait(0.1):
                    proc.terminate()
                    proc.wait(5)
                    return False
            return True
        # Null sink: the audio "plays" for its real duration.
        return not self._stop_play.wait(duration_ms / 1000)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()
