"""Notices: text and the audio rendered from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from audio import RenderedAudio
from broadcast.errors import NotFound, ValidationFailed
from broadcast.models import Command, CommandStatus, Notice
from broadcast.sound import NoticeSound, Sound
from broadcast.views import NoticeView

MAX_TITLE = 200
MAX_BODY = 20_000


def check_body(body: str, field: str = "body") -> str:
    body = body.strip()
    if not body:
        raise ValidationFailed("请填写通知内容", field)
    if len(body) > MAX_BODY:
        raise ValidationFailed(f"通知内容不能超过 {MAX_BODY} 字", field)
    return body


def check_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise ValidationFailed("请填写标题", "title")
    if len(title) > MAX_TITLE:
        raise ValidationFailed(f"标题不能超过 {MAX_TITLE} 字", "title")
    return title


def check_notice_text(title: str, body: str) -> tuple[str, str]:
    return check_title(title), check_body(body)


def check_transcript(body: str) -> str:
    """The optional text kept with a recording (what it says, for the record)."""
    body = body.strip()
    if len(body) > MAX_BODY:
        raise ValidationFailed(f"文字稿不能超过 {MAX_BODY} 字", "body")
    return body


@dataclass(frozen=True)
class Source:
    """An uploaded recording a notice was made from."""

    sha256: str
    filename: str


def notice_view(n: Notice) -> NoticeView:
    return NoticeView(
        id=n.id,
        title=n.title,
        body=n.body,
        audio_sha256=n.audio_sha256,
        audio_size=n.audio_size,
        audio_duration_ms=n.audio_duration_ms,
        created_by=n.created_by,
        created_at=n.created_at,
        kind=n.kind,
        source_filename=n.source_filename,
        source_sha256=n.source_sha256,
        voice=n.voice,
        rate=n.rate,
        repeat=n.repeat,
        chime=n.chime,
        closing=n.closing,
        rendered_at=n.rendered_at,
        status=n.status,
        review_note=n.review_note,
    )


def add_notice(
    s: Session,
    title: str,
    body: str,
    audio: RenderedAudio,
    created_by: str,
    now: datetime,
    sound: Sound | None = None,
    source: Source | None = None,
    audio_key: str | None = None,
) -> NoticeView:
    """Store a notice and its rendered audio: text, or a recording when ``source`` is given
    (voice, rate and closing line do not apply to a recording and are not stored)."""
    notice = Notice(
        title=title,
        body=body,
        audio_sha256=audio.sha256,
        audio_size=audio.size,
        audio_duration_ms=audio.duration_ms,
        created_by=created_by,
        created_at=now,
        kind="recording" if source is not None else "text",
        source_sha256=source.sha256 if source is not None else None,
        source_filename=source.filename if source is not None else None,
        audio_key=audio_key,
        rendered_at=now,
    )
    if sound is not None:
        notice.repeat, notice.chime = sound.repeat, sound.chime
        if source is None:
            notice.voice, notice.rate, notice.closing = sound.voice, sound.rate, sound.closing
    s.add(notice)
    s.flush()
    return notice_view(notice)


def stored_sound(n: Notice) -> NoticeSound:
    """The options a notice was rendered with (None: the configured default)."""
    return NoticeSound(
        voice=n.voice, rate=n.rate, repeat=n.repeat, chime=n.chime, closing=n.closing
    )


def set_audio(
    s: Session, notice_id: int, audio: RenderedAudio, audio_key: str, now: datetime
) -> NoticeView:
    """Replace a notice's audio after rendering it again. Broadcasts already sent keep theirs."""
    notice = get_notice(s, notice_id)
    notice.audio_sha256 = audio.sha256
    notice.audio_size = audio.size
    notice.audio_duration_ms = audio.duration_ms
    notice.audio_key = audio_key
    notice.rendered_at = now
    s.flush()
    return notice_view(notice)


def audio_in_use(s: Session, now: datetime) -> set[str]:
    """Audio the cache must keep: every notice's, and what open play commands point to."""
    used = set(s.scalars(select(Notice.audio_sha256)))
    open_commands = select(Command.params).where(
        Command.type == "play",
        Command.status.in_((CommandStatus.PENDING, CommandStatus.SENT, CommandStatus.ACKED)),
        Command.expires_at > now,
    )
    for params in s.scalars(open_commands):
        sha = params.get("audio_sha256") if isinstance(params, dict) else None
        if isinstance(sha, str):
            used.add(sha)
    return used


def get_notice(s: Session, notice_id: int) -> Notice:
    notice = s.get(Notice, notice_id)
    if notice is None:
        raise NotFound(f"找不到通知 {notice_id}")
    return notice


def list_notices(s: Session, limit: int = 200) -> list[NoticeView]:
    query = select(Notice).order_by(Notice.created_at.desc(), Notice.id.desc()).limit(limit)
    return [notice_view(n) for n in s.scalars(query)]
