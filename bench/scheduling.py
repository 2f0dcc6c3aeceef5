"""Scheduling precision under load: python -m bench scheduling [--database-url URL].

500 villages with 6 daily slots each (3,000 schedules), one loudspeaker per village,
the real private broker, gateway and scheduler. Measured on the wall clock:
- rebuild: the time to derive every APScheduler job from the schedule rows;
- the county-wide morning programme: 500 schedules due at the same instant (the next
  whole minute); lateness from the planned time to each command's publish (negative:
  published ahead, as the scheduler dispatches ``schedule.dispatch_lead_seconds`` early
  and loudspeakers hold commands until their not_before);
- spread occurrences: one-off schedules 100 ms apart during the following minute.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, make_url, select, text

from broadcast.models import Broadcast, Command
from broadcast.planning import ScheduleRequest
from broadcast.settings import load_settings
from cunxiang.runtime import build_services
from cunxiang.server import running
from scheduler.runner import BroadcastScheduler

VILLAGES = 500
SLOTS = ("07:00", "09:30", "12:00", "15:00", "18:30", "20:00")
SPARE_SLOTS = ("10:30", "16:30")  # when a slot falls within the run's next half hour
SPREAD = 300


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _fresh_postgres(url: str) -> tuple[str, str]:
    name = f"cunxiang_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False), name


def _drop_postgres(url: str, name: str) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def run(database_url: str | None, villages: int = VILLAGES) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, object] = {
            "data_dir": Path(tmp),
            "commands": {"resend_seconds": 3600},
            "schedule": {"quiet_hours": "-"},
            # Precision of firing, not the review workflow: schedules are approved as saved.
            "approval": {"required": False},
        }
        if database_url:
            overrides["database_url"] = database_url
        settings = load_settings(None, **overrides)
        services = build_services(settings)
        try:
            return _measure(services, villages)
        finally:
            services.close()


def _measure(services: object, villages: int) -> dict[str, float]:
    from broadcast.services import Services

    assert isinstance(services, Services)
    notice = services.add_notice("早间节目", "各位村民早上好。")
    ids = []
    for i in range(villages):
        v = services.add_village(f"村{i:03d}", f"330782{i:06d}")
        services.add_speaker(f"spk-{i:03d}", v.id)
        ids.append(v.id)
    zone = services.settings.zone
    # The other daily slots first (none in the next half hour, so none meets the morning
    # programme); then the "07:00" programme, the next whole minute at least 25 s away, is
    # picked once the slow part of the setup is over, so it cannot pass while rows are saved.
    now_local = services.now().astimezone(zone)
    soon = {(now_local + timedelta(minutes=m)).strftime("%H:%M") for m in range(31)}
    others = [s for s in (*SLOTS[1:], *SPARE_SLOTS) if s not in soon][: len(SLOTS) - 1]
    for vid in ids:
        for slot in others:
            services.add_schedule(ScheduleRequest(notice.id, [vid], "daily", time_of_day=slot))
    morning = (services.now() + timedelta(seconds=85)).replace(second=0, microsecond=0)
    morning_hhmm = morning.astimezone(zone).strftime("%H:%M")
    for vid in ids:
        services.add_schedule(ScheduleRequest(notice.id, [vid], "daily", time_of_day=morning_hhmm))
    spread_at = [morning + timedelta(seconds=5, milliseconds=100 * k) for k in range(SPREAD)]
    for k, at in enumerate(spread_at):
        services.add_schedule(ScheduleRequest(notice.id, [ids[k % len(ids)]], "once", at=at))

    rebuild = BroadcastScheduler(services)
    t0 = time.perf_counter()
    rebuild.sync()
    rebuild_s = time.perf_counter() - t0
    jobs = len(rebuild._aps.get_jobs())

    with running(services.settings, role="scheduler", services=services):
        end = spread_at[-1] + timedelta(seconds=5)
        pause = threading.Event()
        while datetime.now(UTC) < end:
            pause.wait(0.5)

    with services.sessions() as s:
        rows = s.execute(
            select(Broadcast.planned_at, Command.last_sent_at).join(
                Command, Command.broadcast_id == Broadcast.id
            )
        ).all()
    morning_late = [
        (sent - planned).total_seconds() * 1000
        for planned, sent in rows
        if planned == morning and sent
    ]
    spread_late = [
        (sent - planned).total_seconds() * 1000
        for planned, sent in rows
        if planned != morning and sent
    ]
    unsent = sum(1 for _p, sent in rows if sent is None)
    return {
        "schedules": float(villages * len(SLOTS) + SPREAD),
        "jobs": float(jobs),
        "rebuild_s": rebuild_s,
        "morning_commands": float(len(morning_late)),
        "morning_p50_ms": statistics.median(morning_late) if morning_late else float("nan"),
        "morning_p99_ms": _pct(morning_late, 0.99) if morning_late else float("nan"),
        "morning_max_ms": max(morning_late) if morning_late else float("nan"),
        "spread_commands": float(len(spread_late)),
        "spread_p50_ms": statistics.median(spread_late) if spread_late else float("nan"),
        "spread_p99_ms": _pct(spread_late, 0.99) if spread_late else float("nan"),
        "spread_max_ms": max(spread_late) if spread_late else float("nan"),
        "unsent": float(unsent),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scheduling")
    parser.add_argument("--database-url", help="PostgreSQL server URL (a fresh database is made)")
    parser.add_argument("--villages", type=int, default=VILLAGES)
    args = parser.parse_args(argv)
    results = []
    results.append(("SQLite", run(None, args.villages)))
    if args.database_url:
        url, name = _fresh_postgres(args.database_url)
        try:
            results.append(("PostgreSQL", run(url, args.villages)))
        finally:
            _drop_postgres(args.database_url, name)
    keys = list(results[0][1])
    print("| measure | " + " | ".join(name for name, _ in results) + " |")
    print("| --- |" + " --- |" * len(results))
    for key in keys:
        print(
            f"| {key} | "
            + " | ".join(
                f"{r[key]:.3f}"
                if key.endswith("_s")
                else f"{r[key]:.1f}"
                if "ms" in key
                else f"{r[key]:.0f}"
                for _, r in results
            )
            + " |"
        )
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
