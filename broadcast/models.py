"""Persistence model (SQLAlchemy 2.x). All datetimes are stored in UTC."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend (SQLite drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class BroadcastState(enum.IntEnum):
    """Broadcast states as numbered by the national emergency broadcast standard."""

    UNPROCESSED = 0
    WAITING = 1
    PLAYING = 2
    SUCCEEDED = 3
    FAILED = 4
    CANCELLED = 5


class ScheduleKind(enum.StrEnum):
    ONCE = "once"
    DAILY = "daily"
    WEEKLY = "weekly"
    EVERY_N_DAYS = "every_n_days"


EMERGENCY_PRIORITY = 90


class CommandStatus(enum.StrEnum):
    PENDING = "pending"  # written, never published
    SENT = "sent"  # published at least once, no receipt yet
    ACKED = "acked"  # the loudspeaker answered (received or rejected)
    EXPIRED = "expired"  # never acknowledged before expiry
    DONE = "done"  # reached a terminal event (finished, failed, rejected, ...)
    CANCELLED = "cancelled"  # withdrawn by the server before the loudspeaker finished it


class Area(Base):
    """A county or a town, with its 12-digit area code (zero-padded below its level)."""

    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[str] = mapped_column(String(8))  # county, town
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    created_at: Mapped[datetime]


class Village(Base):
    __tablename__ = "villages"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    town_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    # "22:00-06:00"; None means the configured default.
    quiet_hours: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    # How notices sound here (see broadcast.variants): voice and speech rate (None: the
    # configured default) and the audio format its loudspeakers get ("mp3" or "opus").
    voice: Mapped[str | None] = mapped_column(String(64))
    rate: Mapped[int | None] = mapped_column(Integer)
    audio_format: Mapped[str] = mapped_column(String(8), default="mp3", server_default="mp3")

    speakers: Mapped[list[Loudspeaker]] = relationship(back_populates="village")
    groups: Mapped[list[VillagerGroup]] = relationship(back_populates="village")


class VillagerGroup(Base):
    """A villager group (村民小组) inside a village."""

    __tablename__ = "villager_groups"
    __table_args__ = (UniqueConstraint("village_id", "name", name="uq_group_village_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id"), index=True)
    code: Mapped[str] = mapped_column(String(15), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]

    village: Mapped[Village] = relationship(back_populates="groups")


class ZoneVillage(Base):
    __tablename__ = "zone_villages"

    zone_id: Mapped[int] = mapped_column(
        ForeignKey("zones.id", ondelete="CASCADE"), primary_key=True
    )
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id"), primary_key=True)


class Zone(Base):
    """A named set of villages, e.g. 沿河村庄 for flood warnings."""

    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime]

    villages: Mapped[list[Village]] = relationship(secondary="zone_villages")


class Loudspeaker(Base):
    __tablename__ = "loudspeakers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("villager_groups.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    # Where it hangs, in words (村委会楼顶) and optionally as coordinates.
    location: Mapped[str] = mapped_column(String(200), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    public_key: Mapped[str] = mapped_column(String(64))  # base64 raw Ed25519 key
    mqtt_password_hash: Mapped[str] = mapped_column(String(200))  # mosquitto $7$ format
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[datetime | None]
    state: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    village: Mapped[Village] = relationship(back_populates="speakers")


class Notice(Base):
    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    audio_sha256: Mapped[str] = mapped_column(String(64))
    audio_size: Mapped[int] = mapped_column(Integer)
    audio_duration_ms: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    # "text" (speech synthesised from ``body``) or "recording" (an uploaded file; the body is
    # then an optional transcript), with the uploaded file's hash and original name.
    kind: Mapped[str] = mapped_column(String(16), default="text")
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    source_filename: Mapped[str | None] = mapped_column(String(200))
    # Sound options the audio was rendered with. Voice and rate are None for recordings
    # (and for notices older than these columns: the configured default).
    voice: Mapped[str | None] = mapped_column(String(64))
    rate: Mapped[int | None] = mapped_column(Integer)
    repeat: Mapped[int] = mapped_column(Integer, default=1)
    chime: Mapped[bool] = mapped_column(Boolean, default=True)
    closing: Mapped[str] = mapped_column(String(100), default="")
    # The audio cache key it was rendered under (text notices): a different key for the
    # same notice now means the lexicon changed what it says, and 重新合成 would differ.
    audio_key: Mapped[str | None] = mapped_column(String(64))
    rendered_at: Mapped[datetime | None]
    # Review (see broadcast.approval): draft, pending, approved, rejected. A reviewer approves
    # the rendered audio: ``approved_sha256`` is the audio that was heard and approved.
    status: Mapped[str] = mapped_column(String(16), default="draft", server_default="approved")
    approved_sha256: Mapped[str | None] = mapped_column(String(64))
    submitted_by: Mapped[str | None] = mapped_column(String(64))
    submitted_at: Mapped[datetime | None]
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str | None] = mapped_column(String(500))


class Pronunciation(Base):
    """A lexicon entry edited by staff: ``term`` is read as ``replacement`` before synthesis
    (a homophone spelling, or tone-numbered pinyin in braces such as ``{huan2 tian2}``)."""

    __tablename__ = "lexicon_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    term: Mapped[str] = mapped_column(String(50), unique=True)
    replacement: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class NoticeVariant(Base):
    """A notice's audio as a village hears it when that differs from the notice's own
    audio: another voice, speech rate or format (see broadcast.variants). ``voice`` "" and
    ``rate`` 0 stand for the notice's own; rendered before any broadcast fires."""

    __tablename__ = "notice_variants"
    __table_args__ = (
        UniqueConstraint("notice_id", "voice", "rate", "audio_format", name="uq_notice_variant"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    voice: Mapped[str] = mapped_column(String(64))
    rate: Mapped[int] = mapped_column(Integer)
    audio_format: Mapped[str] = mapped_column(String(8))
    audio_sha256: Mapped[str] = mapped_column(String(64))
    audio_size: Mapped[int] = mapped_column(Integer)
    audio_duration_ms: Mapped[int] = mapped_column(Integer)
    # The notice's own audio this variant was made for: a re-rendered notice makes it stale.
    source_sha256: Mapped[str] = mapped_column(String(64))
    rendered_at: Mapped[datetime]


class ScheduleVillage(Base):
    __tablename__ = "schedule_villages"

    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    )
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id"), primary_key=True)


class ScheduleZone(Base):
    __tablename__ = "schedule_zones"

    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    )
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), primary_key=True)


