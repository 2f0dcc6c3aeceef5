"""Notices: text and the audio rendered from it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from audio import RenderedAudio
from broadcast.errors import NotFound, ValidationFailed
from broadcast.models import Notice
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


def check_notice_text(title: str, body: str) -> tuple[str, str]:
    title = title.strip()
    if not title:
        raise ValidationFailed("请填写标题", "title")
    if len(title) > MAX_TITLE:
        raise ValidationFailed(f"标题不能超过 {MAX_TITLE} 字", "title")
    return title, check_body(body)


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
    )


def add_notice(
    s: Session, title: str, body: str, audio: RenderedAudio, created_by: str, now: datetime
) -> NoticeView:
    notice = Notice(
        title=title,
        body=body,
        audio_sha256=audio.sha256,
        audio_size=audio.size,
        audio_duration_ms=audio.duration_ms,
        created_by=created_by,
        created_at=now,
    )
    s.add(notice)
    s.flush()
    return notice_view(notice)


def get_notice(s: Session, notice_id: int) -> Notice:
    notice = s.get(Notice, notice_id)
    if notice is None:
        raise NotFound(f"找不到通知 {notice_id}")
    return notice


def list_notices(s: Session, limit: int = 200) -> list[NoticeView]:
    query = select(Notice).order_by(Notice.created_at.desc(), Notice.id.desc()).limit(limit)
    return [notice_view(n) for n in s.scalars(query)]
