"""Firing occurrences: the Broadcast and one play command per target loudspeaker, in the
outbox; and cancelling. Occurrences due at the same instant fire in one batch."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from broadcast import approval, variants
from broadcast.errors import NotFound
from broadcast.models import (
    EMERGENCY_PRIORITY,
    Broadcast,
    BroadcastState,
    Command,
    CommandStatus,
    Loudspeaker,
    Schedule,
    ScheduleKind,
    Zone,
)
from broadcast.places import volume_bands
from broadcast.planning import quiet_hours_of, recurrence_of, window_of
from broadcast.recurrence import VolumeBand, capped_volume
from broadcast.settings import AudioSettings

logger = logging.getLogger(__name__)


def fire(
    s: Session,
    schedule_ids: Sequence[int],
    planned_at: datetime,
    now: datetime,
    default_window_seconds: int,
    default_quiet: str,
    audio_defaults: AudioSettings | None = None,
) -> list[int | None]:
    """Create the Broadcast of each schedule's occurrence at ``planned_at`` and a play
    command per target loudspeaker; returns the broadcast ids in the given order.

    Idempotent: an occurrence that already has its Broadcast gives that one's id. An
    occurrence found after its validity window is recorded as missed and plays nowhere.
    Targets are resolved now; routine broadcasts skip villages inside their quiet hours.
    None for a schedule that is gone, disabled, or no longer plays at ``planned_at``.
    A few queries in all, however many schedules: the county-wide morning programme fires
    hundreds at one instant.
    """
    ids = list(dict.fromkeys(schedule_ids))
    existing: dict[int, int] = {}
    for sid, bid in s.execute(
        select(Broadcast.schedule_id, Broadcast.id).where(
            Broadcast.schedule_id.in_(ids), Broadcast.planned_at == planned_at
        )
    ):
        if sid is not None:
            existing[sid] = bid
    todo = [sid for sid in ids if sid not in existing]
    rows = {
        r.id: r
        for r in s.scalars(
            select(Schedule)
            .where(Schedule.id.in_(todo))
            .options(
                selectinload(Schedule.notice),
                selectinload(Schedule.villages),
                selectinload(Schedule.zones).selectinload(Zone.villages),
                selectinload(Schedule.groups),
                selectinload(Schedule.speakers),
            )
        )
    }
    created: dict[int, Broadcast] = {}
    for sid in todo:
        row = rows.get(sid)
        if row is None or not row.enabled:
            continue
        if not approval.may_fire(row):
            # Defence in depth: the scheduler arms only approved schedules, and nothing
            # else may reach the loudspeakers either.
            logger.warning("schedule %s is not approved (%s): not fired", sid, row.status)
            continue
        if not recurrence_of(row).occurs_at(planned_at):
            # A job armed before the schedule was edited: that time no longer applies.
            logger.info("schedule %s no longer plays at %s", sid, planned_at.isoformat())
            continue
        expires_at = planned_at + window_of(row, default_window_seconds)
        missed = now >= expires_at
        if missed:
            logger.warning(
                "occurrence %s of schedule %s found %s late: recorded as missed",
                planned_at.isoformat(),
                sid,
                now - planned_at,
            )
        created[sid] = Broadcast(
            schedule_id=sid,
            notice_id=row.notice_id,
            planned_at=planned_at,
            expires_at=expires_at,
            priority=row.priority,
            state=BroadcastState.FAILED if missed else BroadcastState.UNPROCESSED,
            missed=missed,
            drill=row.drill,
            severity=row.severity,
            event_type=row.event_type,
            created_at=now,
        )
    s.add_all(created.values())
    s.flush()
    live = [(rows[sid], bc) for sid, bc in created.items() if not bc.missed]
    candidates = _candidates(s, [row for row, _bc in live])
    ceilings = volume_bands(s, {sp.village_id for sp in candidates})
    found = variants.current(s, {row.notice for row, _bc in live})
    defaults = audio_defaults or AudioSettings()
    outbox = Outbox(now)
    for row, bc in live:
        speakers = _targets_of(row, candidates, planned_at, default_quiet, bc.id)
        notice = row.notice
        params: dict[str, object] = {
            "broadcast_id": bc.id,
            "repeat": row.repeat,
            "volume": row.volume,
        }
        if row.drill:
            params["drill"] = True
        heard: dict[int, dict[str, object]] = {}  # per village: its voice, rate and format
        for sp in speakers:
            if sp.village_id not in heard:
                audio = variants.audio_for(notice, sp.village, defaults, found, bc.id)
                heard[sp.village_id] = {
                    "audio_sha256": audio.sha256,
                    "audio_size": audio.size,
                    "duration_ms": audio.duration_ms,
                    "audio_format": audio.audio_format,
                }
            capped = {
                **params,
                **heard[sp.village_id],
                "volume": _volume(row, sp, ceilings, planned_at),
            }
            outbox.add(sp, "play", row.priority, capped, planned_at, bc.expires_at, bc.id)
        logger.info(
            "broadcast %s created for schedule %s at %s: %d loudspeakers%s",
            bc.id,
            row.id,
            planned_at.isoformat(),
            len(speakers),
            " (drill)" if row.drill else "",
        )
    outbox.write(s)
    return [
        existing.get(sid) or (created[sid].id if sid in created else None) for sid in schedule_ids
    ]


def _volume(
    row: Schedule,
    sp: Loudspeaker,
    ceilings: dict[int, list[VolumeBand]],
    planned_at: datetime,
) -> int:
    """The schedule's volume, capped by the village's ceiling at the planned local time;
    emergencies ignore ceilings (as they ignore quiet hours)."""
    if row.priority >= EMERGENCY_PRIORITY:
        return row.volume
    local = planned_at.astimezone(ZoneInfo(row.timezone)).time()
    return capped_volume(row.volume, ceilings.get(sp.village_id, ()), local)


def _candidates(s: Session, rows: list[Schedule]) -> list[Loudspeaker]:
    """Every active loudspeaker any of ``rows`` may target, in one locked query."""
    village_ids: set[int] = set()
    group_ids: set[int] = set()
    speaker_ids: set[str] = set()
    for row in rows:
        village_ids.update(v.id for v in row.villages)
        for zone in row.zones:
            village_ids.update(v.id for v in zone.villages)
        group_ids.update(g.id for g in row.groups)
        speaker_ids.update(sp.id for sp in row.speakers)
    if not (village_ids or group_ids or speaker_ids):
        return []
    return list(
        s.scalars(
            select(Loudspeaker)
            .where(
                Loudspeaker.revoked_at.is_(None),
                Loudspeaker.village_id.in_(village_ids)
                | Loudspeaker.group_id.in_(group_ids)
                | Loudspeaker.id.in_(speaker_ids),
            )
            .options(selectinload(Loudspeaker.village))
            .order_by(Loudspeaker.id)
            .with_for_update()
        )
    )


def _targets_of(
    row: Schedule,
    candidates: list[Loudspeaker],
    planned_at: datetime,
    default_quiet: str,
    broadcast_id: int,
) -> list[Loudspeaker]:
    """The loudspeakers of one occurrence; routine broadcasts skip loudspeakers whose
    village is inside its quiet hours."""
    village_ids = {v.id for v in row.villages}
    for zone in row.zones:
        village_ids.update(v.id for v in zone.villages)
    group_ids = {g.id for g in row.groups}
    speaker_ids = {sp.id for sp in row.speakers}
    mine = [
        sp
        for sp in candidates
        if sp.village_id in village_ids or sp.group_id in group_ids or sp.id in speaker_ids
    ]
    if row.priority >= EMERGENCY_PRIORITY:
        return mine
    local = planned_at.astimezone(ZoneInfo(row.timezone)).time()
    quiet = {
        sp.village_id for sp in mine if quiet_hours_of(sp.village, default_quiet).contains(local)
    }
    for vid in sorted(quiet):
        logger.warning("broadcast %s skips village %s: inside its quiet hours", broadcast_id, vid)
    return [sp for sp in mine if sp.village_id not in quiet]


class Outbox:
    """Commands to write in one go: a broadcast to a thousand loudspeakers is a thousand
    rows, inserted and sequenced in two statements instead of a thousand ORM objects (the
    gateway cannot publish before they are committed)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.rows: list[dict[str, object]] = []
        self.seqs: dict[str, Loudspeaker] = {}

    def add(
        self,
        sp: Loudspeaker,
        ctype: str,
        priority: int,
        params: dict[str, object],
        not_before: datetime,
        expires_at: datetime,
        broadcast_id: int | None,
    ) -> None:
        # Each loudspeaker's sequence rises by one per command. The new value is recorded
        # on the loaded object as already stored, written below by one bulk UPDATE.
        set_committed_value(sp, "last_seq", sp.last_seq + 1)
        self.seqs[sp.id] = sp
        self.rows.append(
            {
                "id": str(uuid.uuid4()),
                "broadcast_id": broadcast_id,
                "speaker_id": sp.id,
                "seq": sp.last_seq,
                "type": ctype,
                "priority": priority,
                "params": dict(params),
                "issued_at": self.now,
                "not_before": not_before,
                "expires_at": expires_at,
                "status": CommandStatus.PENDING,
                "attempts": 0,
                "plays": 0,
            }
        )

    def write(self, s: Session) -> None:
        s.flush()  # the broadcasts first (the commands refer to them)
        if not self.rows:
            return
        # In loudspeaker id order, as _candidates locked them: no deadlock with the
        # gateway's bulk state updates on PostgreSQL.
        s.execute(
            update(Loudspeaker),
            [{"id": sid, "last_seq": self.seqs[sid].last_seq} for sid in sorted(self.seqs)],
        )
        s.execute(insert(Command), self.rows)


