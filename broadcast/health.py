"""Loudspeaker health: online/offline history, online rate, failures, missed broadcasts."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broadcast.asrun import SETTLED, day_bounds, outcome_of
from broadcast.models import Command, Loudspeaker, SpeakerStatusChange, Village

# Outcomes that count as a loudspeaker's failure to play.
FAILURES = frozenset({"failed", "rejected", "offline", "timeout"})
RECENT_PLAYS = 5
HISTORY_LIMIT = 20

Interval = tuple[datetime, datetime]


def record_availability(s: Session, sp: Loudspeaker, online: bool, now: datetime) -> None:
    """Note a change of availability (call before updating ``sp.online``)."""
    if sp.online != online:
        s.add(SpeakerStatusChange(speaker_id=sp.id, online=online, at=now))


def online_intervals(
    initial: bool, changes: Sequence[tuple[datetime, bool]], start: datetime, end: datetime
) -> list[Interval]:
    """The parts of [start, end) a loudspeaker was online, from its state at ``start`` and
    its changes (time order) inside the window."""
    out: list[Interval] = []
    online, since = initial, start
    for at, now_online in changes:
        at = min(max(at, start), end)
        if online and not now_online:
            if at > since:
                out.append((since, at))
        elif now_online and not online:
            since = at
        online = now_online
    if online and end > since:
        out.append((since, end))
    return out


def overlap_seconds(intervals: Sequence[Interval], start: datetime, end: datetime) -> float:
    total = 0.0
    for a, b in intervals:
        lo, hi = max(a, start), min(b, end)
        if hi > lo:
            total += (hi - lo).total_seconds()
    return total


@dataclass(frozen=True)
class SpeakerHealth:
    id: str
    name: str
    village_id: int
    village_name: str
    online: bool
    last_seen_at: datetime | None
    online_rate: float | None  # share of the window it was online
    offline_episodes: int  # times it went offline in the window
    failures: int  # failed plays in the window
    recent: tuple[str, ...]  # outcomes of its latest plays, newest first
    missed_streak: int  # how many of its latest settled plays in a row did not finish
    history: tuple[tuple[datetime, bool], ...] = ()  # latest changes, newest first


@dataclass(frozen=True)
class HealthReport:
    speakers: list[SpeakerHealth]
    start: datetime
    end: datetime
    daily_online: list[tuple[date, float | None]] = field(default_factory=list)

    @property
    def missing_last(self) -> list[SpeakerHealth]:
        """Loudspeakers whose latest broadcasts did not play, longest streak first."""
        found = [sp for sp in self.speakers if sp.missed_streak]
        return sorted(found, key=lambda sp: (-sp.missed_streak, sp.village_name, sp.id))


def _intervals(
    s: Session, speakers: Sequence[Loudspeaker], start: datetime, end: datetime
) -> dict[str, list[Interval]]:
    ids = [sp.id for sp in speakers]
    before: dict[str, bool] = {}
    last = (
        select(SpeakerStatusChange.speaker_id, func.max(SpeakerStatusChange.at).label("at"))
        .where(SpeakerStatusChange.speaker_id.in_(ids), SpeakerStatusChange.at < start)
        .group_by(SpeakerStatusChange.speaker_id)
        .subquery()
    )
    for sid, online in s.execute(
        select(SpeakerStatusChange.speaker_id, SpeakerStatusChange.online).join(
            last,
            (last.c.speaker_id == SpeakerStatusChange.speaker_id)
            & (last.c.at == SpeakerStatusChange.at),
        )
    ):
        before[sid] = online
    inside: dict[str, list[tuple[datetime, bool]]] = {}
    for sid, at, online in s.execute(
        select(SpeakerStatusChange.speaker_id, SpeakerStatusChange.at, SpeakerStatusChange.online)
        .where(
            SpeakerStatusChange.speaker_id.in_(ids),
            SpeakerStatusChange.at >= start,
            SpeakerStatusChange.at < end,
        )
        .order_by(SpeakerStatusChange.speaker_id, SpeakerStatusChange.at)
    ):
        inside.setdefault(sid, []).append((at, online))
    out = {}
    for sp in speakers:
        changes = inside.get(sp.id, [])
        if sp.id in before:
            initial = before[sp.id]
        elif changes:
            initial = not changes[0][1]  # its first change tells what it was before
        else:
            initial = sp.online  # no history at all: as it is now
        out[sp.id] = online_intervals(initial, changes, max(start, sp.created_at), end)
    return out


def health_report(
    s: Session,
    now: datetime,
    zone: ZoneInfo,
    days: int = 7,
    village_ids: Collection[int] | None = None,
) -> HealthReport:
    """Every active loudspeaker's health over the last ``days`` local days (today included)."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    start = day_bounds(first, first, zone)[0]
    end = now
    query = (
        select(Loudspeaker, Village.name)
        .join(Village, Village.id == Loudspeaker.village_id)
        .where(Loudspeaker.revoked_at.is_(None))
        .order_by(Village.code, Loudspeaker.id)
    )
    if village_ids is not None:
        query = query.where(Loudspeaker.village_id.in_(list(village_ids)))
    rows = s.execute(query).all()
    speakers = [sp for sp, _ in rows]
    intervals = _intervals(s, speakers, start, end)
    episodes = _episodes(s, [sp.id for sp in speakers], start)
    recent = _recent_outcomes(s, [sp.id for sp in speakers], now - timedelta(days=30))
    failures = _failures(s, [sp.id for sp in speakers], start)
    history = _history(s, [sp.id for sp in speakers])
    out = []
    for sp, village_name in rows:
        window = (end - max(start, sp.created_at)).total_seconds()
        rate = overlap_seconds(intervals[sp.id], start, end) / window if window > 0 else None
        outcomes = recent.get(sp.id, [])
        out.append(
            SpeakerHealth(
                id=sp.id,
                name=sp.name,
                village_id=sp.village_id,
                village_name=village_name,
                online=sp.online,
                last_seen_at=sp.last_seen_at,
                online_rate=rate,
                offline_episodes=episodes.get(sp.id, 0),
                failures=failures.get(sp.id, 0),
                recent=tuple(outcomes),
                missed_streak=missed_streak(outcomes),
                history=tuple(history.get(sp.id, [])),
            )
        )
    daily = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        a, b = day_bounds(day, day, zone)
        b = min(b, end)
        online_s, total_s = 0.0, 0.0
        for sp in speakers:
            lo = max(a, sp.created_at)
            if b > lo:
                total_s += (b - lo).total_seconds()
                online_s += overlap_seconds(intervals[sp.id], lo, b)
        daily.append((day, online_s / total_s if total_s else None))
    return HealthReport(out, start, end, daily)


