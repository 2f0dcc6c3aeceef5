"""Rigs for the device tests: a real mosquitto on a free port, keys, loudspeakers, media.

``Rig`` is the loudspeaker side alone (the test plays the server with a probe client);
``Township`` is the server side too: services on a real database, the gateway, the web
app serving media, and a simulator of many loudspeakers.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from werkzeug.serving import make_server

from broadcast.keys import KeyPair, b64, mosquitto_password_hash
from broadcast.models import Event
from broadcast.planning import ScheduleRequest
from broadcast.services import Services
from broadcast.settings import Settings, load_settings
from broadcast.views import LogRow
from cunxiang.provision import write_provisioning
from cunxiang.runtime import private_broker
from devices import protocol
from devices.broker import PrivateBroker, free_port
from devices.gateway import Gateway
from devices.protocol import Command, Play, Topics
from devices.simulate import Simulator
from devices.speaker import Faults, Loudspeaker, SpeakerConfig, wall_clock_ms
from tests.helpers import pin_broker_port
from tests.mqtt_probe import Probe
from web import create_app

NOW = 1_795_000_000_000
SERVER_PW = "server-password-for-tests"
AUDIO = b"ID3-not-really-an-mp3-but-the-hash-is-what-counts" * 20
AUDIO_SHA = hashlib.sha256(AUDIO).hexdigest()


class MediaServer:
    """Serves byte strings by path on 127.0.0.1 (for download and hash-mismatch tests)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        files, hits = self.files, self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = files.get(self.path)
                hits[self.path] = hits.get(self.path, 0) + 1
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@dataclass
class Rig:
    broker: PrivateBroker
    server_key: KeyPair
    speakers: dict[str, tuple[KeyPair, str]]  # id -> (key pair, mqtt password)
    topics: Topics
    tmp: Path
    media: MediaServer
    started: list[Loudspeaker] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.broker.port

    def server_probe(self) -> Probe:
        probe = Probe(self.port, "cunxiang-server", SERVER_PW)
        assert probe.wait_connect_result()
        return probe

    def config(self, sid: str) -> SpeakerConfig:
        pair, password = self.speakers[sid]
        return SpeakerConfig(
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

    def speaker(
        self,
        sid: str,
        clock_ms: int | None = NOW,
        start: bool = False,
        faults: Faults | None = None,
    ) -> Loudspeaker:
        """A loudspeaker whose clock stands at ``clock_ms`` (None: the real clock)."""
        fixed = clock_ms
        clock = wall_clock_ms if fixed is None else (lambda: fixed)
        speaker = Loudspeaker(self.config(sid), clock_ms=clock, faults=faults)
        if start:
            speaker.start()
            self.started.append(speaker)
            assert speaker.wait_connected(10)
        return speaker

    def command(self, target: str, seq: int, **changes: Any) -> Command:
        fields: dict[str, Any] = {
            "id": f"cmd-{target}-{seq}",
            "target": target,
            "seq": seq,
            "type": "ping",
            "issued_at": NOW,
            "not_before": NOW,
            "expires_at": NOW + 60_000,
        }
        fields.update(changes)
        return Command(**fields)

    def play(
        self,
        target: str,
        seq: int,
        priority: int = 50,
        duration_ms: int = 100,
        path: str = "/ok.mp3",
        sha: str = AUDIO_SHA,
        broadcast_id: int = 1,
        repeat: int = 1,
        **changes: Any,
    ) -> Command:
        self.media.files.setdefault("/ok.mp3", AUDIO)
        play = Play(broadcast_id, self.media.url(path), sha, len(AUDIO), duration_ms, repeat, 80)
        return self.command(target, seq, type="play", priority=priority, play=play, **changes)

    def sign(self, cmd: Command, key: KeyPair | None = None, kid: str | None = None) -> bytes:
        key = key or self.server_key
        return protocol.sign_command(cmd, b64(key.private), kid or key.key_id)


@contextmanager
def make_rig(tmp_path: Path, ids: tuple[str, ...] = ("spk-a", "spk-b")) -> Iterator[Rig]:
    topics = Topics("t" + tmp_path.name[-8:].replace("_", "").lower())
    speakers = {sid: (KeyPair.generate(), f"pw-{sid}-secret") for sid in ids}
    broker = PrivateBroker(
        tmp_path / "mosquitto", free_port(0), topics, mosquitto_password_hash(SERVER_PW)
    )
    broker.start([(sid, mosquitto_password_hash(pw)) for sid, (_k, pw) in speakers.items()])
    media = MediaServer()
    rig = Rig(broker, KeyPair.generate(), speakers, topics, tmp_path, media)
    try:
        yield rig
    finally:
        for speaker in rig.started:
            speaker.stop()
        media.close()
        broker.stop()


def events_of(messages: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """Bodies of the well-formed events among ``messages`` (anything else is skipped)."""
    out = []
    for topic, payload in messages:
        if topic.endswith("/event"):
            try:
                out.append(json.loads(payload)["body"])
            except (ValueError, KeyError, TypeError):
                continue
    return out


def kinds_of(messages: list[tuple[str, bytes]], command_id: str) -> list[str]:
    return [e["kind"] for e in events_of(messages) if e["command_id"] == command_id]


# -- the whole township -------------------------------------------------------------------


class SharedClock:
    """The one "now" of a test world (server and loudspeakers); the test can move it on."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._lock = threading.Lock()

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.offset += delta

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def ms(self) -> int:
        return int(self.now().timestamp() * 1000)


@dataclass
class Township:
    settings: Settings
    services: Services
    broker: PrivateBroker
    clock: SharedClock
    gateway: Gateway | None = None
    simulator: Simulator | None = None
    village_id: int = 0
    speaker_ids: list[str] = field(default_factory=list)

    def new_gateway(self) -> Gateway:
        from cunxiang.runtime import broker_address

        gateway = Gateway(
            self.services,
            broker_address(self.settings),
            Topics(self.settings.mqtt.base_topic),
            poll_seconds=0.2,
        )
        self.services.on_commands = gateway.wake
        gateway.start()
        assert gateway.wait_connected(20)
        self.gateway = gateway
        return gateway

    def simulate(
        self, faults: dict[str, Faults] | None = None, ids: list[str] | None = None
    ) -> Simulator:
        paths = [self.settings.speakers_dir / f"{sid}.json" for sid in ids or self.speaker_ids]
        configs = [SpeakerConfig.load(p, self.settings.data_dir / "sim-state") for p in paths]
        sim = Simulator(configs, faults, clock_ms=self.clock.ms, reconnect=(0.2, 2.0))
        sim.start()
        self.simulator = sim
        return sim

    def broadcast(self, notice_id: int) -> int:
        """Start a routine broadcast of a notice to the whole village now; its id."""
        self.services.add_schedule(
            ScheduleRequest(notice_id, [self.village_id], "once", at=self.services.now())
        )
        return max(b.id for b in self.services.list_broadcasts())

    def log(self, broadcast_id: int) -> list[LogRow]:
        return self.services.playback_log(broadcast_id=broadcast_id, limit=100_000)

    def kind_counts(self) -> dict[str, int]:
        with self.services.sessions() as s:
            rows = s.execute(select(Event.kind, func.count()).group_by(Event.kind)).all()
        return {kind: n for kind, n in rows}

    def per_command_kinds(self) -> dict[str, list[str]]:
        with self.services.sessions() as s:
            rows = s.execute(select(Event.command_id, Event.kind)).all()
        out: dict[str, list[str]] = {}
        for cid, kind in rows:
            out.setdefault(cid, []).append(kind)
        return out


def township_settings(settings: Settings, window_seconds: int = 900, **commands: int) -> Settings:
    values = settings.model_dump()
    values["web"] = {"host": "127.0.0.1", "port": free_port(0)}
    values["database_url"] = (
        settings.database_url.get_secret_value() if settings.database_url else None
    )
    values["commands"] = {**values["commands"], "resend_seconds": 2, **commands}
    values["audio"] = {**values["audio"], "chime": False}
    # Routine broadcasts must start whatever the hour the tests run at.
    values["schedule"] = {
        **values["schedule"],
        "quiet_hours": "-",
        "window_seconds": window_seconds,
    }
    return pin_broker_port(load_settings(None, **values))


@contextmanager
def make_township(
    settings: Settings,
    make_services: Callable[..., Services],
    speakers: int,
    window_seconds: int = 900,
    **commands: int,
) -> Iterator[Township]:
    """A township with ``speakers`` provisioned loudspeakers; nothing is started but the
    broker and the web server (media)."""
    settings = township_settings(settings, window_seconds, **commands)
    clock = SharedClock()
    services = make_services(settings, clock.now)
    village = services.add_village("试验村", "330000000099")
    ids = [f"sim-{i:04d}" for i in range(1, speakers + 1)]
    for sid in ids:
        write_provisioning(settings, services.add_speaker(sid, village.id))
    broker = private_broker(settings)
    broker.start(services.broker_accounts())
    app = create_app(services)
    http = make_server(settings.web.host, settings.web.port, app, threaded=True)
    http_thread = threading.Thread(target=http.serve_forever, daemon=True)
    http_thread.start()
    town = Township(settings, services, broker, clock, village_id=village.id, speaker_ids=ids)
    try:
        yield town
    finally:
        if town.simulator is not None:
            town.simulator.stop()
        if town.gateway is not None:
            town.gateway.stop()
        http.shutdown()
        http.server_close()
        http_thread.join(5)
        broker.stop()


def assert_played_once_and_receipts_complete(
    town: Township, broadcast_id: int, speaker_ids: list[str]
) -> None:
    """Each loudspeaker played its command exactly once; each receipt is in the log once."""
    rows = {r.speaker_id: r for r in town.log(broadcast_id)}
    assert set(speaker_ids) <= set(rows)
    kinds = town.per_command_kinds()
    sim = town.simulator
    assert sim is not None
    for sid in speaker_ids:
        row = rows[sid]
        assert (row.outcome, row.status) == ("finished", "done"), (sid, row)
        assert sorted(kinds[row.command_id]) == ["downloaded", "finished", "received", "started"]
        assert sim.by_id[sid].played.count(row.command_id) == 1, (sid, sim.by_id[sid].played)


def settled(town: Township, broadcast_id: int, count: int) -> bool:
    rows = town.log(broadcast_id)
    return len(rows) == count and all(r.status in ("done", "expired") for r in rows)
