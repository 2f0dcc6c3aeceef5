"""Programmes (节目单): ordered items (notices, recordings, the chime, silence) saved as one
reusable programme with a computed total duration.

A programme's audio is assembled when it is saved and stored on its own notice row of kind
``programme``; a schedule plays that notice, so firing, commands, receipts and loudspeakers
need nothing new. Editing a programme assembles it again (broadcasts already sent keep
the audio they were sent with).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from audio import RenderedAudio
from audio.sequence import CHIME_MS, Piece
from broadcast.errors import Conflict, NotFound, ValidationFailed
from broadcast.models import Broadcast, Notice, Programme, ProgrammeItem, Schedule
from broadcast.notices import get_notice

ITEM_KINDS = ("notice", "chime", "silence")
MAX_ITEMS = 50
MAX_NAME = 100
MAX_SILENCE_SECONDS = 600
PROGRAMME_KIND = "programme"


@dataclass(frozen=True)
class ItemRequest:
    kind: str  # notice, chime, silence
    notice_id: int | None = None
    seconds: int | None = None


@dataclass(frozen=True)
class ProgrammeRequest:
    name: str
    items: list[ItemRequest]


@dataclass(frozen=True)
class ItemView:
    kind: str
    notice_id: int | None
    title: str  # the notice's title, 提示音, or 静音 N 秒
    duration_ms: int
    seconds: int | None = None
    notice_kind: str | None = None  # text or recording


@dataclass(frozen=True)
class ProgrammeView:
    id: int
    name: str
    notice_id: int  # schedule this notice to play the programme
    items: list[ItemView]
    total_ms: int  # the items' durations added up
    audio_sha256: str
    audio_duration_ms: int  # measured on the assembled audio
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CheckedItem:
    kind: str
    notice: Notice | None = None
    seconds: int | None = None


def item_title(item: CheckedItem) -> str:
    if item.notice is not None:
        return item.notice.title
    if item.kind == "chime":
        return "提示音"
    return f"静音 {item.seconds} 秒"


def item_ms(item: CheckedItem) -> int:
    if item.notice is not None:
        return item.notice.audio_duration_ms
    if item.kind == "chime":
        return CHIME_MS
    return (item.seconds or 0) * 1000


def check(s: Session, req: ProgrammeRequest, programme_id: int | None = None) -> list[CheckedItem]:
    """Validate a programme; raises ValidationFailed (on its field), NotFound or Conflict."""
    name = req.name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(f"节目单名称须为 1–{MAX_NAME} 个字", "name")
    clash = s.scalar(select(Programme.id).where(Programme.name == name))
    if clash is not None and clash != programme_id:
        raise Conflict(f"节目单“{name}”已存在")
    if not req.items:
        raise ValidationFailed("节目单至少要有一项", "items")
    if len(req.items) > MAX_ITEMS:
        raise ValidationFailed(f"节目单最多 {MAX_ITEMS} 项", "items")
    checked = []
    for n, item in enumerate(req.items, start=1):
        if item.kind == "notice":
            if item.notice_id is None:
                raise ValidationFailed(f"第 {n} 项：请选择通知或录音", "items")
            try:
                notice = get_notice(s, item.notice_id)
            except NotFound:
                raise ValidationFailed(f"第 {n} 项：找不到通知 {item.notice_id}", "items") from None
            if notice.kind == PROGRAMME_KIND:
                raise ValidationFailed(f"第 {n} 项：节目单里不能再放节目单", "items")
            checked.append(CheckedItem("notice", notice=notice))
        elif item.kind == "chime":
            checked.append(CheckedItem("chime"))
        elif item.kind == "silence":
            seconds = item.seconds
            if seconds is None or not 1 <= seconds <= MAX_SILENCE_SECONDS:
                raise ValidationFailed(f"第 {n} 项：静音须为 1–{MAX_SILENCE_SECONDS} 秒", "items")
            checked.append(CheckedItem("silence", seconds=seconds))
        else:
            raise ValidationFailed(f"第 {n} 项：不支持的类型 {item.kind}", "items")
    return checked


def pieces(items: list[CheckedItem], path_for: Callable[[str], Path | None]) -> list[Piece]:
    """What the audio pipeline joins; a notice whose audio is not cached is refused."""
    out = []
    for n, item in enumerate(items, start=1):
        if item.notice is not None:
            path = path_for(item.notice.audio_sha256)
            if path is None:
                raise ValidationFailed(
                    f"第 {n} 项“{item.notice.title}”缺少音频，请先重新合成", "items"
                )
            out.append(Piece(path=path))
        elif item.kind == "chime":
            out.append(Piece(chime=True))
        else:
            out.append(Piece(silence_ms=(item.seconds or 0) * 1000))
    return out


def _summary(items: list[CheckedItem]) -> str:
    return "节目单：" + "；".join(f"{n}. {item_title(i)}" for n, i in enumerate(items, 1))


def save(
    s: Session,
    programme_id: int | None,
    req: ProgrammeRequest,
    audio: RenderedAudio,
    created_by: str,
    now: datetime,
) -> ProgrammeView:
    """Create a programme, or replace an existing one's name and items, with its audio."""
    items = check(s, req, programme_id)
    name = req.name.strip()
    if programme_id is None:
        notice = Notice(kind=PROGRAMME_KIND, created_by=created_by, created_at=now, chime=False)
        row = Programme(notice=notice, created_by=created_by, created_at=now)
        s.add(row)
    else:
        row = _get(s, programme_id)
        notice = row.notice
        row.items.clear()
        s.flush()
    row.name, row.updated_at = name, now
    notice.title, notice.body = name, _summary(items)
    notice.audio_sha256, notice.audio_size = audio.sha256, audio.size
    notice.audio_duration_ms, notice.rendered_at = audio.duration_ms, now
    notice.repeat = 1
    row.items = [
        ProgrammeItem(
            position=n,
            kind=item.kind,
            notice_id=item.notice.id if item.notice is not None else None,
            seconds=item.seconds,
        )
        for n, item in enumerate(items)
    ]
    s.flush()
    return view(row)


