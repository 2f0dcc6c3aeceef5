"""The outbox as the gateway sees it, and receipts: events from loudspeakers and the as-run log."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from broadcast.models import (
    Broadcast,
    BroadcastState,
    Command,
    CommandStatus,
    Event,
    Loudspeaker,
)
from broadcast.views import BroadcastView, IncomingEvent, LogRow, OutgoingCommand

logger = logging.getLogger(__name__)

EVENT_KINDS = frozenset(
    {"received", "rejected", "downloaded", "started", "finished", "failed", "preempted", "stopped"}
)
TERMINAL_KINDS = frozenset({"rejected", "finished", "failed", "preempted", "stopped"})
ACK_KINDS = frozenset({"received", "rejected"})


def outgoing(c: Command) -> OutgoingCommand:
    return OutgoingCommand(
        id=c.id,
        speaker_id=c.speaker_id,
        seq=c.seq,
        type=c.type,
        priority=c.priority,
        params=dict(c.params),
        issued_at=c.issued_at,
        not_before=c.not_before,
        expires_at=c.expires_at,
        attempts=c.attempts,
    )


def due_commands(
    s: Session, now: datetime, resend_after: timedelta, limit: int = 500
) -> list[OutgoingCommand]:
    """Commands to publish now: never sent, or sent without a receipt for ``resend_after``.

    Ordered by loudspeaker and sequence, so each loudspeaker sees its sequence rising.
    """
    query = (
        select(Command)
        .where(
            Command.expires_at > now,
            or_(
                Command.status == CommandStatus.PENDING,
                (Command.status == CommandStatus.SENT)
                & (Command.last_sent_at <= now - resend_after),
            ),
        )
        .order_by(Command.speaker_id, Command.seq)
        .limit(limit)
    )
    return [outgoing(c) for c in s.scalars(query)]


def mark_sent(s: Session, command_ids: Sequence[str], now: datetime) -> None:
    for cmd in s.scalars(select(Command).where(Command.id.in_(command_ids))):
        cmd.attempts += 1
        cmd.last_sent_at = now
        if cmd.status == CommandStatus.PENDING:
            cmd.status = CommandStatus.SENT
        if cmd.broadcast is not None and cmd.broadcast.state == BroadcastState.UNPROCESSED:
            cmd.broadcast.state = BroadcastState.WAITING


def expire_commands(s: Session, now: datetime) -> int:
    """Close commands whose expiry passed without a terminal receipt."""
    rows = s.scalars(
        select(Command).where(
            Command.expires_at <= now,
            Command.status.in_([CommandStatus.PENDING, CommandStatus.SENT, CommandStatus.ACKED]),
        )
    ).all()
    touched: set[int] = set()
    for cmd in rows:
        cmd.outcome = cmd.outcome or ("offline" if cmd.status != CommandStatus.ACKED else "timeout")
        cmd.status = CommandStatus.EXPIRED
        if cmd.broadcast_id is not None:
            touched.add(cmd.broadcast_id)
    for bid in touched:
        _settle_broadcast(s, bid)
    return len(rows)


def record_event(s: Session, ev: IncomingEvent, now: datetime) -> bool:
    """Record a verified event once per (command, kind). Returns False for duplicates/unknowns."""
    if ev.kind not in EVENT_KINDS:
        logger.warning("unknown event kind %r from %s", ev.kind, ev.speaker_id)
        return False
    cmd = s.get(Command, ev.command_id)
    if cmd is None or cmd.speaker_id != ev.speaker_id:
        logger.warning("event for unknown command %s from %s", ev.command_id, ev.speaker_id)
        return False
    dup = s.scalar(select(Event.id).where(Event.command_id == ev.command_id, Event.kind == ev.kind))
    if dup is not None:
        return False
    s.add(
        Event(
            command_id=ev.command_id,
            speaker_id=ev.speaker_id,
            kind=ev.kind,
            at=ev.at,
            received_at=now,
            details=dict(ev.details),
        )
    )
    if ev.kind in TERMINAL_KINDS:
        cmd.status = CommandStatus.DONE
        cmd.outcome = ev.kind
    elif cmd.status in (CommandStatus.PENDING, CommandStatus.SENT):
        cmd.status = CommandStatus.ACKED
        if ev.kind == "started":
            cmd.outcome = "playing"
    elif ev.kind == "started" and cmd.status == CommandStatus.ACKED:
        cmd.outcome = "playing"
    s.flush()
    if cmd.broadcast_id is not None:
        _settle_broadcast(s, cmd.broadcast_id)
    return True


def _settle_broadcast(s: Session, broadcast_id: int) -> None:
    bc = s.get(Broadcast, broadcast_id)
    if bc is None or bc.state == BroadcastState.CANCELLED:
        return
    cmds = s.scalars(
        select(Command).where(Command.broadcast_id == broadcast_id, Command.type == "play")
    ).all()
    if not cmds:
        return
    open_ = [c for c in cmds if c.status not in (CommandStatus.DONE, CommandStatus.EXPIRED)]
    if open_:
        if any(c.outcome == "playing" for c in open_) or any(c.outcome == "finished" for c in cmds):
            bc.state = BroadcastState.PLAYING
        elif bc.state == BroadcastState.UNPROCESSED:
            bc.state = BroadcastState.WAITING
        return
    finished = sum(1 for c in cmds if c.outcome == "finished")
    bc.state = BroadcastState.SUCCEEDED if finished else BroadcastState.FAILED


def playback_log(
    s: Session,
    since: datetime | None = None,
    broadcast_id: int | None = None,
    limit: int = 500,
) -> list[LogRow]:
    query = (
        select(Command)
        .where(Command.type == "play")
        .join(Broadcast, Command.broadcast_id == Broadcast.id)
        .options(
            selectinload(Command.speaker).selectinload(Loudspeaker.village),
            selectinload(Command.broadcast).selectinload(Broadcast.notice),
        )
        .order_by(Broadcast.planned_at.desc(), Command.speaker_id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(Broadcast.planned_at >= since)
    if broadcast_id is not None:
        query = query.where(Broadcast.id == broadcast_id)
    cmds = s.scalars(query).all()
    events: dict[str, dict[str, Event]] = {}
    if cmds:
        for ev in s.scalars(select(Event).where(Event.command_id.in_([c.id for c in cmds]))):
            events.setdefault(ev.command_id, {})[ev.kind] = ev
    rows = []
    for c in cmds:
        bc = c.broadcast
        assert bc is not None
        evs = events.get(c.id, {})
        detail = ""
        for kind in ("rejected", "failed"):
            if kind in evs:
                detail = str(evs[kind].details.get("reason", ""))
        rows.append(
            LogRow(
                broadcast_id=bc.id,
                command_id=c.id,
                notice_id=bc.notice_id,
                notice_title=bc.notice.title,
                village_name=c.speaker.village.name,
                speaker_id=c.speaker_id,
                planned_at=bc.planned_at,
                status=str(c.status),
                outcome=c.outcome,
                received_at=evs["received"].at if "received" in evs else None,
                started_at=evs["started"].at if "started" in evs else None,
                finished_at=evs["finished"].at if "finished" in evs else None,
                detail=detail,
                drill=bc.drill,
            )
        )
    return rows


def list_broadcasts(
    s: Session, limit: int = 100, broadcast_id: int | None = None
) -> list[BroadcastView]:
    query = (
        select(Broadcast)
        .options(selectinload(Broadcast.notice), selectinload(Broadcast.commands))
        .order_by(Broadcast.planned_at.desc())
        .limit(limit)
    )
    if broadcast_id is not None:
        query = query.where(Broadcast.id == broadcast_id)
    bcs = s.scalars(query).all()
    views = []
    for b in bcs:
        plays = [c for c in b.commands if c.type == "play"]
        views.append(
            BroadcastView(
                id=b.id,
                notice_id=b.notice_id,
                notice_title=b.notice.title,
                schedule_id=b.schedule_id,
                planned_at=b.planned_at,
                state=b.state,
                targeted=len(plays),
                finished=sum(1 for c in plays if c.outcome == "finished"),
                priority=b.priority,
                missed=b.missed,
                drill=b.drill,
                severity=b.severity,
                event_type=b.event_type,
                cancelled_at=b.cancelled_at,
            )
        )
    return views
