"""The outbox as the gateway sees it, and receipts: events from loudspeakers and the as-run log."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload

from broadcast.models import (
    Broadcast,
    BroadcastState,
    Command,
    CommandStatus,
    Event,
    Loudspeaker,
    Notice,
    Village,
)
from broadcast.views import BroadcastView, IncomingEvent, LogRow, OutgoingCommand

logger = logging.getLogger(__name__)

EVENT_KINDS = frozenset(
    {"received", "rejected", "downloaded", "started", "finished", "failed", "preempted", "stopped"}
)
TERMINAL_KINDS = frozenset({"rejected", "finished", "failed", "preempted", "stopped"})
ACK_KINDS = frozenset({"received", "rejected"})
EMPTY_LOOKBACK = timedelta(days=2)


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
        select(*(getattr(Command, f.name) for f in fields(OutgoingCommand)))
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
    # Columns, not ORM objects: a broadcast to a thousand loudspeakers is read in one go.
    due = [OutgoingCommand(*row) for row in s.execute(query)]
    due += _unsettled(s, now, resend_after, limit)
    due.sort(key=lambda c: (c.speaker_id, c.seq))
    return due


def _unsettled(
    s: Session, now: datetime, resend_after: timedelta, limit: int
) -> list[OutgoingCommand]:
    """Acknowledged commands with no final receipt well after they should have ended.

    Re-sending one asks the loudspeaker what became of it: it never acts on a command
    twice, and answers a copy with every receipt it sent for it, so receipts lost on the
    way (a broker crash) still reach the log.
    """
    rows = s.scalars(
        select(Command)
        .where(
            Command.expires_at > now,
            Command.status == CommandStatus.ACKED,
            Command.last_sent_at <= now - resend_after,
            Command.not_before <= now - resend_after,
        )
        .order_by(Command.last_sent_at)
        .limit(limit)
    )
    out = []
    for c in rows:
        playing_ms = int(c.params.get("duration_ms", 0)) * int(c.params.get("repeat", 1))
        ended = c.not_before + timedelta(milliseconds=playing_ms) + resend_after <= now
        if ended or c.outcome in TERMINAL_KINDS:  # over, or over with receipts missing
            out.append(outgoing(c))
    return out


def mark_sent(s: Session, command_ids: Sequence[str], now: datetime) -> None:
    # Conditional UPDATEs, not read-modify-write: a receipt or a revocation committed
    # between the publish and this call must not be overwritten with "sent".
    ids = list(command_ids)
    no_sync = {"synchronize_session": False}
    s.execute(
        update(Command)
        .where(Command.id.in_(ids))
        .values(attempts=Command.attempts + 1, last_sent_at=now),
        execution_options=no_sync,
    )
    s.execute(
        update(Command)
        .where(Command.id.in_(ids), Command.status == CommandStatus.PENDING)
        .values(status=CommandStatus.SENT),
        execution_options=no_sync,
    )
    s.execute(
        update(Broadcast)
        .where(
            Broadcast.id.in_(select(Command.broadcast_id).where(Command.id.in_(ids))),
            Broadcast.state == BroadcastState.UNPROCESSED,
        )
        .values(state=BroadcastState.WAITING),
        execution_options=no_sync,
    )


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
        if cmd.outcome in (None, "playing"):
            # Never answered: offline. Answered (even started) but no final receipt: timeout.
            cmd.outcome = "offline" if cmd.status != CommandStatus.ACKED else "timeout"
        cmd.status = CommandStatus.EXPIRED
        if cmd.broadcast_id is not None:
            touched.add(cmd.broadcast_id)
    for bid in touched:
        _settle_broadcast(s, bid)
    _fail_empty(s, now)
    return len(rows)


def _fail_empty(s: Session, now: datetime) -> None:
    """A broadcast that had no loudspeaker to play on failed once its window is over.

    Runs on every expiry pass, so only recent broadcasts are looked at (by planned time,
    which is indexed); validity windows are minutes to hours long."""
    plays = select(Command.id).where(Command.broadcast_id == Broadcast.id, Command.type == "play")
    s.execute(
        update(Broadcast)
        .where(
            Broadcast.planned_at >= now - EMPTY_LOOKBACK,
            Broadcast.expires_at <= now,
            Broadcast.state.in_([BroadcastState.UNPROCESSED, BroadcastState.WAITING]),
            ~plays.exists(),
        )
        .values(state=BroadcastState.FAILED),
        execution_options={"synchronize_session": False},
    )


def record_event(s: Session, ev: IncomingEvent, now: datetime) -> bool:
    """Record a verified event once per (command, kind). Returns False for duplicates/unknowns."""
    return record_events(s, [ev], now) == 1


@dataclass
class _Receipted:
    """The columns of a command that its receipts read and change, loaded without the ORM
    (a burst of receipts from a thousand loudspeakers is one SELECT and one UPDATE)."""

    id: str
    speaker_id: str
    broadcast_id: int | None
    expires_at: datetime
    params: dict[str, Any]
    status: str
    outcome: str | None
    received_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    reason: str | None
    plays: int

    def changes(self) -> dict[str, Any]:
        return {"id": self.id, **{k: getattr(self, k) for k in _RECEIPTED_WRITES}}


_RECEIPTED_WRITES = (
    "status",
    "outcome",
    "received_at",
    "started_at",
    "ended_at",
    "reason",
    "plays",
)


def record_events(s: Session, events: Sequence[IncomingEvent], now: datetime) -> int:
    """Record a burst of verified events, each (command, kind) once, in three queries and
    two bulk writes; settle each broadcast touched once. Returns how many were new."""
    ids = {ev.command_id for ev in events}
    cmds = {
        row.id: _Receipted(*row)
        for row in s.execute(
            select(*(getattr(Command, f.name) for f in fields(_Receipted))).where(
                Command.id.in_(ids)
            )
        )
    }
    seen: dict[str, set[str]] = {}
    for cid, kind in s.execute(
        select(Event.command_id, Event.kind).where(Event.command_id.in_(ids))
    ):
        seen.setdefault(cid, set()).add(kind)
    expected: dict[str, int] = {}  # receipts announced by a final event in this burst
    touched: set[int] = set()
    changed: set[str] = set()
    rows: list[dict[str, Any]] = []
    for ev in events:
        cmd = cmds.get(ev.command_id)
        if not _acceptable(ev, cmd):
            continue
        assert cmd is not None
        kinds = seen.setdefault(cmd.id, set())
        if ev.kind in kinds:
            continue
        kinds.add(ev.kind)
        rows.append(
            {
                "command_id": ev.command_id,
                "speaker_id": ev.speaker_id,
                "kind": ev.kind,
                "at": ev.at,
                "received_at": now,
                "details": dict(ev.details),
            }
        )
        _apply(cmd, ev.kind)
        _note(cmd, ev)
        if ev.kind in TERMINAL_KINDS and isinstance(ev.details.get("receipts"), int):
            expected[cmd.id] = int(ev.details["receipts"])
        changed.add(cmd.id)
        if cmd.broadcast_id is not None:
            touched.add(cmd.broadcast_id)
    if not rows:
        return 0
    s.execute(insert(Event), rows)
    for cid in changed:
        cmd, kinds = cmds[cid], seen[cid]
        if cmd.outcome in TERMINAL_KINDS and cmd.expires_at > now:
            # The final receipt says how many receipts were sent; until all are here the
            # command stays open, so the gateway's resend asks the loudspeaker again.
            want = expected.get(cid)
            if want is None:
                want = _announced_receipts(s, cid)
            cmd.status = CommandStatus.DONE if len(kinds) >= want else CommandStatus.ACKED
    s.execute(update(Command), [cmds[cid].changes() for cid in sorted(changed)])
    for bid in touched:
        _settle_broadcast(s, bid)
    return len(rows)


def _acceptable(ev: IncomingEvent, cmd: _Receipted | None) -> bool:
    if ev.kind not in EVENT_KINDS:
        logger.warning("unknown event kind %r from %s", ev.kind, ev.speaker_id)
        return False
    if cmd is None or cmd.speaker_id != ev.speaker_id:
        logger.warning("event for unknown command %s from %s", ev.command_id, ev.speaker_id)
        return False
    if ev.kind == "rejected" and ev.details.get("duplicate"):
        # The loudspeaker refused a copy of a command it had accepted: about the copy,
        # not the command, whose own receipts arrive beside it.
        logger.debug("%s refused a copy of command %s", ev.speaker_id, ev.command_id)
        return False
    return True


def _apply(cmd: _Receipted, kind: str) -> None:
    if kind in TERMINAL_KINDS:
        cmd.status = CommandStatus.DONE
        cmd.outcome = kind
    elif cmd.outcome in TERMINAL_KINDS:
        pass  # a receipt that was lost on the way, arriving after the final one
    elif cmd.status in (CommandStatus.PENDING, CommandStatus.SENT):
        cmd.status = CommandStatus.ACKED
        if kind == "started":
            cmd.outcome = "playing"
    elif kind == "started" and cmd.status == CommandStatus.ACKED:
        cmd.outcome = "playing"


def _note(cmd: _Receipted, ev: IncomingEvent) -> None:
    """Keep the as-run record on the command: the loudspeaker's times, reason, plays."""
    if ev.kind == "received":
        cmd.received_at = ev.at
    elif ev.kind == "started":
        cmd.started_at = ev.at
    elif ev.kind in TERMINAL_KINDS:
        if cmd.ended_at is None or ev.at < cmd.ended_at:
            cmd.ended_at = ev.at
        if ev.kind in ("failed", "rejected") and ev.details.get("reason"):
            cmd.reason = str(ev.details["reason"])[:64]
        if ev.kind == "finished":
            repeat = ev.details.get("repeat", cmd.params.get("repeat", 1))
            cmd.plays = repeat if isinstance(repeat, int) else 1