def view(row: Programme) -> ProgrammeView:
    items = [CheckedItem(i.kind, notice=i.notice, seconds=i.seconds) for i in row.items]
    return ProgrammeView(
        id=row.id,
        name=row.name,
        notice_id=row.notice_id,
        items=[
            ItemView(
                kind=i.kind,
                notice_id=i.notice.id if i.notice is not None else None,
                title=item_title(i),
                duration_ms=item_ms(i),
                seconds=i.seconds,
                notice_kind=i.notice.kind if i.notice is not None else None,
            )
            for i in items
        ],
        total_ms=sum(item_ms(i) for i in items),
        audio_sha256=row.notice.audio_sha256,
        audio_duration_ms=row.notice.audio_duration_ms,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _get(s: Session, programme_id: int) -> Programme:
    row = s.get(Programme, programme_id)
    if row is None:
        raise NotFound(f"找不到节目单 {programme_id}")
    return row


def get(s: Session, programme_id: int) -> ProgrammeView:
    return view(_get(s, programme_id))


def request_of(row: Programme) -> ProgrammeRequest:
    return ProgrammeRequest(
        row.name, [ItemRequest(i.kind, i.notice_id, i.seconds) for i in row.items]
    )


def stored_request(s: Session, programme_id: int) -> ProgrammeRequest:
    return request_of(_get(s, programme_id))


def list_programmes(s: Session) -> list[ProgrammeView]:
    return [view(r) for r in s.scalars(select(Programme).order_by(Programme.name))]


def using_notice(s: Session, notice_id: int) -> list[int]:
    """Programmes that play ``notice_id`` (to assemble again when its audio changes)."""
    return sorted(
        set(
            s.scalars(
                select(ProgrammeItem.programme_id).where(ProgrammeItem.notice_id == notice_id)
            )
        )
    )


def delete(s: Session, programme_id: int) -> None:
    """Remove a programme no schedule plays; its notice stays if broadcasts played it."""
    row = _get(s, programme_id)
    used = s.scalar(select(Schedule.id).where(Schedule.notice_id == row.notice_id))
    if used is not None:
        raise Conflict(f"节目单“{row.name}”正被播放计划 #{used} 使用，请先删除该计划")
    notice = row.notice
    played = s.scalar(select(Broadcast.id).where(Broadcast.notice_id == notice.id).limit(1))
    s.delete(row)
    s.flush()
    if played is None:
        s.delete(notice)