def missed_streak(outcomes: Sequence[str]) -> int:
    """How many of the latest settled plays (newest first) in a row did not finish."""
    streak = 0
    for outcome in outcomes:
        if outcome not in SETTLED or outcome in ("cancelled", "revoked"):
            continue  # still under way, or withdrawn by the server: not the loudspeaker's fault
        if outcome == "finished":
            break
        streak += 1
    return streak


def _episodes(s: Session, ids: list[str], start: datetime) -> dict[str, int]:
    if not ids:
        return {}
    rows = s.execute(
        select(SpeakerStatusChange.speaker_id, func.count())
        .where(
            SpeakerStatusChange.speaker_id.in_(ids),
            SpeakerStatusChange.at >= start,
            SpeakerStatusChange.online.is_(False),
        )
        .group_by(SpeakerStatusChange.speaker_id)
    )
    return {sid: n for sid, n in rows}


def _recent_outcomes(s: Session, ids: list[str], since: datetime) -> dict[str, list[str]]:
    if not ids:
        return {}
    rank = (
        func.row_number()
        .over(partition_by=Command.speaker_id, order_by=Command.not_before.desc())
        .label("rank")
    )
    inner = (
        select(Command.speaker_id, Command.status, Command.outcome, rank)
        .where(
            Command.speaker_id.in_(ids),
            Command.type == "play",
            Command.not_before >= since,
        )
        .subquery()
    )
    out: dict[str, list[str]] = {}
    for sid, status, outcome, _rank in s.execute(
        select(inner).where(inner.c.rank <= RECENT_PLAYS).order_by(inner.c.speaker_id, inner.c.rank)
    ):
        out.setdefault(sid, []).append(outcome_of(status, outcome))
    return out


def _failures(s: Session, ids: list[str], since: datetime) -> dict[str, int]:
    if not ids:
        return {}
    counts: dict[str, int] = {}
    for sid, status, outcome, n in s.execute(
        select(Command.speaker_id, Command.status, Command.outcome, func.count())
        .where(
            Command.speaker_id.in_(ids),
            Command.type == "play",
            Command.not_before >= since,
            Command.outcome.in_(list(FAILURES)),
        )
        .group_by(Command.speaker_id, Command.status, Command.outcome)
    ):
        if outcome_of(status, outcome) in FAILURES:
            counts[sid] = counts.get(sid, 0) + n
    return counts


def _history(s: Session, ids: list[str]) -> dict[str, list[tuple[datetime, bool]]]:
    """The latest status changes of each loudspeaker, newest first."""
    if not ids:
        return {}
    rank = (
        func.row_number()
        .over(partition_by=SpeakerStatusChange.speaker_id, order_by=SpeakerStatusChange.at.desc())
        .label("rank")
    )
    inner = (
        select(SpeakerStatusChange.speaker_id, SpeakerStatusChange.at, SpeakerStatusChange.online)
        .add_columns(rank)
        .where(SpeakerStatusChange.speaker_id.in_(ids))
        .subquery()
    )
    out: dict[str, list[tuple[datetime, bool]]] = {}
    for sid, at, online, _rank in s.execute(
        select(inner).where(inner.c.rank <= HISTORY_LIMIT).order_by(inner.c.rank)
    ):
        out.setdefault(sid, []).append((at, online))
    return out
