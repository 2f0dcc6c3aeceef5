"""One settings object, loaded once from a TOML file plus ``CUNXIANG_`` environment overrides.

Nested keys use a double underscore in the environment: ``CUNXIANG_MQTT__URL``.
Unknown keys are an error naming the key path. Secrets never appear in ``repr``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from broadcast.errors import ConfigError, ValidationFailed
from broadcast.recurrence import QuietHours

CONFIG_FILE_NAME = "cunxiang.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Base URL under which loudspeakers fetch audio; defaults to http://host:port.
    public_url: str | None = None
    secret_key: SecretStr | None = None
    # A panel session ends this long after login, or after this long without a request.
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    idle_minutes: float = Field(default=30.0, gt=0, le=24 * 60)

    # Loudspeakers download audio from a separate lightweight server on this port
    # (web/media_server.py, started by `cunxiang serve`); unset, the panel serves it.
    media_port: int | None = Field(default=None, ge=1, le=65535)

    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def media_base_url(self) -> str:
        """Where loudspeakers fetch ``/media``: ``public_url`` when set (a proxy in front
        routes ``/media/`` to the media server), else the media server, else the panel."""
        if self.public_url or self.media_port is None:
            return self.base_url()
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.media_port}"


class MqttSettings(_Section):
    # mqtt://host:port or mqtts://host:port; unset means a private mosquitto is started.
    url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    base_topic: str = "cunxiang"
    # Executable used for the private broker.
    mosquitto: str = "mosquitto"
    # CA certificate (PEM) of a production broker's TLS listener; embedded in
    # provisioning files so loudspeakers can verify the broker.
    ca_file: Path | None = None
    # Private broker: a TLS listener for loudspeakers outside the town network ...
    tls_port: int | None = Field(default=None, ge=1, le=65535)
    tls_host: str = "0.0.0.0"
    # ... reached by loudspeakers under this name or address (in its certificate and in
    # their provisioning files).
    public_host: str | None = None

    @field_validator("base_topic")
    @classmethod
    def _plain_topic(cls, value: str) -> str:
        if not value or any(c in value for c in "#+ ") or value.startswith("/"):
            raise ValueError("base_topic must be a plain topic prefix without wildcards")
        return value.rstrip("/")


class AudioSettings(_Section):
    voice: str = "cmn-latn-pinyin"
    rate: int = Field(default=150, ge=80, le=400)
    chime: bool = True
    # Defaults of a new notice: read it this many times (pause_ms apart), then the closing line.
    repeat: int = Field(default=2, ge=1, le=5)
    pause_ms: int = Field(default=2000, ge=0, le=10_000)
    closing: str = Field(default="", max_length=100)
    # Integrated loudness target (EBU R128), LUFS.
    loudness_lufs: float = Field(default=-16.0, ge=-40.0, le=-6.0)
    # Size limit of the audio cache (least recently used files go first, never the audio of
    # a stored notice); 0 means no limit.
    cache_max_mb: int = Field(default=2048, ge=0)


class CommandSettings(_Section):
    # Unacknowledged commands are published again after this many seconds.
    resend_seconds: int = Field(default=15, ge=1)
    # A stop (cancel) command is obeyed at most this long after it is issued.
    stop_ttl_seconds: int = Field(default=300, ge=30)


class ScheduleSettings(_Section):
    # Default validity window: how late an occurrence may still start (also the expiry of
    # its play commands). After downtime, older occurrences are recorded as missed.
    window_seconds: int = Field(default=900, ge=30, le=24 * 3600)
    # Routine broadcasts never start inside these local hours (per village overridable).
    quiet_hours: str = "22:00-06:00"
    # Occurrences are dispatched this long before their planned time; loudspeakers hold
    # them until not_before, so playback starts on time even when hundreds fire at once.
    dispatch_lead_seconds: float = Field(default=5.0, ge=0, le=60)
    # How far back the scheduler looks for occurrences to record as missed.
    missed_lookback_hours: int = Field(default=48, ge=1, le=24 * 31)

    @field_validator("quiet_hours")
    @classmethod
    def _band(cls, value: str) -> str:
        try:
            QuietHours.parse(value)
        except ValidationFailed as exc:
            raise ValueError(str(exc)) from exc
        return value


class ApprovalSettings(_Section):
    # Notices and schedules need a reviewer's approval before they are broadcast, and an
    # emergency to more than one village a second person's confirmation. Switched off,
    # new content is approved as it is saved (recorded so in the audit log).
    required: bool = True
    # How long a multi-village emergency waits for its second confirmation.
    confirm_minutes: int = Field(default=10, ge=1, le=120)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CUNXIANG_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = Path("data")
    database_url: SecretStr | None = None
    timezone: str = "Asia/Shanghai"
    web: WebSettings = WebSettings()
    mqtt: MqttSettings = MqttSettings()
    audio: AudioSettings = AudioSettings()
    commands: CommandSettings = CommandSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    approval: ApprovalSettings = ApprovalSettings()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file; the file arrives as init values.
        return (env_settings, init_settings)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def db_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'cunxiang.db').resolve()}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def speakers_dir(self) -> Path:
        return self.data_dir / "speakers"


def _format_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{path}: {err['msg']}")
    return "; ".join(parts)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from ``config_file`` (or ``CUNXIANG_CONFIG``, or ``<data_dir>/cunxiang.toml``).

    Keyword ``overrides`` take precedence over the file but not over the environment.
    """
    path = config_file
    if path is None and os.environ.get("CUNXIANG_CONFIG"):
        path = Path(os.environ["CUNXIANG_CONFIG"])
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    else:
        data_dir = Path(os.environ.get("CUNXIANG_DATA_DIR", overrides.get("data_dir", "data")))
        default = data_dir / CONFIG_FILE_NAME
        if default.is_file():
            try:
                values = tomllib.loads(default.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{default}: {exc}") from exc
    values.update(overrides)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {_format_error(exc)}") from exc