def cancel_broadcast(
    s: Session, broadcast_id: int, cancelled_by: str, now: datetime, stop_ttl: timedelta
) -> int:
    """Withdraw a broadcast everywhere at once. Returns how many stop commands were issued.

    Commands never published are withdrawn; loudspeakers that have (or may have) the
    play get a signed ``stop`` at the highest priority.
    """
    bc = s.get(Broadcast, broadcast_id)
    if bc is None:
        raise NotFound(f"找不到广播 {broadcast_id}")
    if bc.state == BroadcastState.CANCELLED:
        return 0
    bc.state = BroadcastState.CANCELLED
    bc.cancelled_at = now
    bc.cancelled_by = cancelled_by
    if bc.schedule_id is not None:
        schedule = s.get(Schedule, bc.schedule_id)
        if schedule is not None and schedule.kind == ScheduleKind.ONCE:
            schedule.enabled = False
            schedule.updated_at = now
    plays = s.scalars(
        select(Command).where(Command.broadcast_id == bc.id, Command.type == "play")
    ).all()
    reached: set[str] = set()  # loudspeakers that have (or may have) the play
    for cmd in plays:
        if cmd.status in (CommandStatus.SENT, CommandStatus.ACKED):
            reached.add(cmd.speaker_id)
        if cmd.status in (CommandStatus.PENDING, CommandStatus.SENT, CommandStatus.ACKED):
            cmd.status = CommandStatus.CANCELLED
            cmd.outcome = "cancelled"
    outbox = Outbox(now)
    if reached:
        params: dict[str, object] = {"broadcast_id": bc.id}
        for sp in s.scalars(
            select(Loudspeaker)
            .where(Loudspeaker.id.in_(reached))
            .order_by(Loudspeaker.id)
            .with_for_update()
        ):
            outbox.add(sp, "stop", 100, params, now, now + stop_ttl, bc.id)
    outbox.write(s)
    stops = len(outbox.rows)
    logger.warning("broadcast %s cancelled by %s: %d stop commands", bc.id, cancelled_by, stops)
    return stops