class ScheduleGroup(Base):
    __tablename__ = "schedule_groups"

    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(ForeignKey("villager_groups.id"), primary_key=True)


class ScheduleSpeaker(Base):
    __tablename__ = "schedule_speakers"

    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    )
    speaker_id: Mapped[str] = mapped_column(ForeignKey("loudspeakers.id"), primary_key=True)


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # For "once": the instant to play. For "daily": the first day it applies from.
    start_at: Mapped[datetime]
    # For repeating kinds: local time of day "HH:MM" in ``timezone``.
    time_of_day: Mapped[str | None] = mapped_column(String(5))
    # For "weekly": ISO weekday numbers, e.g. "1,4" for Monday and Thursday.
    weekdays: Mapped[str | None] = mapped_column(String(16))
    interval_days: Mapped[int] = mapped_column(Integer, default=1)
    end_date: Mapped[date | None] = mapped_column(Date)
    # Local dates ("YYYY-MM-DD") on which a repeating schedule does not play.
    skip_dates: Mapped[list[str]] = mapped_column(JSON, default=list)
    timezone: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=50)
    repeat: Mapped[int] = mapped_column(Integer, default=1)
    volume: Mapped[int] = mapped_column(Integer, default=80)
    # How late an occurrence may still start; None means schedule.window_seconds.
    window_seconds: Mapped[int | None] = mapped_column(Integer)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    # Emergencies: national levels 1 (I 特别重大) .. 4 (IV 一般), and the event type.
    severity: Mapped[int | None] = mapped_column(Integer)
    event_type: Mapped[str | None] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    # Bumped on every change, so that schedulers in other processes notice it.
    updated_at: Mapped[datetime | None]
    # Review (see broadcast.approval): draft, pending, approved, rejected; only approved
    # schedules fire.
    status: Mapped[str] = mapped_column(String(16), default="draft", server_default="approved")
    submitted_by: Mapped[str | None] = mapped_column(String(64))
    submitted_at: Mapped[datetime | None]
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str | None] = mapped_column(String(500))

    notice: Mapped[Notice] = relationship()
    # Targets, resolved to loudspeakers when an occurrence fires.
    villages: Mapped[list[Village]] = relationship(secondary="schedule_villages")
    zones: Mapped[list[Zone]] = relationship(secondary="schedule_zones")
    groups: Mapped[list[VillagerGroup]] = relationship(secondary="schedule_groups")
    speakers: Mapped[list[Loudspeaker]] = relationship(secondary="schedule_speakers")


