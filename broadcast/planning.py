"""Schedules and their occurrences: validation, firing (idempotent), missed runs, cancelling."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broadcast.errors import NotFound, ValidationFailed
from broadcast.models import (
    EMERGENCY_PRIORITY,
    Broadcast,
    Loudspeaker,
    Schedule,
    ScheduleKind,
    Village,
    VillagerGroup,
    Zone,
)
from broadcast.notices import get_notice
from broadcast.places import find_village, volume_bands
from broadcast.preview import Slot, VillageFacts, play_length
from broadcast.recurrence import QuietHours, Recurrence, parse_time_of_day
from broadcast.regions import find_group, find_zone
from broadcast.views import ScheduleView

logger = logging.getLogger(__name__)

SEVERITY_NAMES = {
    1: "I 级（特别重大）",
    2: "II 级（重大）",
    3: "III 级（较大）",
    4: "IV 级（一般）",
}
MAX_SKIP_DATES = 366


@dataclass(frozen=True)
class ScheduleRequest:
    notice_id: int
    villages: list[str | int]
    kind: str  # once, daily, weekly, every_n_days
    at: datetime | None = None  # for once
    time_of_day: str | None = None  # for repeating kinds, HH:MM local
    priority: int = 50
    repeat: int = 1
    volume: int = 80
    weekdays: list[int] = field(default_factory=list)  # for weekly, ISO 1..7
    interval_days: int = 1  # for every_n_days
    start_date: date | None = None  # repeating kinds: first local day (default today)
    end_date: date | None = None  # repeating kinds: last local day (inclusive)
    skip_dates: list[date] = field(default_factory=list)
    window_minutes: int | None = None  # validity window; None = configured default
    # More targets besides ``villages``: named zones, villager groups, single loudspeakers.
    zones: list[str | int] = field(default_factory=list)
    groups: list[str | int] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EmergencyRequest:
    notice_id: int
    villages: list[str | int]
    severity: int  # 1..4, national levels
    event_type: str
    drill: bool = False
    priority: int = 95
    repeat: int = 2
    volume: int = 100
    zones: list[str | int] = field(default_factory=list)
    groups: list[str | int] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PlannedSchedule:
    """What the scheduler needs of one enabled schedule."""

    id: int
    recurrence: Recurrence
    window: timedelta


def recurrence_of(row: Schedule) -> Recurrence:
    tod = parse_time_of_day(row.time_of_day) if row.time_of_day else None
    weekdays = (
        frozenset(int(d) for d in row.weekdays.split(",") if d) if row.weekdays else frozenset()
    )
    return Recurrence(
        kind=row.kind,
        start_at=row.start_at,
        zone=ZoneInfo(row.timezone),
        time_of_day=tod,
        weekdays=weekdays,
        interval_days=row.interval_days,
        end_date=row.end_date,
        skip_dates=frozenset(date.fromisoformat(d) for d in row.skip_dates or []),
    )


def window_of(row: Schedule, default_seconds: int) -> timedelta:
    return timedelta(seconds=row.window_seconds or default_seconds)


def schedule_view(row: Schedule, now: datetime) -> ScheduleView:
    rec = recurrence_of(row)
    return ScheduleView(
        id=row.id,
        notice_id=row.notice_id,
        notice_title=row.notice.title,
        kind=row.kind,
        start_at=row.start_at,
        time_of_day=row.time_of_day,
        timezone=row.timezone,
        priority=row.priority,
        repeat=row.repeat,
        volume=row.volume,
        enabled=row.enabled,
        village_names=[v.name for v in row.villages],
        zone_names=[z.name for z in row.zones],
        group_names=[f"{g.village.name}{g.name}" for g in row.groups],
        speaker_ids=[sp.id for sp in row.speakers],
        village_ids=[v.id for v in row.villages],
        zone_ids=[z.id for z in row.zones],
        group_codes=[g.code for g in row.groups],
        next_at=rec.next_after(now) if row.enabled else None,
        weekdays=sorted(rec.weekdays),
        interval_days=row.interval_days,
        end_date=row.end_date,
        skip_dates=sorted(rec.skip_dates),
        window_seconds=row.window_seconds,
        drill=row.drill,
        severity=row.severity,
        event_type=row.event_type,
        status=row.status,
        review_note=row.review_note,
    )


def quiet_hours_of(village: Village, default: str) -> QuietHours:
    return QuietHours.parse(village.quiet_hours or default)


def _check_range(value: int, lo: int, hi: int, field_name: str, label: str) -> None:
    if not lo <= value <= hi:
        raise ValidationFailed(f"{label}须在 {lo}–{hi} 之间", field_name)


def _apply(
    s: Session,
    row: Schedule,
    req: ScheduleRequest,
    zone: ZoneInfo,
    default_quiet: str,
    now: datetime,
) -> None:
    """Validate ``req`` and write it into ``row`` (new or edited)."""
    row.notice = get_notice(s, req.notice_id)
    targets = resolve_targets(s, req.villages, req.zones, req.groups, req.speakers)
    _check_range(req.priority, 0, EMERGENCY_PRIORITY - 1, "priority", "例行广播优先级")
    _check_range(req.repeat, 1, 10, "repeat", "整段播放次数")
    _check_range(req.volume, 0, 100, "volume", "音量")
    if req.window_minutes is not None:
        _check_range(req.window_minutes, 1, 24 * 60, "window_minutes", "有效时长（分钟）")
    if len(req.skip_dates) > MAX_SKIP_DATES:
        raise ValidationFailed(f"跳过日期最多 {MAX_SKIP_DATES} 个", "skip_dates")
    kind = req.kind
    weekdays: frozenset[int] = frozenset()
    if kind == ScheduleKind.ONCE:
        if req.at is None or req.at.tzinfo is None:
            raise ValidationFailed("请填写播放时间", "at")
        if req.at < now - timedelta(minutes=1):
            raise ValidationFailed("播放时间已过", "at")
        start_at, tod = max(req.at, now), None
    elif kind in (ScheduleKind.DAILY, ScheduleKind.WEEKLY, ScheduleKind.EVERY_N_DAYS):
        if not req.time_of_day:
            raise ValidationFailed("请填写播放时间", "time_of_day")
        tod = req.time_of_day.strip()
        parse_time_of_day(tod)
        if kind == ScheduleKind.WEEKLY:
            weekdays = frozenset(req.weekdays)
            if not weekdays or not weekdays <= frozenset(range(1, 8)):
                raise ValidationFailed("请选择每周哪几天播放", "weekdays")
        if kind == ScheduleKind.EVERY_N_DAYS:
            _check_range(req.interval_days, 1, 365, "interval_days", "间隔天数")
        first_day = req.start_date or _first_day(row, req, now.astimezone(zone).date(), zone)
        start_at = max(now, datetime.combine(first_day, datetime.min.time(), tzinfo=zone))
        if req.end_date is not None and req.end_date < first_day:
            raise ValidationFailed("结束日期不能早于开始日期", "end_date")
    else:
        raise ValidationFailed(f"不支持的计划类型：{kind}", "kind")

    rec = Recurrence(
        kind=str(kind),
        start_at=start_at,
        zone=zone,
        time_of_day=parse_time_of_day(tod) if tod else None,
        weekdays=weekdays,
        interval_days=req.interval_days,
        end_date=req.end_date,
        skip_dates=frozenset(req.skip_dates),
    )
    if kind != ScheduleKind.ONCE and rec.next_after(now) is None:
        raise ValidationFailed("按此设置不会再播放（检查日期范围和跳过日期）", "end_date")
    # Routine broadcasts never start inside a village's quiet hours.
    for village in targets.all_villages():
        quiet = quiet_hours_of(village, default_quiet)
        for t in rec.local_times():
            if quiet.contains(t):
                raise ValidationFailed(
                    f"{village.name}的静音时段为 {quiet}，{t:%H:%M} 不能播出例行广播",
                    "at" if kind == ScheduleKind.ONCE else "time_of_day",
                )
    row.kind = str(kind)
    row.start_at = start_at
    row.time_of_day = tod
    row.weekdays = ",".join(str(d) for d in sorted(weekdays)) or None
    row.interval_days = req.interval_days if kind == ScheduleKind.EVERY_N_DAYS else 1
    row.end_date = req.end_date if kind != ScheduleKind.ONCE else None
    row.skip_dates = sorted(d.isoformat() for d in req.skip_dates) if kind != "once" else []
    row.timezone = zone.key
    row.priority = req.priority
    row.repeat = req.repeat
    row.volume = req.volume
    row.window_seconds = req.window_minutes * 60 if req.window_minutes else None
    targets.assign(row)
    row.updated_at = now


def _first_day(row: Schedule, req: ScheduleRequest, today: date, zone: ZoneInfo) -> date:
    """The first day of an edited repeating schedule when the form names none: today, or
    for an every-N-days schedule that stays one, the next day on its old rhythm (editing
    the time must not move the days it plays on)."""
    if req.kind != ScheduleKind.EVERY_N_DAYS or row.kind != ScheduleKind.EVERY_N_DAYS:
        return today
    old_first = row.start_at.astimezone(zone).date()
    if old_first >= today:
        return old_first
    return today + timedelta(days=(old_first - today).days % req.interval_days)


def add_schedule(
    s: Session,
    req: ScheduleRequest,
    zone: str,
    default_quiet: str,
    created_by: str,
    now: datetime,
) -> ScheduleView:
    row = Schedule(enabled=True, created_by=created_by, created_at=now, drill=False)
    _apply(s, row, req, ZoneInfo(zone), default_quiet, now)
    s.add(row)
    s.flush()
    return schedule_view(row, now)


def update_schedule(
    s: Session,
    schedule_id: int,
    req: ScheduleRequest,
    zone: str,
    default_quiet: str,
    now: datetime,
) -> ScheduleView:
    """Edit a routine schedule; occurrences already fired are not touched."""
    row = _get(s, schedule_id)
    if row.priority >= EMERGENCY_PRIORITY:
        raise ValidationFailed("紧急广播不能修改，请取消后重发", "kind")
    _apply(s, row, req, ZoneInfo(zone), default_quiet, now)
    s.flush()
    return schedule_view(row, now)


def delete_schedule(s: Session, schedule_id: int) -> None:
    """Remove a schedule; its past broadcasts stay in the log."""
    s.delete(_get(s, schedule_id))


def check_emergency(req: EmergencyRequest) -> str:
    """The checks of an emergency that need no database; returns its event type."""
    if req.severity not in SEVERITY_NAMES:
        raise ValidationFailed("请选择事件级别（I–IV 级）", "severity")
    event_type = req.event_type.strip()
    if not event_type or len(event_type) > 64:
        raise ValidationFailed("请填写事件类型（64 字以内）", "event_type")
    _check_range(req.priority, EMERGENCY_PRIORITY, 100, "priority", "紧急广播优先级")
    _check_range(req.repeat, 1, 10, "repeat", "重复次数")
    _check_range(req.volume, 0, 100, "volume", "音量")
    return event_type


def add_emergency(
    s: Session, req: EmergencyRequest, zone: str, created_by: str, now: datetime
) -> Schedule:
    """An emergency: a one-off schedule at ``now`` that ignores quiet hours."""
    notice = get_notice(s, req.notice_id)
    targets = resolve_targets(s, req.villages, req.zones, req.groups, req.speakers)
    event_type = check_emergency(req)
    row = Schedule(
        notice=notice,
        kind=ScheduleKind.ONCE.value,
        start_at=now,
        time_of_day=None,
        interval_days=1,
        skip_dates=[],
        timezone=zone,
        priority=req.priority,
        repeat=req.repeat,
        volume=req.volume,
        drill=req.drill,
        severity=req.severity,
        event_type=event_type,
        enabled=True,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    targets.assign(row)
    s.add(row)
    s.flush()
    return row


def _get(s: Session, schedule_id: int) -> Schedule:
    row = s.get(Schedule, schedule_id)
    if row is None:
        raise NotFound(f"找不到播放计划 {schedule_id}")
    return row


def get_schedule(s: Session, schedule_id: int, now: datetime) -> ScheduleView:
    return schedule_view(_get(s, schedule_id), now)


def list_schedules(s: Session, now: datetime) -> list[ScheduleView]:
    rows = s.scalars(select(Schedule).order_by(Schedule.id.desc()))
    return [schedule_view(r, now) for r in rows]


def set_enabled(s: Session, schedule_id: int, enabled: bool, now: datetime) -> None:
    row = _get(s, schedule_id)
    row.enabled = enabled
    row.updated_at = now


def schedules_signature(s: Session) -> tuple[int, int, str]:
    """Changes whenever a schedule is added, edited, enabled, disabled or deleted."""
    count, max_id, last = s.execute(
        select(func.count(Schedule.id), func.max(Schedule.id), func.max(Schedule.updated_at))
    ).one()
    return (int(count), int(max_id or 0), str(last))


@dataclass
class Targets:
    """A schedule's targets as rows; ``all_villages`` is every village they touch."""

    villages: list[Village]
    zones: list[Zone]
    groups: list[VillagerGroup]
    speakers: list[Loudspeaker]

    def all_villages(self) -> list[Village]:
        found = {v.id: v for v in self.villages}
        for zone in self.zones:
            found.update((v.id, v) for v in zone.villages)
        for group in self.groups:
            found[group.village_id] = group.village
        for sp in self.speakers:
            found[sp.village_id] = sp.village
        return list(found.values())

    def assign(self, row: Schedule) -> None:
        row.villages, row.zones = self.villages, self.zones
        row.groups, row.speakers = self.groups, self.speakers


