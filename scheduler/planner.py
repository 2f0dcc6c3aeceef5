"""Pure planning decisions: which occurrences to fire now and which one to wait for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from broadcast.recurrence import Recurrence


@dataclass(frozen=True)
class Plan:
    overdue: list[datetime]  # inside the grace window and not fired yet: fire now
    next_at: datetime | None  # the next future occurrence to arm a job for


def plan(rec: Recurrence, now: datetime, grace: timedelta, fired: set[datetime]) -> Plan:
    overdue = [t for t in rec.between(now - grace, now) if t not in fired]
    return Plan(overdue=overdue, next_at=rec.next_after(now))
