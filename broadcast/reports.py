"""Reports over the as-run log: per town and village for a day or a month, coverage over
time, and what a village heard (the public listen-again page)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from broadcast.asrun import Coverage, day_bounds
from broadcast.errors import ValidationFailed
from broadcast.models import (
    EMERGENCY_PRIORITY,
    Area,
    Broadcast,
    Command,
    Loudspeaker,
    Notice,
    Village,
)

FAILED_OUTCOMES = ("failed", "rejected", "offline", "timeout")
NO_TOWN = "未分配乡镇"
PUBLIC_DAYS = 30


@dataclass
class Tally:
    """What a place heard in a period."""

    broadcasts: int = 0
    on_air_ms: int = 0  # measured: first start to last end of each broadcast, summed
    targeted: int = 0
    finished: int = 0
    failures: int = 0

    @property
    def coverage(self) -> Coverage:
        return Coverage(self.targeted, self.finished)

    @property
    def minutes_on_air(self) -> float:
        return self.on_air_ms / 60_000


@dataclass
class VillageTally:
    village_id: int
    village_name: str
    tally: Tally = field(default_factory=Tally)


@dataclass
class TownReport:
    town_id: int | None
    town_name: str
    tally: Tally = field(default_factory=Tally)
    villages: list[VillageTally] = field(default_factory=list)


@dataclass(frozen=True)
class PeriodReport:
    first: date
    last: date
    towns: list[TownReport]
    total: Tally
    daily: list[tuple[date, Coverage]]


def month_range(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def _span(starts: datetime | None, ends: datetime | None) -> int:
    if starts is None or ends is None or ends <= starts:
        return 0
    return int((ends - starts).total_seconds() * 1000)


Span = tuple[datetime | None, datetime | None]


def _widen(span: Span | None, began: datetime | None, ended: datetime | None) -> Span:
    """The earliest start and the latest end of ``span`` and one more part."""
    if span is None:
        return began, ended
    a, b = span
    if began is not None and (a is None or began < a):
        a = began
    if ended is not None and (b is None or ended > b):
        b = ended
    return a, b


def period_report(
    s: Session,
    first: date,
    last: date,
    zone: ZoneInfo,
    village_ids: Collection[int] | None = None,
) -> PeriodReport:
    """Per town and village: broadcasts, minutes on air, coverage and failures."""
    if first > last:
        raise ValidationFailed("开始日期不能晚于结束日期", "end")
    if (last - first).days > 366:
        raise ValidationFailed("报表范围最长一年", "end")
    start, end = day_bounds(first, last, zone)
    finished = func.sum(case((Command.outcome == "finished", 1), else_=0))
    failed = func.sum(case((Command.outcome.in_(FAILED_OUTCOMES), 1), else_=0))
    query = (
        select(
            Command.broadcast_id,
            Loudspeaker.village_id,
            func.count(),
            finished,
            failed,
            func.min(Command.started_at),
            func.max(Command.ended_at),
            Broadcast.planned_at,
        )
        .select_from(Command)
        .join(Broadcast, Broadcast.id == Command.broadcast_id)
        .join(Loudspeaker, Loudspeaker.id == Command.speaker_id)
        .where(
            Command.type == "play",
            Broadcast.planned_at >= start,
            Broadcast.planned_at < end,
        )
        .group_by(Command.broadcast_id, Loudspeaker.village_id, Broadcast.planned_at)
    )
    if village_ids is not None:
        query = query.where(Loudspeaker.village_id.in_(list(village_ids)))
    villages = {
        v.id: (v, town)
        for v, town in s.execute(
            select(Village, Area.name).outerjoin(Area, Area.id == Village.town_id)
        )
    }
    towns: dict[int | None, TownReport] = {}
    by_village: dict[int, VillageTally] = {}
    # (town, broadcast) -> first start, last end: one broadcast counts once in a town.
    town_spans: dict[tuple[int | None, int], Span] = {}
    total = Tally()
    total_spans: dict[int, Span] = {}
    daily: dict[date, list[int]] = {}
    seen: dict[int | None, set[int]] = {}
    for bid, vid, n, done, bad, began, ended, planned in s.execute(query):
        village, town_name = villages[vid]
        town = towns.setdefault(village.town_id, TownReport(village.town_id, town_name or NO_TOWN))
        vt = by_village.get(vid)
        if vt is None:
            vt = by_village[vid] = VillageTally(vid, village.name)
            town.villages.append(vt)
        done, bad = int(done or 0), int(bad or 0)
        for tally in (vt.tally, town.tally, total):
            tally.targeted += n
            tally.finished += done
            tally.failures += bad
        vt.tally.broadcasts += 1
        vt.tally.on_air_ms += _span(began, ended)
        if bid not in seen.setdefault(village.town_id, set()):
            seen[village.town_id].add(bid)
            town.tally.broadcasts += 1
        key = (village.town_id, bid)
        town_spans[key] = _widen(town_spans.get(key), began, ended)
        total_spans[bid] = _widen(total_spans.get(bid), began, ended)
        counts = daily.setdefault(planned.astimezone(zone).date(), [0, 0])
        counts[0] += n
        counts[1] += done
    for (town_id, _bid), (a, b) in town_spans.items():
        towns[town_id].tally.on_air_ms += _span(a, b)
    total.broadcasts = len(total_spans)
    total.on_air_ms = sum(_span(a, b) for a, b in total_spans.values())
    ordered = sorted(towns.values(), key=lambda t: (t.town_id is None, t.town_name))
    for town in ordered:
        town.villages.sort(key=lambda v: v.village_name)
    series = []
    day = first
    while day <= last:
        targeted, done = daily.get(day, (0, 0))
        series.append((day, Coverage(targeted, done)))
        day += timedelta(days=1)
    return PeriodReport(first, last, ordered, total, series)


@dataclass(frozen=True)
class PublicBroadcast:
    """What a village heard: nothing internal (no loudspeakers, no staff, no commands)."""

    broadcast_id: int
    title: str
    body: str
    at: datetime
    audio_sha256: str  # the audio the loudspeakers were sent
    notice_audio_sha256: str  # the notice's audio now (differs if it was re-rendered since)
    duration_ms: int
    drill: bool
    emergency: bool


def village_heard(
    s: Session, village_id: int, now: datetime, days: int = PUBLIC_DAYS
) -> list[PublicBroadcast]:
    """Broadcasts that started on at least one loudspeaker of the village, newest first."""
    since = now - timedelta(days=days)
    started = func.min(Command.started_at)
    query = (
        select(Broadcast, Notice, started)
        .select_from(Command)
        .join(Broadcast, Broadcast.id == Command.broadcast_id)
        .join(Notice, Notice.id == Broadcast.notice_id)
        .join(Loudspeaker, Loudspeaker.id == Command.speaker_id)
        .where(
            Command.type == "play",
            Loudspeaker.village_id == village_id,
            Command.started_at.is_not(None),
            Broadcast.planned_at >= since,
            Broadcast.planned_at <= now,
        )
        .group_by(Broadcast.id, Notice.id)
        .order_by(Broadcast.planned_at.desc())
    )
    found = s.execute(query).all()
    sent: dict[int, str] = {}
    if found:
        for bid, params in s.execute(
            select(Command.broadcast_id, Command.params)
            .join(Loudspeaker, Loudspeaker.id == Command.speaker_id)
            .where(
                Command.broadcast_id.in_([bc.id for bc, _n, _s in found]),
                Command.type == "play",
                Loudspeaker.village_id == village_id,
            )
        ):
            sha = params.get("audio_sha256")
            if isinstance(sha, str):
                sent.setdefault(bid, sha)
    out = []
    for bc, notice, first_start in found:
        out.append(
            PublicBroadcast(
                broadcast_id=bc.id,
                title=notice.title,
                body=notice.body,
                at=first_start or bc.planned_at,
                audio_sha256=sent.get(bc.id, notice.audio_sha256),
                notice_audio_sha256=notice.audio_sha256,
                duration_ms=notice.audio_duration_ms,
                drill=bc.drill,
                emergency=bc.priority >= EMERGENCY_PRIORITY,
            )
        )
    return out
