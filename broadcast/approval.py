"""Review of notices and schedules: draft → pending → approved / rejected (with a reason).

An approved schedule is then *scheduled* until it has no occurrence left (*finished*) or is
switched off (*cancelled*); see ``lifecycle``. A reviewer approves a notice's rendered audio:
``Notice.approved_sha256`` is the audio that was heard. Only approved content fires
(``may_fire``, checked again by firing itself).

A session listener (``install``) keeps the rules wherever the change comes from:
- new notices and schedules start as drafts when ``approval.required`` (the default), or
  approved when review is switched off;
- editing the content of an approved notice or schedule sends it back to review (pending).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import get_history
from sqlalchemy.orm.base import PASSIVE_NO_INITIALIZE

from broadcast.errors import NotFound, ValidationFailed
from broadcast.models import EMERGENCY_PRIORITY, Notice, Schedule

logger = logging.getLogger(__name__)

DRAFT, PENDING, APPROVED, REJECTED = "draft", "pending", "approved", "rejected"
STATUSES = (DRAFT, PENDING, APPROVED, REJECTED)
STATUS_LABELS = {
    DRAFT: "草稿",
    PENDING: "待审核",
    APPROVED: "已通过",
    REJECTED: "已退回",
    "scheduled": "已排期",
    "finished": "已结束",
    "cancelled": "已取消",
}
KINDS = ("notice", "schedule")
MAX_REASON = 500
# Session.info key: whether review is required (absent: required, failing closed).
INFO_REQUIRED = "approval.required"
AUTO_NOTE = "免审（approval.required = false）"

_REVIEW_COLUMNS = frozenset(
    {
        "status",
        "approved_sha256",
        "submitted_by",
        "submitted_at",
        "reviewed_by",
        "reviewed_at",
        "review_note",
        "created_at",
        "created_by",
    }
)
# Changes to anything else are changes to what is broadcast, and need a new review.
_NOT_CONTENT = {
    "notices": _REVIEW_COLUMNS | {"rendered_at", "audio_key"},
    "schedules": _REVIEW_COLUMNS | {"updated_at", "enabled"},
}


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def lifecycle(status: str, enabled: bool, next_at: datetime | None) -> str:
    """What a schedule is now: its review status until approved, then scheduled, finished
    (no occurrence left) or cancelled (switched off)."""
    if status != APPROVED:
        return status
    if not enabled:
        return "cancelled"
    return "scheduled" if next_at is not None else "finished"


def notice_approved(n: Notice) -> bool:
    """Approved, and still the audio that was approved."""
    return n.status == APPROVED and n.approved_sha256 == n.audio_sha256


def may_fire(row: Schedule) -> bool:
    """Only approved content is broadcast. An emergency's confirmation covers its notice."""
    if row.status != APPROVED:
        return False
    return row.priority >= EMERGENCY_PRIORITY or notice_approved(row.notice)


# -- the listener --------------------------------------------------------------------------------


def _content_changed(obj: Any, table: str) -> bool:
    state = inspect(obj)
    ignore = _NOT_CONTENT[table]
    for attr in state.mapper.column_attrs:
        if attr.key in ignore:
            continue
        hist = get_history(obj, attr.key, passive=PASSIVE_NO_INITIALIZE)
        if hist.added and (not hist.deleted or hist.deleted[0] != hist.added[0]):
            return True
    for rel in state.mapper.relationships:
        if rel.secondary is None:
            continue
        hist = get_history(obj, rel.key, passive=PASSIVE_NO_INITIALIZE)
        if hist.added or hist.deleted:
            before = {id(o) for o in [*(hist.unchanged or ()), *(hist.deleted or ())]}
            after = {id(o) for o in [*(hist.unchanged or ()), *(hist.added or ())]}
            if before != after:
                return True
    return False


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    required = bool(session.info.get(INFO_REQUIRED, True))
    for obj in session.new:
        if isinstance(obj, Notice | Schedule) and obj.status is None:
            obj.status = DRAFT if required else APPROVED
            if not required:
                obj.review_note = AUTO_NOTE
                if isinstance(obj, Notice):
                    obj.approved_sha256 = obj.audio_sha256
    for obj in session.dirty:
        if not isinstance(obj, Notice | Schedule):
            continue
        table = "notices" if isinstance(obj, Notice) else "schedules"
        if get_history(obj, "status", passive=PASSIVE_NO_INITIALIZE).has_changes():
            continue  # a review step itself
        if obj.status != APPROVED or not _content_changed(obj, table):
            continue
        if required:
            obj.status = PENDING
            obj.review_note = "内容已修改，需重新审核"
            logger.info("%s %s edited after approval: back to review", table, obj.id)
        elif isinstance(obj, Notice):
            obj.approved_sha256 = obj.audio_sha256


def install(sessions: sessionmaker[Session]) -> None:
    """Keep the review rules in every session of this factory (idempotent)."""
    if not event.contains(sessions, "before_flush", _before_flush):
        event.listen(sessions, "before_flush", _before_flush)


# -- transitions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewItem:
    """A notice or schedule as the review queue shows it."""

    kind: str
    id: int
    title: str
    status: str
    created_by: str
    created_at: datetime
    submitted_by: str | None
    submitted_at: datetime | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None
    # notices: the audio to hear; schedules: their notice's and that notice's status
    audio_sha256: str
    audio_duration_ms: int
    notice_id: int
    notice_status: str
    body: str
    priority: int | None = None


def _get(s: Session, kind: str, item_id: int) -> Notice | Schedule:
    if kind not in KINDS:
        raise ValidationFailed(f"未知的审核对象：{kind}", "kind")
    row: Notice | Schedule | None = (
        s.get(Notice, item_id) if kind == "notice" else s.get(Schedule, item_id)
    )
    if row is None:
        raise NotFound(f"找不到{'通知' if kind == 'notice' else '播放计划'} {item_id}")
    return row


