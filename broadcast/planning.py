"""Schedules and their occurrences: creating a Broadcast and its commands, idempotently."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from broadcast.errors import NotFound, ValidationFailed
from broadcast.models import (
    Broadcast,
    BroadcastState,
    Command,
    Loudspeaker,
    Schedule,
    ScheduleKind,
    Village,
)
from broadcast.notices import get_notice
from broadcast.places import find_village
from broadcast.recurrence import Recurrence, parse_time_of_day
from broadcast.views import ScheduleView

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduleRequest:
    notice_id: int
    villages: list[str | int]
    kind: str  # "once" or "daily"
    at: datetime | None = None  # for once
    time_of_day: str | None = None  # for daily, HH:MM local
    priority: int = 50
    repeat: int = 1
    volume: int = 80


def recurrence_of(row: Schedule) -> Recurrence:
    tod = parse_time_of_day(row.time_of_day) if row.time_of_day else None
    return Recurrence(row.kind, row.start_at, ZoneInfo(row.timezone), tod)


def schedule_view(row: Schedule, now: datetime) -> ScheduleView:
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
        next_at=recurrence_of(row).next_after(now) if row.enabled else None,
    )


def add_schedule(
    s: Session, req: ScheduleRequest, zone: str, created_by: str, now: datetime
) -> ScheduleView:
    notice = get_notice(s, req.notice_id)
    if not req.villages:
        raise ValidationFailed("请至少选择一个村", "villages")
    villages = {v.id: v for v in (find_village(s, ref) for ref in req.villages)}
    if not 0 <= req.priority <= 100:
        raise ValidationFailed("优先级须在 0–100 之间", "priority")
    if not 1 <= req.repeat <= 10:
        raise ValidationFailed("重复次数须在 1–10 之间", "repeat")
    if not 0 <= req.volume <= 100:
        raise ValidationFailed("音量须在 0–100 之间", "volume")
    if req.kind == ScheduleKind.ONCE:
        if req.at is None or req.at.tzinfo is None:
            raise ValidationFailed("请填写播放时间", "at")
        if req.at < now - timedelta(minutes=1):
            raise ValidationFailed("播放时间已过", "at")
        start_at, tod = max(req.at, now), None
    elif req.kind == ScheduleKind.DAILY:
        if not req.time_of_day:
            raise ValidationFailed("请填写每天的播放时间", "time_of_day")
        parse_time_of_day(req.time_of_day)
        start_at, tod = now, req.time_of_day.strip()
    else:
        raise ValidationFailed(f"不支持的计划类型：{req.kind}", "kind")
    row = Schedule(
        notice=notice,
        kind=str(req.kind),
        start_at=start_at,
        time_of_day=tod,
        timezone=zone,
        priority=req.priority,
        repeat=req.repeat,
        volume=req.volume,
        enabled=True,
        created_by=created_by,
        created_at=now,
        villages=list(villages.values()),
    )
    s.add(row)
    s.flush()
    return schedule_view(row, now)


def list_schedules(s: Session, now: datetime) -> list[ScheduleView]:
    rows = s.scalars(select(Schedule).order_by(Schedule.id.desc()))
    return [schedule_view(r, now) for r in rows]


def get_schedule(s: Session, schedule_id: int, now: datetime) -> ScheduleView:
    row = s.get(Schedule, schedule_id)
    if row is None:
        raise NotFound(f"找不到播放计划 {schedule_id}")
    return schedule_view(row, now)


def set_enabled(s: Session, schedule_id: int, enabled: bool) -> None:
    row = s.get(Schedule, schedule_id)
    if row is None:
        raise NotFound(f"找不到播放计划 {schedule_id}")
    row.enabled = enabled


def fire(
    s: Session, schedule_id: int, planned_at: datetime, now: datetime, ttl: timedelta
) -> int | None:
    """Create the Broadcast for one occurrence and a play command per loudspeaker.

    Idempotent: an occurrence that already has its Broadcast returns that one's id.
    Returns None when the schedule is gone, disabled, or the occurrence has expired.
    """
    existing = s.scalar(
        select(Broadcast.id).where(
            Broadcast.schedule_id == schedule_id, Broadcast.planned_at == planned_at
        )
    )
    if existing is not None:
        return existing
    row = s.get(Schedule, schedule_id)
    if row is None or not row.enabled:
        return None
    expires_at = planned_at + ttl
    if now >= expires_at:
        logger.warning("occurrence %s of schedule %s expired before firing", planned_at, row.id)
        return None
    notice = row.notice
    bc = Broadcast(
        schedule_id=row.id,
        notice_id=notice.id,
        planned_at=planned_at,
        expires_at=expires_at,
        priority=row.priority,
        state=BroadcastState.UNPROCESSED,
        created_at=now,
    )
    s.add(bc)
    s.flush()
    speakers = s.scalars(
        select(Loudspeaker)
        .join(Village)
        .where(
            Loudspeaker.village_id.in_([v.id for v in row.villages]),
            Loudspeaker.revoked_at.is_(None),
        )
        .order_by(Loudspeaker.id)
        .with_for_update()
    ).all()
    for sp in speakers:
        sp.last_seq += 1
        s.add(
            Command(
                id=str(uuid.uuid4()),
                broadcast_id=bc.id,
                speaker_id=sp.id,
                seq=sp.last_seq,
                type="play",
                priority=row.priority,
                params={
                    "broadcast_id": bc.id,
                    "audio_sha256": notice.audio_sha256,
                    "audio_size": notice.audio_size,
                    "duration_ms": notice.audio_duration_ms,
                    "repeat": row.repeat,
                    "volume": row.volume,
                },
                issued_at=now,
                not_before=planned_at,
                expires_at=expires_at,
            )
        )
    s.flush()
    logger.info(
        "broadcast %s created for schedule %s at %s: %d loudspeakers",
        bc.id,
        row.id,
        planned_at.isoformat(),
        len(speakers),
    )
    return bc.id


def enabled_schedules(s: Session) -> list[tuple[int, Recurrence]]:
    rows = s.scalars(select(Schedule).where(Schedule.enabled.is_(True)).order_by(Schedule.id))
    return [(r.id, recurrence_of(r)) for r in rows]


def fired_occurrences(s: Session, schedule_id: int, since: datetime) -> set[datetime]:
    return set(
        s.scalars(
            select(Broadcast.planned_at).where(
                Broadcast.schedule_id == schedule_id, Broadcast.planned_at >= since
            )
        )
    )
