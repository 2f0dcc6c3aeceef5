"""APScheduler holds derived jobs only, rebuilt from the database at start-up, on change
and periodically: one date job per distinct instant at which some schedule's next
occurrence falls. Occurrences due at the same instant (the county-wide 07:00 morning
programme) fire together in one transaction and are published in one outbox pass, a few
seconds ahead (``schedule.dispatch_lead_seconds``): loudspeakers hold a command until its
not_before, so playback starts on time however many fire at once."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

from broadcast.planning import PlannedSchedule
from broadcast.services import Services
from scheduler.planner import plan

logger = logging.getLogger(__name__)

WATCH_JOB = "watch"


def job_id(instant: datetime) -> str:
    return f"at:{instant.astimezone(UTC).isoformat()}"


class BroadcastScheduler:
    def __init__(
        self, services: Services, watch_seconds: float = 2.0, resync_seconds: int = 60
    ) -> None:
        self.services = services
        self.watch_seconds = watch_seconds
        self.resync_seconds = resync_seconds
        self.lookback = timedelta(hours=services.settings.schedule.missed_lookback_hours)
        self.lead = timedelta(seconds=services.settings.schedule.dispatch_lead_seconds)
        self._signature: tuple[int, int, str] | None = None
        self._plans: dict[int, PlannedSchedule] = {}
        # The armed next occurrence of each schedule, and the schedules of each instant.
        self._next: dict[int, datetime] = {}
        self._at: dict[datetime, set[int]] = {}
        self._last_sync = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.RLock()
        self._aps = BackgroundScheduler(
            timezone=services.settings.zone,
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                # Generous: a busy pool must not drop a due occurrence.
                "misfire_grace_time": services.settings.schedule.window_seconds,
            },
        )
        self._aps.add_listener(self._on_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)

    def start(self) -> None:
        self.sync()
        self._aps.add_job(
            self.watch, "interval", seconds=self.watch_seconds, id=WATCH_JOB, replace_existing=True
        )
        self._aps.start()
        logger.info("scheduler started: %d schedules, %d instants", len(self._next), len(self._at))

    def stop(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=True)
        logger.info("scheduler stopped")

    def watch(self) -> None:
        """Cheap check for schedule changes made by other processes; full sync now and then."""
        signature = self.services.schedules_signature()
        stale = self.services.now() - self._last_sync >= timedelta(seconds=self.resync_seconds)
        if signature != self._signature or stale:
            self.sync()

    def sync(self) -> None:
        """Fire what is due inside its window, record what was missed, arm the next jobs."""
        with self._lock:
            self._signature = self.services.schedules_signature()
            now = self.services.now()
            self._last_sync = now
            planned_schedules = self.services.planned_schedules()
            longest = max((ps.window for ps in planned_schedules), default=timedelta(0))
            fired_by_schedule = self.services.fired_since(now - max(self.lookback, longest))
            self._plans = {ps.id: ps for ps in planned_schedules}
            overdue: dict[datetime, list[int]] = {}
            wanted: dict[int, datetime] = {}
            for ps in planned_schedules:
                fired = fired_by_schedule.get(ps.id, set())
                decision = plan(ps.recurrence, now, ps.window, fired, self.lookback)
                for planned in decision.missed + decision.due:
                    overdue.setdefault(planned, []).append(ps.id)
                if decision.next_at is not None:
                    wanted[ps.id] = decision.next_at
            for planned, ids in sorted(overdue.items()):
                logger.info("catching up %d schedules at %s", len(ids), planned.isoformat())
                self.services.fire_many(ids, planned)
            for schedule_id in set(self._next) - set(wanted):
                self._set_next(schedule_id, None)
            for schedule_id, instant in wanted.items():
                self._set_next(schedule_id, instant)

    def next_run(self, schedule_id: int) -> datetime | None:
        return self._next.get(schedule_id)

    def _set_next(self, schedule_id: int, instant: datetime | None) -> None:
        """Move a schedule to the job of ``instant`` (None: no job), keeping jobs in step."""
        old = self._next.get(schedule_id)
        if old == instant:
            return
        if old is not None:
            self._next.pop(schedule_id)
            members = self._at.get(old, set())
            members.discard(schedule_id)
            self._rearm(old)
        if instant is not None:
            self._next[schedule_id] = instant
            self._at.setdefault(instant, set()).add(schedule_id)
            self._rearm(instant)

    def _rearm(self, instant: datetime) -> None:
        jid = job_id(instant)
        if self._aps.get_job(jid) is not None:
            self._aps.remove_job(jid)
        members = self._at.get(instant)
        if not members:
            self._at.pop(instant, None)
            return
        # Dispatched ahead of time: the commands carry not_before = instant.
        run_at = instant - self.lead
        self._aps.add_job(self.fire_due, DateTrigger(run_date=run_at), args=[instant], id=jid)

    def fire_due(self, instant: datetime) -> None:
        """Fire every occurrence due at ``instant``; arm each schedule's next one."""
        with self._lock:
            ids = sorted(self._at.pop(instant, set()))
            for schedule_id in ids:
                self._next.pop(schedule_id, None)
        self.services.fire_many(ids, instant)
        with self._lock:
            for schedule_id in ids:
                ps = self._plans.get(schedule_id)
                nxt = ps.recurrence.next_after(instant) if ps is not None else None
                if nxt is not None and schedule_id not in self._next:
                    self._set_next(schedule_id, nxt)

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            logger.error("job %s missed its run at %s", event.job_id, event.scheduled_run_time)
        elif event.exception is not None:
            logger.error("job %s failed: %r", event.job_id, event.exception)
