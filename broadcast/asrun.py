"""The as-run log: each loudspeaker's part in each broadcast, filtered, paged and exported.

Every query takes ``village_ids``: None for all villages, else only loudspeakers of those
villages are seen (an account's scope). Dates in filters are local calendar dates.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from broadcast.errors import NotFound, ValidationFailed
from broadcast.models import (
    Broadcast,
    BroadcastState,
    Command,
    CommandStatus,
    Loudspeaker,
    Notice,
    Village,
)

if TYPE_CHECKING:
    Query: TypeAlias = Select[*tuple[Any, ...]]

# Each loudspeaker's outcome in a broadcast, as the log shows and filters it.
OUTCOMES = (
    "waiting",  # command not yet answered (not sent, or sent without a receipt)
    "received",
    "started",
    "finished",
    "failed",
    "rejected",
    "offline",  # never answered before the command expired
    "timeout",  # answered, but no final receipt before expiry
    "preempted",
    "stopped",
    "cancelled",
    "revoked",
)
# Outcomes that no longer change (a late receipt aside): the loudspeaker's part is over.
SETTLED = frozenset(OUTCOMES) - {"waiting", "received", "started"}
MAX_DAYS = 366
OPEN_STATES = frozenset(
    {BroadcastState.UNPROCESSED, BroadcastState.WAITING, BroadcastState.PLAYING}
)


def outcome_of(status: str, outcome: str | None) -> str:
    """The log's outcome for a command's status and recorded outcome."""
    if outcome == "playing":
        return "started"
    if outcome:
        return outcome
    if status == CommandStatus.ACKED:
        return "received"
    if status == CommandStatus.CANCELLED:
        return "cancelled"
    if status == CommandStatus.EXPIRED:
        return "offline"
    return "waiting"


def outcome_condition(outcome: str) -> ColumnElement[bool]:
    """SQL for "this command's outcome is ``outcome``" (see ``outcome_of``)."""
    if outcome == "started":
        return Command.outcome == "playing"
    if outcome == "received":
        return and_(Command.outcome.is_(None), Command.status == CommandStatus.ACKED)
    if outcome == "waiting":
        return and_(
            Command.outcome.is_(None),
            Command.status.in_([CommandStatus.PENDING, CommandStatus.SENT]),
        )
    return Command.outcome == outcome


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start of ``first``, start of the day after ``last``) in ``zone``, as aware datetimes."""
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    return start, end


