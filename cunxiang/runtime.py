"""Build the object graph from settings. Only this package imports across all the others."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

from audio import AudioCache, Renderer
from broadcast.db import make_engine, make_sessions, migrate
from broadcast.errors import ConfigError
from broadcast.keys import load_or_create_secret, load_or_create_server_key, mosquitto_password_hash
from broadcast.notices import audio_in_use
from broadcast.services import Services
from broadcast.settings import Settings
from broadcast.sound import render_options, resolve
from devices.broker import SERVER_USERNAME, PrivateBroker, TlsListener, free_port
from devices.gateway import BrokerAddress
from devices.protocol import Topics


def wall_clock() -> datetime:
    return datetime.now(UTC)


def build_services(
    settings: Settings, clock: Callable[[], datetime] = wall_clock, *, migrate_db: bool = True
) -> Services:
    """Open the database (migrating it), the audio cache, the keys; return the use cases."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url())
    if migrate_db:
        migrate(engine)
    sessions = make_sessions(engine)
    a = settings.audio
    cache = AudioCache(
        settings.media_dir,
        max_bytes=a.cache_max_mb * 1024 * 1024 or None,
        keep=_audio_in_use(sessions, clock),
    )
    renderer = Renderer(cache, render_options(resolve(None, a), a))
    return Services(
        engine=engine,
        sessions=sessions,
        settings=settings,
        renderer=renderer,
        cache=cache,
        server_key=load_or_create_server_key(settings.keys_dir),
        media_secret=load_or_create_secret(settings.keys_dir / "media.secret"),
        clock=clock,
    )


def _audio_in_use(
    sessions: sessionmaker[Session], clock: Callable[[], datetime]
) -> Callable[[], set[str]]:
    """What the audio cache must never evict: asked for only when it is over its limit."""

    def keep() -> set[str]:
        with sessions.begin() as s:
            return audio_in_use(s, clock())

    return keep


def private_broker_port(settings: Settings) -> int:
    """The private broker's port: chosen once (first free from 18830) and kept in the data dir."""
    path = settings.data_dir / "mosquitto" / "port"
    if path.exists():
        return int(path.read_text().strip())
    port = free_port(18830)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{port}\n")
    return port


def server_mqtt_password(settings: Settings) -> str:
    return load_or_create_secret(settings.keys_dir / "mqtt-server.secret")


def broker_address(settings: Settings) -> BrokerAddress:
    """Where the server connects: the configured broker, or the private one."""
    m = settings.mqtt
    if m.url is None:
        return BrokerAddress(
            host="127.0.0.1",
            port=private_broker_port(settings),
            username=SERVER_USERNAME,
            password=server_mqtt_password(settings),
        )
    url = urlsplit(m.url)
    if url.scheme not in ("mqtt", "mqtts") or not url.hostname:
        raise ConfigError(f"mqtt.url must look like mqtt://host:port, got {m.url!r}")
    tls = url.scheme == "mqtts"
    return BrokerAddress(
        host=url.hostname,
        port=url.port or (8883 if tls else 1883),
        username=m.username or url.username or SERVER_USERNAME,
        password=(m.password.get_secret_value() if m.password else url.password) or "",
        tls=tls,
        ca_file=str(m.ca_file) if m.ca_file else None,
    )


def private_broker(settings: Settings) -> PrivateBroker:
    m = settings.mqtt
    tls = None
    if m.tls_port is not None:
        names = tuple(dict.fromkeys([m.public_host or "localhost", "localhost", "127.0.0.1"]))
        tls = TlsListener(m.tls_port, m.tls_host, names)
    return PrivateBroker(
        directory=settings.data_dir / "mosquitto",
        port=private_broker_port(settings),
        topics=Topics(settings.mqtt.base_topic),
        server_password_hash=mosquitto_password_hash(server_mqtt_password(settings)),
        executable=settings.mqtt.mosquitto,
        tls=tls,
    )


def loudspeaker_broker(settings: Settings) -> dict[str, object]:
    """The ``broker`` section of a provisioning file: where a loudspeaker connects."""
    m = settings.mqtt
    if m.url is None and m.tls_port is not None:
        certs = private_broker(settings).certificates()
        host = m.public_host or "127.0.0.1"
        return {"host": host, "port": m.tls_port, "tls": True, "ca_pem": certs.ca_pem()}
    addr = broker_address(settings)
    section: dict[str, object] = {"host": addr.host, "port": addr.port, "tls": addr.tls}
    if addr.tls and m.ca_file is not None:
        section["ca_pem"] = m.ca_file.read_text(encoding="ascii")
    return section