def resolve_targets(
    s: Session,
    villages: list[str | int],
    zones: list[str | int],
    groups: list[str | int],
    speakers: list[str],
) -> Targets:
    if not (villages or zones or groups or speakers):
        raise ValidationFailed("请至少选择一个村、区域、小组或喇叭", "villages")
    found_speakers = []
    for sid in speakers:
        sp = s.get(Loudspeaker, sid)
        if sp is None or sp.revoked_at is not None:
            raise NotFound(f"找不到喇叭 {sid}")
        found_speakers.append(sp)
    return Targets(
        villages=list({v.id: v for v in (find_village(s, r) for r in villages)}.values()),
        zones=list({z.id: z for z in (find_zone(s, r) for r in zones)}.values()),
        groups=list({g.id: g for g in (find_group(s, r) for r in groups)}.values()),
        speakers=list({sp.id: sp for sp in found_speakers}.values()),
    )


def preview_slots(
    s: Session,
    start: datetime,
    end: datetime,
    default_window_seconds: int,
    default_quiet: str,
    audio_exists: Callable[[str], bool],
    zone_key: str,
    village_ids: list[int] | None = None,
) -> tuple[list[Slot], dict[int, VillageFacts]]:
    """Every occurrence of every enabled schedule in (start, end], per target village."""
    slots: list[Slot] = []
    seen: dict[int, Village] = {}
    rows = s.scalars(select(Schedule).where(Schedule.enabled.is_(True)).order_by(Schedule.id))
    for row in rows:
        rec = recurrence_of(row)
        notice = row.notice
        missing = not audio_exists(notice.audio_sha256)
        for village in Targets(row.villages, row.zones, row.groups, row.speakers).all_villages():
            if village_ids is not None and village.id not in village_ids:
                continue
            seen[village.id] = village
            for planned in rec.between(start, end):
                slots.append(
                    Slot(
                        schedule_id=row.id,
                        notice_title=notice.title,
                        village_id=village.id,
                        village_name=village.name,
                        planned_at=planned,
                        duration=play_length(notice.audio_duration_ms, row.repeat),
                        priority=row.priority,
                        window=window_of(row, default_window_seconds),
                        audio_missing=missing,
                        volume=row.volume,
                    )
                )
    facts = {}
    ceilings = volume_bands(s, seen)
    for village in seen.values():
        active = [sp for sp in village.speakers if sp.revoked_at is None]
        facts[village.id] = VillageFacts(
            quiet=quiet_hours_of(village, default_quiet),
            zone_key=zone_key,
            speakers=len(active),
            offline=sum(1 for sp in active if not sp.online),
            ceilings=tuple(ceilings.get(village.id, ())),
        )
    return slots, facts


def planned_schedules(s: Session, default_window_seconds: int) -> list[PlannedSchedule]:
    """Enabled, approved schedules (only these are armed; firing checks again)."""
    rows = s.scalars(
        select(Schedule)
        .where(Schedule.enabled.is_(True), Schedule.status == "approved")
        .order_by(Schedule.id)
    )
    return [
        PlannedSchedule(r.id, recurrence_of(r), window_of(r, default_window_seconds)) for r in rows
    ]


def fired_since(s: Session, since: datetime) -> dict[int, set[datetime]]:
    """Planned times already recorded (played or missed) since ``since``, per schedule."""
    found: dict[int, set[datetime]] = {}
    rows = s.execute(
        select(Broadcast.schedule_id, Broadcast.planned_at).where(
            Broadcast.planned_at >= since, Broadcast.schedule_id.is_not(None)
        )
    )
    for schedule_id, planned in rows:
        if schedule_id is not None:
            found.setdefault(schedule_id, set()).add(planned)
    return found


def fired_occurrences(s: Session, schedule_id: int, since: datetime) -> set[datetime]:
    return set(
        s.scalars(
            select(Broadcast.planned_at).where(
                Broadcast.schedule_id == schedule_id, Broadcast.planned_at >= since
            )
        )
    )
