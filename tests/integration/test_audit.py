"""The audit log: who changed what, when, before and after; tampering is detected."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from broadcast import audit
from broadcast.models import AuditEntry
from broadcast.planning import ScheduleRequest
from broadcast.services import Services
from broadcast.settings import Settings
from cunxiang.cli import main
from tests.conftest import ServicesFactory
from tests.helpers import Clock

pytestmark = pytest.mark.approval


@pytest.fixture
def clock(fixed_now: datetime) -> Clock:
    return Clock(fixed_now)


@pytest.fixture
def svc(make_services: ServicesFactory, clock: Clock) -> Services:
    services = make_services(clock=clock)
    with audit.acting_as("cli:root"):
        services.add_user("admin", "admin-password-1", "admin")
        services.add_user("editor", "editor-password-1", "editor")
        services.add_village("东村", "dc")
        services.add_speaker("dc-01", "dc")
    return services


def _entries(svc: Services) -> list[audit.AuditView]:
    return list(reversed(svc.audit_entries(limit=1000)))


def test_changes_are_recorded_with_actor_time_and_before_after(svc: Services, clock: Clock) -> None:
    clock.now += timedelta(minutes=5)
    with audit.acting_as("editor"):
        notice = svc.add_notice("停水通知", "明天停水。")
        view = svc.add_schedule(ScheduleRequest(notice.id, ["dc"], "daily", time_of_day="08:00"))
    clock.now += timedelta(minutes=5)
    with audit.acting_as("admin"):
        svc.reject("schedule", view.id, "时间不对")
    entries = _entries(svc)
    inserted = [e for e in entries if e.action == "insert" and e.table_name == "notices"]
    assert len(inserted) == 1
    assert inserted[0].actor == "editor"
    assert inserted[0].changes["after"]["title"] == "停水通知"
    rejected = [e for e in entries if e.table_name == "schedules" and e.actor == "admin"]
    assert rejected[-1].at == clock.now
    assert rejected[-1].changes["before"]["status"] == "pending"
    assert rejected[-1].changes["after"]["status"] == "rejected"
    assert rejected[-1].changes["after"]["review_note"] == "时间不对"
    # Many-to-many targets are recorded by id.
    created = next(e for e in entries if e.table_name == "schedules" and e.action == "insert")
    assert created.changes["after"]["villages"] == ["1"]
    # Secrets never enter the log; machine telemetry does not either.
    users = [e for e in entries if e.table_name == "users"]
    assert users and all(e.changes["after"]["password_hash"] == "***" for e in users)
    assert svc.set_availability("dc-01", True)
    assert len(_entries(svc)) == len(entries)
    assert svc.verify_audit().ok


def test_altering_or_deleting_one_entry_is_detected(svc: Services, clock: Clock) -> None:
    with audit.acting_as("editor"):
        for i in range(3):
            svc.add_notice(f"通知{i}", "内容。")
    result = svc.verify_audit()
    assert result.ok and result.checked == len(_entries(svc)) >= 6
    victim = _entries(svc)[3]
    original = victim.changes
    with svc.engine.begin() as conn:
        forged = json.dumps({**original, "after": {"title": "伪造"}}, ensure_ascii=False)
        conn.execute(update(AuditEntry).where(AuditEntry.id == victim.id).values(changes=forged))
    bad = svc.verify_audit()
    assert (bad.ok, bad.bad_id) == (False, victim.id)
    assert "altered" in bad.reason
    with svc.engine.begin() as conn:
        conn.execute(delete(AuditEntry).where(AuditEntry.id == victim.id))
    gone = svc.verify_audit()
    assert (gone.ok, gone.bad_id) == (False, victim.id + 1)
    assert "missing" in gone.reason


def test_recomputing_the_hash_of_an_altered_entry_breaks_the_next_link(svc: Services) -> None:
    """A forger who also fixes the row's own hash is caught by the next row's prev_hash."""
    with audit.acting_as("editor"):
        svc.add_notice("通知", "内容。")
        svc.add_notice("通知二", "内容。")
    victim = _entries(svc)[2]
    with svc.engine.begin() as conn:
        row = conn.execute(select(AuditEntry).where(AuditEntry.id == victim.id)).one()
        forged = "{}"
        digest = audit.entry_hash(
            row.id,
            row.at,
            "someone-else",
            row.action,
            row.table_name,
            row.row_id,
            forged,
            row.prev_hash,
        )
        conn.execute(
            update(AuditEntry)
            .where(AuditEntry.id == victim.id)
            .values(actor="someone-else", changes=forged, hash=digest)
        )
    bad = svc.verify_audit()
    assert (bad.ok, bad.bad_id) == (False, victim.id + 1)


def test_audit_verify_command(
    settings: Settings, svc: Services, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data_dir = str(settings.data_dir)
    db = ["--data-dir", data_dir]
    if settings.database_url is not None:
        pytest.skip("the CLI reads the data dir's settings; covered on SQLite")
    assert main([*db, "notice", "add", "--title", "通知", "--approve", "今晚开会。"]) == 0
    assert main([*db, "audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "audit log ok" in out
    entries = _entries(svc)
    approved = [e for e in entries if e.actor.startswith("cli:") and e.table_name == "notices"]
    assert approved and approved[-1].changes["after"]["status"] == "approved"
    with svc.engine.begin() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.id == 2).values(actor="intruder"))
    assert main([*db, "audit", "verify"]) == 1
    assert "broken at entry 2" in capsys.readouterr().out


def test_user_commands(
    settings: Settings, svc: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    if settings.database_url is not None:
        pytest.skip("the CLI reads the data dir's settings; covered on SQLite")
    db = ["--data-dir", str(settings.data_dir)]
    assert main([*db, "user", "add", "town-ed", "--role", "editor", "--villages", "dc"]) == 0
    out = capsys.readouterr().out
    assert "town-ed\teditor\tactive\t东村" in out
    assert "password:" in out
    assert main([*db, "user", "set", "town-ed", "--role", "reviewer", "--everywhere"]) == 0
    assert "town-ed\treviewer\tactive\t全部" in capsys.readouterr().out
    assert main([*db, "user", "set", "admin", "--no-active"]) == 2
    assert "最后一个" in capsys.readouterr().err
    assert main([*db, "user", "passwd", "town-ed"]) == 0
    assert "shown once" in capsys.readouterr().out
    assert svc.authenticate("town-ed", "editor-password-1") is None


def test_concurrent_writers_keep_one_chain(svc: Services) -> None:
    """Appends from several threads at once (PostgreSQL: the advisory lock) never fork."""
    import threading

    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            with audit.acting_as(f"worker-{worker}"):
                for i in range(5):
                    svc.add_lexicon_entry(f"词{worker}-{i}", f"ci2 {worker}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    before = svc.verify_audit().checked
    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = svc.verify_audit()
    assert result.ok
    assert result.checked == before + 20
    actors = {e.actor for e in svc.audit_entries(limit=20)}
    assert actors == {f"worker-{n}" for n in range(4)}