def item_view(row: Notice | Schedule) -> ReviewItem:
    if isinstance(row, Notice):
        return ReviewItem(
            "notice",
            row.id,
            row.title,
            row.status,
            row.created_by,
            row.created_at,
            row.submitted_by,
            row.submitted_at,
            row.reviewed_by,
            row.reviewed_at,
            row.review_note,
            row.audio_sha256,
            row.audio_duration_ms,
            row.id,
            row.status,
            row.body,
        )
    n = row.notice
    return ReviewItem(
        "schedule",
        row.id,
        n.title,
        row.status,
        row.created_by,
        row.created_at,
        row.submitted_by,
        row.submitted_at,
        row.reviewed_by,
        row.reviewed_at,
        row.review_note,
        n.audio_sha256,
        n.audio_duration_ms,
        n.id,
        n.status,
        n.body,
        row.priority,
    )


def get_item(s: Session, kind: str, item_id: int) -> ReviewItem:
    return item_view(_get(s, kind, item_id))


def _stamp_submit(row: Notice | Schedule, actor: str, now: datetime) -> None:
    row.status = PENDING
    row.submitted_by = actor
    row.submitted_at = now
    row.reviewed_by = None
    row.reviewed_at = None


def submit(s: Session, kind: str, item_id: int, actor: str, now: datetime) -> ReviewItem:
    """Ask for review (a draft, a rejected item after changes). Submitting a schedule also
    submits its notice if that is still a draft or was rejected."""
    row = _get(s, kind, item_id)
    if row.status == PENDING:
        return item_view(row)
    if row.status == APPROVED:
        raise ValidationFailed("已审核通过，无需再次提交")
    _stamp_submit(row, actor, now)
    if isinstance(row, Schedule):
        row.updated_at = now
        if row.notice.status in (DRAFT, REJECTED):
            _stamp_submit(row.notice, actor, now)
    s.flush()
    return item_view(row)


def approve(
    s: Session,
    kind: str,
    item_id: int,
    actor: str,
    now: datetime,
    *,
    from_draft: bool = False,
    window: timedelta | None = None,
) -> ReviewItem:
    """Approve a pending item (``from_draft``: also a draft, for an explicit one-step
    approval by its author, e.g. ``cunxiang notice add --approve``).

    A one-off schedule whose time passed more than ``window`` ago while it waited (asked
    for "now") is moved to ``now``: approving it is what lets it play."""
    row = _get(s, kind, item_id)
    allowed = (PENDING, DRAFT, REJECTED) if from_draft else (PENDING,)
    if row.status == APPROVED and (not isinstance(row, Notice) or notice_approved(row)):
        return item_view(row)
    if row.status not in allowed and row.status != APPROVED:
        raise ValidationFailed(f"只能审核待审核的内容（现在是“{status_label(row.status)}”）")
    if isinstance(row, Schedule):
        if row.priority < EMERGENCY_PRIORITY and not notice_approved(row.notice):
            raise ValidationFailed(
                f"请先审核通过通知“{row.notice.title}”（听过音频），再通过这个播放计划"
            )
        row.updated_at = now
        if window is not None and row.kind == "once" and row.start_at + window <= now:
            row.start_at = now
    else:
        row.approved_sha256 = row.audio_sha256
    row.status = APPROVED
    row.reviewed_by = actor
    row.reviewed_at = now
    row.review_note = None
    s.flush()
    return item_view(row)


def reject(
    s: Session, kind: str, item_id: int, actor: str, reason: str, now: datetime
) -> ReviewItem:
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("请填写退回的理由", "reason")
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"理由不能超过 {MAX_REASON} 字", "reason")
    row = _get(s, kind, item_id)
    if row.status != PENDING:
        raise ValidationFailed(f"只能退回待审核的内容（现在是“{status_label(row.status)}”）")
    row.status = REJECTED
    row.reviewed_by = actor
    row.reviewed_at = now
    row.review_note = reason
    if isinstance(row, Schedule):
        row.updated_at = now
    s.flush()
    return item_view(row)


def pending(s: Session, schedule_ids: frozenset[int] | None = None) -> list[ReviewItem]:
    """The review queue: pending notices, then pending routine schedules (``schedule_ids``:
    only these, e.g. the ones in the reviewer's scope), oldest first."""
    notices = s.scalars(
        select(Notice).where(Notice.status == PENDING).order_by(Notice.submitted_at, Notice.id)
    )
    schedules = s.scalars(
        select(Schedule)
        .where(Schedule.status == PENDING, Schedule.priority < EMERGENCY_PRIORITY)
        .order_by(Schedule.submitted_at, Schedule.id)
    )
    items = [item_view(n) for n in notices]
    items += [item_view(r) for r in schedules if schedule_ids is None or r.id in schedule_ids]
    return items


def recent(s: Session, limit: int = 20) -> list[ReviewItem]:
    """Recently reviewed items (approved or rejected), newest first."""
    rows: list[Notice | Schedule] = [
        *s.scalars(
            select(Notice)
            .where(Notice.reviewed_at.is_not(None))
            .order_by(Notice.reviewed_at.desc())
            .limit(limit)
        ),
        *s.scalars(
            select(Schedule)
            .where(Schedule.reviewed_at.is_not(None), Schedule.priority < EMERGENCY_PRIORITY)
            .order_by(Schedule.reviewed_at.desc())
            .limit(limit)
        ),
    ]
    rows.sort(key=lambda r: r.reviewed_at or r.created_at, reverse=True)
    return [item_view(r) for r in rows[:limit]]
