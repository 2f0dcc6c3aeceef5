"""Pure planning decisions: which occurrences to fire now, which were missed, what is next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from broadcast.recurrence import Recurrence


@dataclass(frozen=True)
class Plan:
    due: list[datetime]  # inside the validity window and not fired yet: fire now
    missed: list[datetime]  # past the window and never fired: record as missed
    next_at: datetime | None  # the next future occurrence to arm a job for


def plan(
    rec: Recurrence,
    now: datetime,
    window: timedelta,
    fired: set[datetime],
    lookback: timedelta,
) -> Plan:
    """Decide for one schedule at ``now``; ``fired`` holds occurrences already recorded."""
    recent = [t for t in rec.between(now - max(lookback, window), now) if t not in fired]
    return Plan(
        due=[t for t in recent if t > now - window],
        missed=[t for t in recent if t <= now - window],
        next_at=rec.next_after(now),
    )
