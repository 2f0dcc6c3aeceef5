"""APScheduler holds derived jobs only: one date job per enabled schedule for its next
occurrence, rebuilt from the database at start-up, on change and periodically."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

from broadcast.services import Services
from scheduler.planner import plan

logger = logging.getLogger(__name__)

RESYNC_JOB = "resync"


def job_id(schedule_id: int) -> str:
    return f"schedule:{schedule_id}"


class BroadcastScheduler:
    def __init__(
        self, services: Services, watch_seconds: float = 2.0, resync_seconds: int = 60
    ) -> None:
        self.services = services
        self.watch_seconds = watch_seconds
        self._signature: tuple[int, int, str] | None = None
        self._last_sync = datetime.min.replace(tzinfo=UTC)
        self.lookback = timedelta(hours=services.settings.schedule.missed_lookback_hours)
        self.resync_seconds = resync_seconds
        self._lock = threading.Lock()
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
            self.watch,
            "interval",
            seconds=self.watch_seconds,
            id=RESYNC_JOB,
            replace_existing=True,
        )
        self._aps.start()
        logger.info("scheduler started")

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
            wanted: set[str] = set()
            for ps in self.services.planned_schedules():
                since = now - max(self.lookback, ps.window)
                fired = self.services.fired_occurrences(ps.id, since)
                decision = plan(ps.recurrence, now, ps.window, fired, self.lookback)
                for planned in decision.missed + decision.due:
                    logger.info("catching up schedule %s at %s", ps.id, planned.isoformat())
                    self.services.fire(ps.id, planned)
                if decision.next_at is not None:
                    wanted.add(job_id(ps.id))
                    self._arm(ps.id, decision.next_at)
            for job in self._aps.get_jobs():
                if job.id != RESYNC_JOB and job.id not in wanted:
                    self._aps.remove_job(job.id)

    def next_run(self, schedule_id: int) -> datetime | None:
        job = self._aps.get_job(job_id(schedule_id))
        if job is None:
            return None
        planned: datetime = job.args[1]
        return planned

    def _arm(self, schedule_id: int, planned: datetime) -> None:
        existing = self._aps.get_job(job_id(schedule_id))
        if existing is not None:
            if existing.args[1] == planned:
                return
            self._aps.remove_job(job_id(schedule_id))
        self._aps.add_job(
            self._fire,
            DateTrigger(run_date=planned),
            args=[schedule_id, planned],
            id=job_id(schedule_id),
            replace_existing=True,
        )

    def _fire(self, schedule_id: int, planned: datetime) -> None:
        self.services.fire(schedule_id, planned)
        self.sync()

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            logger.error("job %s missed its run at %s", event.job_id, event.scheduled_run_time)
        elif event.exception is not None:
            logger.error("job %s failed: %r", event.job_id, event.exception)