def _announced_receipts(s: Session, command_id: str) -> int:
    """How many receipts the final event of a command announced (0 if it did not say)."""
    for details in s.scalars(
        select(Event.details).where(
            Event.command_id == command_id, Event.kind.in_(list(TERMINAL_KINDS))
        )
    ):
        announced = details.get("receipts")
        return announced if isinstance(announced, int) else 0
    return 0


def settle_broadcast(s: Session, broadcast_id: int) -> None:
    """Recompute a broadcast's state from its commands (after commands were closed)."""
    _settle_broadcast(s, broadcast_id)


def _settle_broadcast(s: Session, broadcast_id: int) -> None:
    bc = s.get(Broadcast, broadcast_id)
    if bc is None or bc.state == BroadcastState.CANCELLED:
        return
    # One aggregate query: a broadcast to 1,000 loudspeakers is settled after every burst
    # of receipts, and loading its commands each time cost more than recording them.
    groups = s.execute(
        select(Command.status, Command.outcome, func.count())
        .where(Command.broadcast_id == broadcast_id, Command.type == "play")
        .group_by(Command.status, Command.outcome)
    ).all()
    if not groups:
        return
    closed = (CommandStatus.DONE, CommandStatus.EXPIRED)
    finished = sum(n for _status, outcome, n in groups if outcome == "finished")
    if any(status not in closed for status, _outcome, _n in groups):
        playing = any(
            status not in closed and outcome == "playing" for status, outcome, _n in groups
        )
        if playing or finished:
            bc.state = BroadcastState.PLAYING
        elif bc.state == BroadcastState.UNPROCESSED:
            bc.state = BroadcastState.WAITING
        return
    bc.state = BroadcastState.SUCCEEDED if finished else BroadcastState.FAILED