class Broadcast(Base):
    """One occurrence of a schedule: identified by (schedule, planned time)."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        UniqueConstraint("schedule_id", "planned_at", name="uq_broadcast_occurrence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"))
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    planned_at: Mapped[datetime] = mapped_column(index=True)
    expires_at: Mapped[datetime]
    priority: Mapped[int] = mapped_column(Integer)
    state: Mapped[int] = mapped_column(Integer, default=BroadcastState.UNPROCESSED)
    # Found too late after downtime: recorded, never played.
    missed: Mapped[bool] = mapped_column(Boolean, default=False)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    severity: Mapped[int | None] = mapped_column(Integer)
    event_type: Mapped[str | None] = mapped_column(String(64))
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]

    notice: Mapped[Notice] = relationship()
    commands: Mapped[list[Command]] = relationship(back_populates="broadcast")


class Command(Base):
    """The outbox: one row per command to one loudspeaker, published by the gateway."""

    __tablename__ = "commands"
    __table_args__ = (
        UniqueConstraint("speaker_id", "seq", name="uq_command_speaker_seq"),
        # A loudspeaker's latest commands (its health: did it play its last broadcasts?).
        Index("ix_commands_speaker_not_before", "speaker_id", "not_before"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"), index=True)
    speaker_id: Mapped[str] = mapped_column(ForeignKey("loudspeakers.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]]
    issued_at: Mapped[datetime]
    not_before: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default=CommandStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_sent_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    # The as-run record, kept from the receipts (see broadcast.receipts): the loudspeaker's
    # own times, why it failed or refused, and how many times it played the audio through.
    received_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(64))
    plays: Mapped[int] = mapped_column(Integer, default=0)

    broadcast: Mapped[Broadcast | None] = relationship(back_populates="commands")
    speaker: Mapped[Loudspeaker] = relationship()


class Event(Base):
    """A verified receipt from a loudspeaker. Each (command, kind) is recorded once."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("command_id", "kind", name="uq_event_command_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    command_id: Mapped[str] = mapped_column(ForeignKey("commands.id"), index=True)
    speaker_id: Mapped[str] = mapped_column(ForeignKey("loudspeakers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]  # loudspeaker's own timestamp
    received_at: Mapped[datetime] = mapped_column(index=True)
    details: Mapped[dict[str, Any]]


class SpeakerStatusChange(Base):
    """A loudspeaker went online or offline (its availability changed): the health history."""

    __tablename__ = "speaker_status_changes"
    __table_args__ = (Index("ix_speaker_status_changes_speaker_at", "speaker_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    speaker_id: Mapped[str] = mapped_column(ForeignKey("loudspeakers.id"))
    online: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(index=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="admin")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    full_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    last_login_at: Mapped[datetime | None]

    # Scope: the towns and villages this account works for; none of either = the whole county.
    towns: Mapped[list[Area]] = relationship(secondary="user_towns")
    villages: Mapped[list[Village]] = relationship(secondary="user_villages")


class UserTown(Base):
    __tablename__ = "user_towns"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), primary_key=True)


class UserVillage(Base):
    __tablename__ = "user_villages"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id"), primary_key=True)


class AuditEntry(Base):
    """One change made by a person, append-only and hash-chained (see broadcast.audit).

    ``id`` is assigned by the writer (previous id + 1, under a lock), so ids have no gaps;
    ``hash`` is the SHA-256 of the canonical encoding of this row with ``prev_hash``.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_table_row", "table_name", "row_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    table_name: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[str] = mapped_column(String(64))
    # Canonical JSON {"before": {...}, "after": {...}, ...}: exactly the text that was hashed.
    changes: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Programme(Base):
    """A reusable playlist (节目单): ordered items assembled into one audio file.

    The assembled audio lives on its own notice row of kind ``programme`` (``notice_id``),
    so schedules, firing, commands and receipts treat a programme exactly like a notice.
    """

    __tablename__ = "programmes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), unique=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    notice: Mapped[Notice] = relationship()
    items: Mapped[list[ProgrammeItem]] = relationship(
        back_populates="programme",
        order_by="ProgrammeItem.position",
        cascade="all, delete-orphan",
    )


class ProgrammeItem(Base):
    """One item of a programme: a notice (text or recording), the chime, or silence."""

    __tablename__ = "programme_items"
    __table_args__ = (UniqueConstraint("programme_id", "position", name="uq_programme_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("programmes.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # notice, chime, silence
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), index=True)
    seconds: Mapped[int | None] = mapped_column(Integer)  # for silence

    programme: Mapped[Programme] = relationship(back_populates="items")
    notice: Mapped[Notice | None] = relationship()


class VolumeCeiling(Base):
    """The loudest a routine broadcast may play in a village during a daily band
    (e.g. 06:00-07:30 at most 60); the band may cross midnight."""

    __tablename__ = "volume_ceilings"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = mapped_column(
        ForeignKey("villages.id", ondelete="CASCADE"), index=True
    )
    start: Mapped[str] = mapped_column(String(5))  # "HH:MM" local
    end: Mapped[str] = mapped_column(String(5))
    max_volume: Mapped[int] = mapped_column(Integer)