@dataclass(frozen=True)
class LogFilter:
    """What the log shows: local dates (inclusive), a village, a notice, an outcome."""

    start: date | None = None
    end: date | None = None
    village_id: int | None = None
    notice_id: int | None = None
    outcome: str | None = None
    broadcast_id: int | None = None

    def check(self) -> LogFilter:
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValidationFailed(f"未知的播放结果：{self.outcome}", "outcome")
        if self.start and self.end:
            if self.start > self.end:
                raise ValidationFailed("开始日期不能晚于结束日期", "end")
            if (self.end - self.start).days >= MAX_DAYS:
                raise ValidationFailed("日期范围最长一年", "end")
        return self

    @property
    def narrows_rows(self) -> bool:
        """Whether loudspeaker rows (not only broadcasts) are filtered."""
        return self.village_id is not None or self.outcome is not None

    def as_args(self) -> dict[str, str]:
        """The filter as query-string arguments (for links that keep it)."""
        out: dict[str, str] = {}
        for name in ("start", "end", "village_id", "notice_id", "outcome", "broadcast_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat() if isinstance(value, date) else str(value)
        return out


class AsRunRow(NamedTuple):
    """One loudspeaker's part in one broadcast (a tuple: exports make 100,000 of them)."""

    broadcast_id: int
    planned_at: datetime
    notice_id: int
    notice_title: str
    drill: bool
    priority: int
    state: int
    village_id: int
    village_name: str
    speaker_id: str
    speaker_name: str
    status: str  # the command's status (see broadcast.models.CommandStatus)
    outcome: str
    reason: str
    plays: int
    received_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class Coverage:
    """Loudspeakers that finished ÷ loudspeakers targeted, and those that did not."""

    targeted: int
    finished: int
    missing: tuple[str, ...] = ()

    @property
    def ratio(self) -> float | None:
        return self.finished / self.targeted if self.targeted else None


@dataclass(frozen=True)
class BroadcastSummary:
    id: int
    notice_id: int
    notice_title: str
    planned_at: datetime
    expires_at: datetime
    priority: int
    state: int
    missed: bool
    drill: bool
    severity: int | None
    event_type: str | None
    cancelled_at: datetime | None
    audio_duration_ms: int
    targeted: int = 0
    finished: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # by outcome
    rows: list[AsRunRow] = field(default_factory=list)
    shown_of: int = 0  # rows matching the filter (``rows`` may hold only the first few)

    @property
    def coverage(self) -> Coverage:
        return Coverage(self.targeted, self.finished)

    @property
    def open(self) -> bool:
        """Whether it may still play somewhere (so it can be stopped)."""
        return self.state in OPEN_STATES and not self.missed


@dataclass(frozen=True)
class VillageCoverage:
    village_id: int
    village_name: str
    coverage: Coverage


@dataclass(frozen=True)
class BroadcastDetail:
    summary: BroadcastSummary
    villages: list[VillageCoverage]


@dataclass(frozen=True)
class LogPage:
    broadcasts: list[BroadcastSummary]
    page: int
    has_next: bool


def _plays() -> Query:
    return (
        select()
        .select_from(Command)
        .join(Loudspeaker, Loudspeaker.id == Command.speaker_id)
        .where(Command.type == "play")
    )


def _scoped(query: Query, f: LogFilter, village_ids: Collection[int] | None) -> Query:
    """Restrict play commands to the filter's village and outcome and to the scope."""
    if village_ids is not None:
        query = query.where(Loudspeaker.village_id.in_(list(village_ids)))
    if f.village_id is not None:
        query = query.where(Loudspeaker.village_id == f.village_id)
    if f.outcome is not None:
        query = query.where(outcome_condition(f.outcome))
    return query


def _broadcast_ids(
    s: Session,
    f: LogFilter,
    zone: ZoneInfo,
    village_ids: Collection[int] | None,
    offset: int,
    limit: int,
) -> list[int]:
    query = select(Broadcast.id).order_by(Broadcast.planned_at.desc(), Broadcast.id.desc())
    query = _broadcast_where(query, f, zone)
    if f.narrows_rows or village_ids is not None:
        inner = _scoped(_plays().add_columns(Command.id), f, village_ids)
        query = query.where(inner.where(Command.broadcast_id == Broadcast.id).exists())
    return list(s.scalars(query.offset(offset).limit(limit)))


def _broadcast_where(query: Query, f: LogFilter, zone: ZoneInfo) -> Query:
    if f.start is not None:
        query = query.where(Broadcast.planned_at >= day_bounds(f.start, f.start, zone)[0])
    if f.end is not None:
        query = query.where(Broadcast.planned_at < day_bounds(f.end, f.end, zone)[1])
    if f.notice_id is not None:
        query = query.where(Broadcast.notice_id == f.notice_id)
    if f.broadcast_id is not None:
        query = query.where(Broadcast.id == f.broadcast_id)
    return query


_ROW_COLUMNS = (
    Broadcast.id,
    Broadcast.planned_at,
    Broadcast.notice_id,
    Notice.title,
    Broadcast.drill,
    Broadcast.priority,
    Broadcast.state,
    Loudspeaker.village_id,
    Village.name,
    Command.speaker_id,
    Loudspeaker.name,
    Command.status,
    Command.outcome,
    Command.reason,
    Command.plays,
    Command.received_at,
    Command.started_at,
    Command.ended_at,
)


def _row(values: Any) -> AsRunRow:
    (bid, planned, nid, title, drill, prio, state, vid, vname, sid, sname) = values[:11]
    (status, outcome, reason, plays, received, started, ended) = values[11:18]
    return AsRunRow(
        broadcast_id=bid,
        planned_at=planned,
        notice_id=nid,
        notice_title=title,
        drill=bool(drill),
        priority=prio,
        state=state,
        village_id=vid,
        village_name=vname,
        speaker_id=sid,
        speaker_name=sname or "",
        status=str(status),
        outcome=outcome_of(status, outcome),
        reason=reason or "",
        plays=plays or 0,
        received_at=received,
        started_at=started,
        ended_at=ended,
    )


def _row_query() -> Query:
    return (
        select(*_ROW_COLUMNS)
        .select_from(Command)
        .join(Broadcast, Broadcast.id == Command.broadcast_id)
        .join(Notice, Notice.id == Broadcast.notice_id)
        .join(Loudspeaker, Loudspeaker.id == Command.speaker_id)
        .join(Village, Village.id == Loudspeaker.village_id)
        .where(Command.type == "play")
    )


def _summaries(
    s: Session,
    ids: list[int],
    f: LogFilter,
    village_ids: Collection[int] | None,
    rows_each: int | None,
) -> list[BroadcastSummary]:
    if not ids:
        return []
    heads = s.execute(
        select(Broadcast, Notice.title, Notice.audio_duration_ms)
        .join(Notice, Notice.id == Broadcast.notice_id)
        .where(Broadcast.id.in_(ids))
    ).all()
    # Coverage counts the filter's village (and the scope), not the outcome filter.
    village_only = LogFilter(village_id=f.village_id)
    counts: dict[int, dict[str, int]] = {bid: {} for bid in ids}
    for bid, status, outcome, n in s.execute(
        _scoped(_plays(), village_only, village_ids)
        .add_columns(Command.broadcast_id, Command.status, Command.outcome, func.count())
        .where(Command.broadcast_id.in_(ids))
        .group_by(Command.broadcast_id, Command.status, Command.outcome)
    ):
        key = outcome_of(status, outcome)
        counts[bid][key] = counts[bid].get(key, 0) + n
    rows: dict[int, list[AsRunRow]] = {bid: [] for bid in ids}
    query = _scoped(_row_query(), f, village_ids).where(Command.broadcast_id.in_(ids))
    if rows_each is None:
        query = query.order_by(Broadcast.id, Village.code, Command.speaker_id)
        for values in s.execute(query):
            rows[values[0]].append(_row(values))
    else:
        rank = (
            func.row_number()
            .over(partition_by=Command.broadcast_id, order_by=(Village.code, Command.speaker_id))
            .label("rank")
        )
        inner = query.add_columns(rank).subquery()
        ranked = select(*inner.c).where(inner.c.rank <= rows_each)
        for values in s.execute(ranked.order_by(inner.c.rank)):
            rows[values[0]].append(_row(values))
    matching = counts
    if f.outcome is not None:
        matching = {bid: {f.outcome: c.get(f.outcome, 0)} for bid, c in counts.items()}
    out = {}
    for bc, title, duration_ms in heads:
        by_outcome = counts[bc.id]
        out[bc.id] = BroadcastSummary(
            id=bc.id,
            notice_id=bc.notice_id,
            notice_title=title,
            planned_at=bc.planned_at,
            expires_at=bc.expires_at,
            priority=bc.priority,
            state=bc.state,
            missed=bc.missed,
            drill=bc.drill,
            severity=bc.severity,
            event_type=bc.event_type,
            cancelled_at=bc.cancelled_at,
            audio_duration_ms=duration_ms,
            targeted=sum(by_outcome.values()),
            finished=by_outcome.get("finished", 0),
            counts=by_outcome,
            rows=rows[bc.id],
            shown_of=sum(matching[bc.id].values()),
        )
    return [out[bid] for bid in ids if bid in out]


def log_page(
    s: Session,
    f: LogFilter,
    zone: ZoneInfo,
    village_ids: Collection[int] | None = None,
    page: int = 0,
    per_page: int = 20,
    rows_each: int = 12,
) -> LogPage:
    """One page of broadcasts (newest first), each with its first ``rows_each`` rows."""
    f.check()
    page = max(page, 0)
    ids = _broadcast_ids(s, f, zone, village_ids, page * per_page, per_page + 1)
    has_next = len(ids) > per_page
    ids = ids[:per_page]
    return LogPage(_summaries(s, ids, f, village_ids, rows_each), page, has_next)


def broadcast_detail(
    s: Session, broadcast_id: int, village_ids: Collection[int] | None = None
) -> BroadcastDetail:
    """A broadcast with every loudspeaker's part and its coverage per village."""
    f = LogFilter(broadcast_id=broadcast_id)
    found = _summaries(s, [broadcast_id], f, village_ids, None)
    if not found or (village_ids is not None and not found[0].targeted):
        raise NotFound(f"找不到广播 {broadcast_id}")
    summary = found[0]
    villages: dict[int, tuple[str, int, int, list[str]]] = {}
    for row in summary.rows:
        name, targeted, finished, missing = villages.get(
            row.village_id, (row.village_name, 0, 0, [])
        )
        if row.outcome == "finished":
            finished += 1
        else:
            missing.append(row.speaker_id)
        villages[row.village_id] = (name, targeted + 1, finished, missing)
    return BroadcastDetail(
        summary,
        [
            VillageCoverage(vid, name, Coverage(targeted, finished, tuple(missing)))
            for vid, (name, targeted, finished, missing) in villages.items()
        ],
    )


def count_rows(
    s: Session, f: LogFilter, zone: ZoneInfo, village_ids: Collection[int] | None = None
) -> int:
    f.check()
    query = _broadcast_where(
        _scoped(_plays(), f, village_ids)
        .add_columns(func.count())
        .join(Broadcast, Broadcast.id == Command.broadcast_id),
        f,
        zone,
    )
    return int(s.execute(query).scalar_one())


def iter_rows(
    s: Session,
    f: LogFilter,
    zone: ZoneInfo,
    village_ids: Collection[int] | None = None,
    batch: int = 2000,
) -> Iterator[AsRunRow]:
    """Every row matching the filter, newest broadcast first, fetched ``batch`` at a time."""
    f.check()
    # Each broadcast's time is read once, not with each of its rows.
    heads = _broadcast_where(select(Broadcast.id, Broadcast.planned_at), f, zone)
    planned = {bid: at for bid, at in s.execute(heads)}
    columns = [c for c in _ROW_COLUMNS if c is not Broadcast.planned_at]
    query = (
        _broadcast_where(_scoped(_row_query().with_only_columns(*columns), f, village_ids), f, zone)
        .order_by(
            Broadcast.planned_at.desc(), Broadcast.id.desc(), Village.code, Command.speaker_id
        )
        .execution_options(yield_per=batch)
    )
    for values in s.connection().execute(query):
        yield _row((values[0], planned[values[0]], *values[1:]))
