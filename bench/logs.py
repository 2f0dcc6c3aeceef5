"""As-run log at scale: python -m bench.logs [--events N] [--database-url URL].

Fills a fresh database with a county's half year of history: 50 villages in 5 towns,
1,000 loudspeakers, broadcasts to two villages each (40 loudspeakers), four receipts per
loudspeaker (received, downloaded, started, finished; some fail, are rejected or stay
offline) until there are ``--events`` event rows (default 1,000,000), plus online/offline
history. Bulk inserts, no Python objects per row. Then measures through Flask's test client,
logged in: the log page (first page, unfiltered and with filters), a broadcast's detail
page, the report and health pages, and the CSV export of ~100,000 rows.

Targets: log page under 200 ms, export of 100,000 rows under 5 s.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Connection, create_engine, insert, make_url, text

from broadcast.keys import mosquitto_password_hash
from broadcast.models import (
    Area,
    Broadcast,
    Command,
    Event,
    Loudspeaker,
    Notice,
    SpeakerStatusChange,
    Village,
)
from broadcast.settings import load_settings
from cunxiang.runtime import build_services
from web import create_app

VILLAGES = 50
TOWNS = 5
PER_VILLAGE = 20
TARGET_VILLAGES = 2
END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BATCH = 20_000
PASSWORD = "bench-password-1"
PAGE_TARGET_MS = 200.0
EXPORT_TARGET_S = 5.0


def _batches(rows: Iterator[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(conn: Connection, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    for batch in _batches(rows):
        conn.execute(insert(table), batch)
        count += len(batch)
    return count


def fill(conn: Connection, events: int, seed: int = 7) -> dict[str, Any]:
    """Write the history; returns what the measurements need (ids, the date range)."""
    rng = random.Random(seed)
    created = END - timedelta(days=400)
    conn.execute(
        insert(Area),
        [
            {
                "id": 1,
                "level": "county",
                "code": "330102000000",
                "name": "清河县",
                "created_at": created,
            }
        ]
        + [
            {
                "id": 2 + t,
                "level": "town",
                "code": f"330102{t + 1:03d}000",
                "name": f"第{t + 1}镇",
                "parent_id": 1,
                "created_at": created,
            }
            for t in range(TOWNS)
        ],
    )
    conn.execute(
        insert(Village),
        [
            {
                "id": v + 1,
                "code": f"v{v + 1:03d}",
                "name": f"村{v + 1:03d}",
                "town_id": 2 + v % TOWNS,
                "created_at": created,
            }
            for v in range(VILLAGES)
        ],
    )
    pw = mosquitto_password_hash("not-used")
    speakers = [
        (f"v{v + 1:03d}-{n:02d}", v + 1) for v in range(VILLAGES) for n in range(PER_VILLAGE)
    ]
    conn.execute(
        insert(Loudspeaker),
        [
            {
                "id": sid,
                "village_id": vid,
                "name": "",
                "location": "",
                "public_key": "A" * 43 + "=",
                "mqtt_password_hash": pw,
                "last_seq": 0,
                "online": rng.random() < 0.9,
                "last_seen_at": END - timedelta(minutes=rng.randint(0, 600)),
                "created_at": created,
            }
            for sid, vid in speakers
        ],
    )
    by_village: dict[int, list[str]] = {}
    for sid, vid in speakers:
        by_village.setdefault(vid, []).append(sid)
    notices = 20
    conn.execute(
        insert(Notice),
        [
            {
                "id": n + 1,
                "title": f"通知第{n + 1}号",
                "body": "各位村民请注意。",
                "audio_sha256": f"{n + 1:064x}",
                "audio_size": 100_000,
                "audio_duration_ms": 60_000,
                "created_by": "bench",
                "created_at": created,
                "kind": "text",
                "repeat": 2,
                "chime": True,
                "closing": "",
            }
            for n in range(notices)
        ],
    )
    per_broadcast = TARGET_VILLAGES * PER_VILLAGE
    # A few loudspeakers fail or stay offline and send fewer receipts: ~3.85 per command.
    n_broadcasts = max(1, -(-events // int(per_broadcast * 3.8)))
    span = timedelta(days=180)
    step = span / n_broadcasts
    first = END - span
    seqs: dict[str, int] = {}
    commands: list[dict[str, Any]] = []
    evs: list[dict[str, Any]] = []
    n_commands = n_events = 0
    broadcasts: list[dict[str, Any]] = []
    for b in range(n_broadcasts):
        planned = first + step * b
        bid = b + 1
        broadcasts.append(
            {
                "id": bid,
                "notice_id": 1 + b % notices,
                "planned_at": planned,
                "expires_at": planned + timedelta(minutes=15),
                "priority": 50,
                "state": 3,
                "missed": False,
                "drill": b % 50 == 0,
                "created_at": planned,
            }
        )
    conn.execute(insert(Broadcast), broadcasts)
    for b in range(n_broadcasts):
        planned = broadcasts[b]["planned_at"]
        bid = b + 1
        villages = rng.sample(range(1, VILLAGES + 1), TARGET_VILLAGES)
        for vid in villages:
            for sid in by_village[vid]:
                seqs[sid] = seqs.get(sid, 0) + 1
                cid = str(uuid.UUID(int=rng.getrandbits(128)))
                roll = rng.random()
                received = planned + timedelta(seconds=rng.uniform(0.1, 2))
                started = received + timedelta(seconds=3)
                ended = started + timedelta(seconds=120)
                row: dict[str, Any] = {
                    "id": cid,
                    "broadcast_id": bid,
                    "speaker_id": sid,
                    "seq": seqs[sid],
                    "type": "play",
                    "priority": 50,
                    "params": {"broadcast_id": bid, "duration_ms": 60_000, "repeat": 2},
                    "issued_at": planned,
                    "not_before": planned,
                    "expires_at": planned + timedelta(minutes=15),
                    "status": "done",
                    "attempts": 1,
                    "last_sent_at": planned,
                    "received_at": received,
                    "started_at": started,
                    "ended_at": ended,
                    "reason": None,
                    "plays": 2,
                    "outcome": "finished",
                }
                kinds = [("received", received), ("downloaded", received), ("started", started)]
                if roll < 0.03:  # offline: never answered
                    row.update(
                        status="expired", outcome="offline", received_at=None, started_at=None
                    )
                    row.update(ended_at=None, plays=0)
                    kinds = []
                elif roll < 0.05:
                    row.update(outcome="failed", reason="player", ended_at=started, plays=0)
                    kinds.append(("failed", started))
                elif roll < 0.06:
                    row.update(outcome="rejected", reason="expired", started_at=None, plays=0)
                    row.update(ended_at=received)
                    kinds = [("rejected", received)]
                else:
                    kinds.append(("finished", ended))
                commands.append(row)
                for kind, at in kinds:
                    evs.append(
                        {
                            "command_id": cid,
                            "speaker_id": sid,
                            "kind": kind,
                            "at": at,
                            "received_at": at,
                            "details": {"repeat": 2} if kind == "finished" else {},
                        }
                    )
        if len(commands) >= BATCH:
            n_commands += _insert(conn, Command, iter(commands))
            n_events += _insert(conn, Event, iter(evs))
            commands, evs = [], []
    n_commands += _insert(conn, Command, iter(commands))
    n_events += _insert(conn, Event, iter(evs))
    # Online/offline history: a few drop-outs per loudspeaker over the last month.
    changes = []
    for sid, _vid in speakers:
        at = END - timedelta(days=30)
        for _ in range(rng.randint(0, 6)):
            at += timedelta(hours=rng.uniform(10, 100))
            changes.append({"speaker_id": sid, "online": False, "at": at})
            at += timedelta(minutes=rng.uniform(5, 300))
            changes.append({"speaker_id": sid, "online": True, "at": at})
    _insert(conn, SpeakerStatusChange, iter(changes))
    return {
        "broadcasts": n_broadcasts,
        "commands": n_commands,
        "events": n_events,
        "status_changes": len(changes),
        "first": first,
        "step": step,
        "per_broadcast": per_broadcast,
    }


def _csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    if found is None:
        raise RuntimeError("login page has no CSRF token")
    return found.group(1)


def _timed(call: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """Median wall-clock and CPU seconds (this process: the test client runs the app in it)
    over ``runs`` calls after one warm-up, and the last result. On a machine busy with
    other work the CPU time is the steadier figure."""
    result = call()
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = call()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def _get(client: FlaskClient, path: str) -> bytes:
    resp = client.get(path)
    try:
        if resp.status_code != 200:
            raise RuntimeError(f"GET {path}: {resp.status_code}")
        return resp.get_data()
    finally:
        resp.close()


def run(
    database_url: str | None, events: int, export_rows: int, runs: int
) -> list[tuple[str, str, str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, object] = {"data_dir": Path(tmp) / "data"}
        if database_url:
            overrides["database_url"] = database_url
        settings = load_settings(None, **overrides)
        services = build_services(settings, clock=lambda: END)
        try:
            t0 = time.perf_counter()
            with services.engine.begin() as conn:
                info = fill(conn, events)
            if services.engine.dialect.name == "postgresql":
                # What autovacuum would soon do after such a load. SQLite gets no ANALYZE:
                # a township's database never has one run on it either.
                with services.engine.connect() as conn:
                    conn.execute(text("ANALYZE"))
                    conn.commit()
            fill_s = time.perf_counter() - t0
            services.add_user("bench", PASSWORD)
            client = create_app(services, testing=True).test_client()
            token = _csrf(client.get("/login").text)
            client.post(
                "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token}
            )
            zone = settings.zone
            last_day = END.astimezone(zone).date()
            # The newest broadcasts that make ~export_rows rows: a date range from their first day.
            n_export = max(1, export_rows // info["per_broadcast"])
            export_from = (END - info["step"] * n_export).astimezone(zone).date()
            week = last_day - timedelta(days=6)
            pages = [
                ("log page, first page", "/log"),
                ("log page, village + 7 days", f"/log?village_id=7&start={week}&end={last_day}"),
                ("log page, outcome=failed", "/log?outcome=failed"),
                (
                    "log page, notice + 30 days",
                    f"/log?notice_id=3&start={last_day - timedelta(days=29)}",
                ),
                ("log page, page 50", "/log?page=50"),
                ("log rows (live refresh)", "/log/rows"),
                ("broadcast detail", f"/log/{info['broadcasts'] // 2}"),
                ("monthly report", f"/reports?period=month&month={last_day:%Y-%m}"),
                ("loudspeaker health (7 days)", "/speakers/health"),
            ]
            table = [
                ("measure", "what", "wall", "cpu", "target"),
                (
                    "fill",
                    f"{info['events']:,} events, {info['commands']:,} commands, "
                    f"{info['broadcasts']:,} broadcasts",
                    f"{fill_s:.1f} s",
                    "",
                    "",
                ),
            ]
            for name, path in pages:
                seconds, cpu, _ = _timed(partial(_get, client, path), runs)
                target = PAGE_TARGET_MS if name.startswith("log page") else None
                verdict = "" if target is None else ("ok" if seconds * 1000 < target else "SLOW")
                table.append(
                    (name, path, f"{seconds * 1000:.0f} ms", f"{cpu * 1000:.0f} ms", verdict)
                )
            path = f"/log/export.csv?start={export_from}"
            seconds, cpu, body = _timed(partial(_get, client, path), max(1, runs // 3))
            rows = body.count(b"\n") - 1
            verdict = "ok" if seconds < EXPORT_TARGET_S else "SLOW"
            table.append(
                (f"CSV export, {rows:,} rows", path, f"{seconds:.2f} s", f"{cpu:.2f} s", verdict)
            )
            return table
        finally:
            services.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.logs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--export-rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per page (median)")
    parser.add_argument("--database-url", help="a PostgreSQL server: a fresh database is made")
    args = parser.parse_args(argv)
    url, name = args.database_url, None
    if url:
        name = f"cunxiang_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(url).set(database=name).render_as_string(hide_password=False)
    try:
        table = run(url, args.events, args.export_rows, args.runs)
    finally:
        if args.database_url and name:
            admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    widths = [max(len(str(r[i])) for r in table) for i in range(5)]
    print(f"as-run log benchmark ({'PostgreSQL' if url else 'SQLite'})")
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0 if all(r[4] != "SLOW" for r in table) else 1


if __name__ == "__main__":
    raise SystemExit(main())
