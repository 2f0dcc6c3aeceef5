"""Use cases of accountability, mixed into ``Services``: accounts and their scope, review
(approval), the second confirmation of emergencies, and the audit log.

Who acts is ``audit.current_actor()`` (the web edge names the logged-in account, the CLI
names itself); a username that is an account is held to its role and scope, anything else
(the CLI, the scheduler) is the machine's operator and is not limited.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from broadcast import accounts, approval, audit, scope
from broadcast.accounts import UserView
from broadcast.approval import ReviewItem
from broadcast.errors import NotFound, PermissionDenied, ValidationFailed
from broadcast.models import EMERGENCY_PRIORITY, Schedule
from broadcast.planning import EmergencyRequest
from broadcast.settings import Settings
from broadcast.views import BroadcastView

logger = logging.getLogger(__name__)

DENIED = "没有权限：{what}"


@dataclass(frozen=True)
class EmergencyOutcome:
    """An emergency sent at once (``broadcast``), or waiting for a second confirmation."""

    schedule_id: int
    village_count: int
    broadcast: BroadcastView | None = None

    @property
    def awaiting_confirmation(self) -> bool:
        return self.broadcast is None


@dataclass(frozen=True)
class PendingEmergency:
    schedule_id: int
    notice_id: int
    notice_title: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    request: EmergencyRequest


def _request_of(row: Schedule) -> EmergencyRequest:
    return EmergencyRequest(
        notice_id=row.notice_id,
        villages=[v.id for v in row.villages],
        severity=row.severity or 4,
        event_type=row.event_type or "",
        drill=row.drill,
        priority=row.priority,
        repeat=row.repeat,
        volume=row.volume,
        zones=[z.id for z in row.zones],
        groups=[g.code for g in row.groups],
        speakers=[sp.id for sp in row.speakers],
    )


class Governance:
    """Mixed into ``Services``, which provides these."""

    settings: Settings

    def _tx(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    def now(self) -> datetime:
        raise NotImplementedError

    def fire(self, schedule_id: int, planned_at: datetime) -> int | None:
        raise NotImplementedError

    def list_broadcasts(
        self, limit: int = 100, broadcast_id: int | None = None
    ) -> list[BroadcastView]:
        raise NotImplementedError

    def on_schedules_changed(self) -> None:
        raise NotImplementedError

    # -- who acts -----------------------------------------------------------------------------
    @staticmethod
    def actor() -> str:
        return audit.current_actor() or audit.SYSTEM

    def _require(self, s: Session, permission: str, what: str) -> None:
        """Refuse when the acting account's role lacks ``permission`` (the CLI passes)."""
        name = audit.current_actor()
        if not name or not accounts.user_exists(s, name):
            return
        if not accounts.allowed(accounts.role_of(s, name), permission):
            raise PermissionDenied(DENIED.format(what=what))

    def _scope(self, s: Session) -> scope.VillageIds:
        return scope.visible_village_ids(s, audit.current_actor())

    def visible_village_ids(self) -> frozenset[int] | None:
        """The villages the acting account sees and may target (None: all)."""
        with self._tx() as s:
            return self._scope(s)

    # -- accounts -----------------------------------------------------------------------------
    def list_users(self) -> list[UserView]:
        with self._tx() as s:
            self._require(s, "accounts", "管理账号")
            return accounts.list_users(s)

    def find_user(self, user: int | str) -> UserView:
        with self._tx() as s:
            return accounts.find_user(s, user)

    def update_user(
        self,
        user: int | str,
        *,
        role: str | None = None,
        active: bool | None = None,
        full_name: str | None = None,
    ) -> UserView:
        with self._tx() as s:
            self._require(s, "accounts", "管理账号")
            return accounts.update_user(s, user, role=role, active=active, full_name=full_name)

    def set_user_scope(
        self, user: int | str, towns: list[str | int], villages: list[str | int]
    ) -> UserView:
        with self._tx() as s:
            self._require(s, "accounts", "管理账号")
            return accounts.set_scope(s, user, towns, villages)

    def reset_password(self, user: int | str, password: str) -> UserView:
        with self._tx() as s:
            self._require(s, "accounts", "管理账号")
            view = accounts.set_password(s, user, password)
            audit.record(s, "reset_password", "users", view.id, {"username": view.username})
            return view

    def change_own_password(self, user_id: int, current: str, new: str) -> UserView:
        with self._tx() as s:
            return accounts.change_own_password(s, user_id, current, new)

    def record_login(self, user_id: int, username: str, address: str | None) -> None:
        with self._tx() as s:
            accounts.mark_login(s, user_id, self.now())
            audit.record(s, "login", "users", user_id, {"address": address}, actor=username)

    # -- review ---------------------------------------------------------------------------------
    def _check_review_scope(self, s: Session, kind: str, item_id: int) -> None:
        if kind == "schedule":
            scope.check_schedule(s, self._scope(s), item_id)

    def submit_for_review(self, kind: str, item_id: int) -> ReviewItem:
        with self._tx() as s:
            self._require(s, "write", "提交审核")
            self._check_review_scope(s, kind, item_id)
            item = approval.submit(s, kind, item_id, self.actor(), self.now())
        self.on_schedules_changed()
        return item

    def approve(self, kind: str, item_id: int) -> ReviewItem:
        with self._tx() as s:
            self._require(s, "review", "审核")
            self._check_review_scope(s, kind, item_id)
            window = self._window(s, kind, item_id)
            item = approval.approve(s, kind, item_id, self.actor(), self.now(), window=window)
        logger.info("%s %s approved by %s", kind, item_id, self.actor())
        self._fire_if_due(item)
        self.on_schedules_changed()
        return item

    def reject(self, kind: str, item_id: int, reason: str) -> ReviewItem:
        with self._tx() as s:
            self._require(s, "review", "审核")
            self._check_review_scope(s, kind, item_id)
            item = approval.reject(s, kind, item_id, self.actor(), reason, self.now())
        logger.info("%s %s rejected by %s", kind, item_id, self.actor())
        self.on_schedules_changed()
        return item

    def approve_now(self, kind: str, item_id: int) -> ReviewItem:
        """One-step approval by whoever created it (``--approve`` on the CLI, demo seeding):
        explicit, and audited like any approval."""
        with self._tx() as s:
            self._require(s, "review", "审核")
            window = self._window(s, kind, item_id)
            item = approval.approve(
                s, kind, item_id, self.actor(), self.now(), from_draft=True, window=window
            )
        self._fire_if_due(item)
        self.on_schedules_changed()
        return item

    def _window(self, s: Session, kind: str, item_id: int) -> timedelta | None:
        row = s.get(Schedule, item_id) if kind == "schedule" else None
        if row is None:
            return None
        return timedelta(seconds=row.window_seconds or self.settings.schedule.window_seconds)

    def _fire_if_due(self, item: ReviewItem) -> None:
        """A one-off "play now" waited for its approval: it plays as soon as approved."""
        if item.kind != "schedule":
            return
        now = self.now()
        with self._tx() as s:
            row = s.get(Schedule, item.id)
            if row is None or row.kind != "once" or not approval.may_fire(row):
                return
            if row.start_at > now + timedelta(seconds=1):
                return
            planned = row.start_at
        self.fire(item.id, planned)

    def review_queue(self) -> list[ReviewItem]:
        with self._tx() as s:
            visible = scope.visible_schedule_ids(s, self._scope(s))
            return approval.pending(s, visible)

    def recent_reviews(self, limit: int = 20) -> list[ReviewItem]:
        with self._tx() as s:
            return approval.recent(s, limit)

    def review_item(self, kind: str, item_id: int) -> ReviewItem:
        with self._tx() as s:
            return approval.get_item(s, kind, item_id)

    def _after_create(self, s: Session, kind: str, item_id: int, approve: bool) -> str:
        """A new notice or schedule: approved explicitly (``approve``), sent for review
        (schedules: saving one is asking to broadcast it), or a draft (notices)."""
        if not self.settings.approval.required:
            return approval.APPROVED
        actor, now = self.actor(), self.now()
        if approve:
            self._require(s, "review", "审核")
            return approval.approve(s, kind, item_id, actor, now, from_draft=True).status
        if kind == "schedule":
            return approval.submit(s, kind, item_id, actor, now).status
        return approval.DRAFT

    # -- emergencies ------------------------------------------------------------------------------
    def request_emergency(self, req: EmergencyRequest, created_by: str = "") -> EmergencyOutcome:
        """An emergency to one village goes out at once. To more than one, with review on,
        it waits for a second person's confirmation (``confirm_emergency``)."""
        from broadcast import planning

        now = self.now()
        with self._tx() as s:
            self._require(s, "emergency", "发送应急广播")
            row = planning.add_emergency(
                s, req, self.settings.timezone, created_by or self.actor(), now
            )
            reached = scope.schedule_village_ids(row)
            scope.check_villages(s, self._scope(s), reached)
            schedule_id, planned = row.id, row.start_at
            if self.settings.approval.required and len(reached) > 1:
                approval.submit(s, "schedule", schedule_id, self.actor(), now)
                logger.warning(
                    "emergency %s to %d villages requested by %s: awaiting confirmation",
                    schedule_id,
                    len(reached),
                    self.actor(),
                )
                self.on_schedules_changed()
                return EmergencyOutcome(schedule_id, len(reached))
            if self.settings.approval.required:
                approval.approve(s, "schedule", schedule_id, self.actor(), now, from_draft=True)
        bid = self.fire(schedule_id, planned)
        assert bid is not None
        self.on_schedules_changed()
        return EmergencyOutcome(schedule_id, len(reached), self.list_broadcasts(1, bid)[0])

    def _pending_emergency(self, s: Session, schedule_id: int) -> Schedule:
        row = s.get(Schedule, schedule_id)
        if row is None or row.priority < EMERGENCY_PRIORITY:
            raise NotFound(f"找不到待确认的应急广播 {schedule_id}")
        if row.status != approval.PENDING:
            label = approval.status_label(row.status)
            raise ValidationFailed(f"这条应急广播已处理（{label}），不需要再确认")
        return row

    def _expiry(self, row: Schedule) -> datetime:
        requested = row.submitted_at or row.created_at
        return requested + timedelta(minutes=self.settings.approval.confirm_minutes)

    def confirm_emergency(self, schedule_id: int) -> BroadcastView:
        """The second confirmation: another admin or reviewer, or the admin who asked,
        confirming again. Sends at once."""
        now = self.now()
        actor = self.actor()
        with self._tx() as s:
            self._require(s, "confirm", "确认应急广播")
            row = self._pending_emergency(s, schedule_id)
            scope.check_villages(s, self._scope(s), scope.schedule_village_ids(row))
            if now > self._expiry(row):
                raise ValidationFailed(
                    f"已超过 {self.settings.approval.confirm_minutes} 分钟未确认，"
                    "请重新发起这条应急广播"
                )
            if actor == row.submitted_by and accounts.role_of(s, actor) not in (None, "admin"):
                raise PermissionDenied("需要另一位管理员或审核员确认")
            row.start_at = now
            approval.approve(s, "schedule", schedule_id, actor, now)
            audit.record(
                s,
                "confirm_emergency",
                "schedules",
                schedule_id,
                {"requested_by": row.submitted_by, "confirmed_by": actor},
            )
        bid = self.fire(schedule_id, now)
        assert bid is not None
        logger.warning("emergency %s confirmed by %s: broadcast %s", schedule_id, actor, bid)
        self.on_schedules_changed()
        return self.list_broadcasts(1, bid)[0]

    def withdraw_emergency(self, schedule_id: int, reason: str = "撤回") -> None:
        with self._tx() as s:
            self._require(s, "emergency_view", "撤回应急广播")
            row = self._pending_emergency(s, schedule_id)
            approval.reject(s, "schedule", row.id, self.actor(), reason, self.now())

    def pending_emergencies(self) -> list[PendingEmergency]:
        """Emergencies waiting for their second confirmation, in the actor's scope; expired
        ones are left out (they can no longer be confirmed)."""
        from sqlalchemy import select

        now = self.now()
        with self._tx() as s:
            visible = self._scope(s)
            rows = s.scalars(
                select(Schedule)
                .where(
                    Schedule.status == approval.PENDING,
                    Schedule.priority >= EMERGENCY_PRIORITY,
                )
                .order_by(Schedule.id)
            )
            found = []
            for row in rows:
                expires = self._expiry(row)
                if expires < now or not scope.touches(visible, scope.schedule_village_ids(row)):
                    continue
                found.append(
                    PendingEmergency(
                        row.id,
                        row.notice_id,
                        row.notice.title,
                        row.submitted_by or row.created_by,
                        row.submitted_at or row.created_at,
                        expires,
                        _request_of(row),
                    )
                )
            return found

    # -- audit ----------------------------------------------------------------------------------
    def audit_entries(
        self,
        limit: int = 100,
        before_id: int | None = None,
        actor: str | None = None,
        table_name: str | None = None,
        row_id: str | None = None,
    ) -> list[audit.AuditView]:
        with self._tx() as s:
            return audit.list_entries(s, limit, before_id, actor, table_name, row_id)

    def verify_audit(self) -> audit.Verification:
        with self._tx() as s:
            return audit.verify(s)