def playback_log(
    s: Session,
    since: datetime | None = None,
    broadcast_id: int | None = None,
    limit: int = 500,
    village_ids: Collection[int] | None = None,
) -> list[LogRow]:
    """Play commands newest first; ``village_ids`` keeps those to loudspeakers there."""
    query = (
        select(
            Broadcast.id,
            Command.id,
            Broadcast.notice_id,
            Notice.title,
            Village.name,
            Command.speaker_id,
            Broadcast.planned_at,
            Command.status,
            Command.outcome,
            Command.received_at,
            Command.started_at,
            Command.ended_at,
            Command.reason,
            Broadcast.drill,
        )
        .select_from(Command)
        .join(Broadcast, Command.broadcast_id == Broadcast.id)
        .join(Notice, Notice.id == Broadcast.notice_id)
        .join(Loudspeaker, Loudspeaker.id == Command.speaker_id)
        .join(Village, Village.id == Loudspeaker.village_id)
        .where(Command.type == "play")
        .order_by(Broadcast.planned_at.desc(), Command.speaker_id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(Broadcast.planned_at >= since)
    if broadcast_id is not None:
        query = query.where(Broadcast.id == broadcast_id)
    if village_ids is not None:
        query = query.where(Loudspeaker.village_id.in_(village_ids))
    rows = []
    for values in s.execute(query):
        bid, cid, nid, title, village, sid, planned = values[:7]
        status, outcome, rec, st, end, why, drill = values[7:]
        rows.append(
            LogRow(
                broadcast_id=bid,
                command_id=cid,
                notice_id=nid,
                notice_title=title,
                village_name=village,
                speaker_id=sid,
                planned_at=planned,
                status=str(status),
                outcome=outcome,
                received_at=rec,
                started_at=st,
                finished_at=end if outcome == "finished" else None,
                detail=why or "",
                drill=drill,
            )
        )
    return rows


def list_broadcasts(
    s: Session,
    limit: int = 100,
    broadcast_id: int | None = None,
    village_ids: Collection[int] | None = None,
) -> list[BroadcastView]:
    """Broadcasts newest first; ``village_ids`` keeps those that reached a loudspeaker there."""
    query = (
        select(Broadcast)
        .options(selectinload(Broadcast.notice))
        .order_by(Broadcast.planned_at.desc())
        .limit(limit)
    )
    if broadcast_id is not None:
        query = query.where(Broadcast.id == broadcast_id)
    if village_ids is not None:
        query = query.where(Broadcast.id.in_(broadcasts_in(village_ids)))
    bcs = s.scalars(query).all()
    # Counted in the database: a broadcast may have a thousand loudspeakers.
    counts: dict[int, tuple[int, int]] = {}
    if bcs:
        finished = func.sum(case((Command.outcome == "finished", 1), else_=0))
        for bid, targeted, done in s.execute(
            select(Command.broadcast_id, func.count(), finished)
            .where(Command.broadcast_id.in_([b.id for b in bcs]), Command.type == "play")
            .group_by(Command.broadcast_id)
        ):
            counts[bid] = (targeted, int(done or 0))
    views = []
    for b in bcs:
        targeted, done = counts.get(b.id, (0, 0))
        views.append(
            BroadcastView(
                id=b.id,
                notice_id=b.notice_id,
                notice_title=b.notice.title,
                schedule_id=b.schedule_id,
                planned_at=b.planned_at,
                state=b.state,
                targeted=targeted,
                finished=done,
                priority=b.priority,
                missed=b.missed,
                drill=b.drill,
                severity=b.severity,
                event_type=b.event_type,
                cancelled_at=b.cancelled_at,
            )
        )
    return views


def broadcasts_in(village_ids: Collection[int]) -> Select[int | None]:
    """The ids of broadcasts with a play command to a loudspeaker in ``village_ids``."""
    return (
        select(Command.broadcast_id)
        .join(Loudspeaker, Loudspeaker.id == Command.speaker_id)
        .where(Command.type == "play", Loudspeaker.village_id.in_(village_ids))
        .distinct()
    )


def broadcast_village_ids(s: Session, broadcast_id: int) -> set[int]:
    """The villages a broadcast's play commands went to."""
    return set(
        s.scalars(
            select(Loudspeaker.village_id)
            .join(Command, Command.speaker_id == Loudspeaker.id)
            .where(Command.broadcast_id == broadcast_id, Command.type == "play")
            .distinct()
        )
    )
