"""Plain read models handed to the edges (panel, API, CLI). No ORM objects leave the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class VillageView:
    id: int
    code: str
    name: str
    speaker_count: int = 0
    online_count: int = 0
    # The village's own quiet hours ("22:00-06:00", "-" for none), None = the default.
    quiet_hours: str | None = None


@dataclass(frozen=True)
class SpeakerView:
    id: str
    village_id: int
    village_name: str
    name: str
    online: bool
    last_seen_at: datetime | None
    revoked: bool
    state: dict[str, Any] | None = None


@dataclass(frozen=True)
class Provisioning:
    """Everything a new loudspeaker needs, written once to its provisioning file."""

    speaker_id: str
    village_name: str
    private_key_b64: str
    public_key_b64: str
    mqtt_password: str
    server_keys: dict[str, str]  # key id -> base64 public key


@dataclass(frozen=True)
class NoticeView:
    id: int
    title: str
    body: str
    audio_sha256: str
    audio_size: int
    audio_duration_ms: int
    created_by: str
    created_at: datetime
    # "text" or "recording" (an uploaded file; see broadcast.models.Notice).
    kind: str = "text"
    source_filename: str | None = None
    source_sha256: str | None = None
    # Sound options it was rendered with; voice and rate None: not applicable or the default.
    voice: str | None = None
    rate: int | None = None
    repeat: int = 1
    chime: bool = True
    closing: str = ""
    rendered_at: datetime | None = None
    # Review (broadcast.approval): draft, pending, approved, rejected; and the reason given.
    status: str = "approved"
    review_note: str | None = None


@dataclass(frozen=True)
class ScheduleView:
    id: int
    notice_id: int
    notice_title: str
    kind: str
    start_at: datetime
    time_of_day: str | None
    timezone: str
    priority: int
    repeat: int
    volume: int
    enabled: bool
    village_names: list[str]
    next_at: datetime | None
    zone_names: list[str] = field(default_factory=list)
    group_names: list[str] = field(default_factory=list)
    speaker_ids: list[str] = field(default_factory=list)
    weekdays: list[int] = field(default_factory=list)
    interval_days: int = 1
    end_date: date | None = None
    skip_dates: list[date] = field(default_factory=list)
    window_seconds: int | None = None
    drill: bool = False
    severity: int | None = None
    event_type: str | None = None
    # The targets by id (villages, zones) and code (villager groups), as forms and the API
    # take them back.
    village_ids: list[int] = field(default_factory=list)
    zone_ids: list[int] = field(default_factory=list)
    group_codes: list[str] = field(default_factory=list)
    # Review (broadcast.approval): draft, pending, approved, rejected; and the reason given.
    status: str = "approved"
    review_note: str | None = None

    @property
    def lifecycle(self) -> str:
        """draft / pending / rejected, then scheduled / finished / cancelled."""
        from broadcast.approval import lifecycle

        return lifecycle(self.status, self.enabled, self.next_at)


@dataclass(frozen=True)
class OutgoingCommand:
    """An outbox row ready to be encoded, signed and published by the gateway."""

    id: str
    speaker_id: str
    seq: int
    type: str
    priority: int
    params: dict[str, Any]
    issued_at: datetime
    not_before: datetime
    expires_at: datetime
    attempts: int


@dataclass(frozen=True)
class IncomingEvent:
    """A receipt from a loudspeaker whose signature the gateway has verified."""

    command_id: str
    speaker_id: str
    kind: str
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LogRow:
    """One loudspeaker's part in one broadcast: the playback (as-run) log."""

    broadcast_id: int
    command_id: str
    notice_id: int
    notice_title: str
    village_name: str
    speaker_id: str
    planned_at: datetime
    status: str
    outcome: str | None
    received_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    detail: str
    drill: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass(frozen=True)
class BroadcastView:
    id: int
    notice_id: int
    notice_title: str
    schedule_id: int | None
    planned_at: datetime
    state: int
    targeted: int
    finished: int
    priority: int = 50
    missed: bool = False
    drill: bool = False
    severity: int | None = None
    event_type: str | None = None
    cancelled_at: datetime | None = None
