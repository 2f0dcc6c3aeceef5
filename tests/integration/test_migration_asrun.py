"""0007_asrun on a database that already holds receipts (SQLite, or PostgreSQL when
CUNXIANG_TEST_DATABASE_URL is set): the as-run columns of commands are filled from them."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text

from broadcast.db import alembic_config, make_engine
from broadcast.settings import Settings

AT = "2026-11-22 01:00:00+00:00"
ROWS = (
    "INSERT INTO villages (id, code, name, created_at) VALUES (1, 'dc', '东村', :at)",
    "INSERT INTO loudspeakers (id, village_id, name, location, public_key, mqtt_password_hash,"
    " last_seq, online, created_at) VALUES ('dc-01', 1, '', '', 'k', 'p', 2, false, :at)",
    "INSERT INTO notices (id, title, body, audio_sha256, audio_size, audio_duration_ms,"
    " created_by, created_at) VALUES (1, '开会', '明天开会。', 'aa', 1000, 2000, 'li', :at)",
    "INSERT INTO broadcasts (id, notice_id, planned_at, expires_at, priority, state, missed,"
    " drill, created_at) VALUES (1, 1, :at, :at, 50, 3, false, false, :at)",
    "INSERT INTO commands (id, broadcast_id, speaker_id, seq, type, priority, params, issued_at,"
    " not_before, expires_at, status, attempts, outcome) VALUES"
    " ('c1', 1, 'dc-01', 1, 'play', 50, '{}', :at, :at, :at, 'done', 1, 'finished'),"
    " ('c2', 1, 'dc-01', 2, 'play', 50, '{}', :at, :at, :at, 'done', 1, 'rejected')",
    "INSERT INTO events (command_id, speaker_id, kind, at, received_at, details) VALUES"
    " ('c1', 'dc-01', 'received', '2026-11-22 01:00:01+00:00', :at, '{}'),"
    " ('c1', 'dc-01', 'started', '2026-11-22 01:00:02+00:00', :at, '{}'),"
    " ('c1', 'dc-01', 'finished', '2026-11-22 01:00:40+00:00', :at, '{\"repeat\": 2}'),"
    " ('c2', 'dc-01', 'rejected', '2026-11-22 01:00:03+00:00', :at,"
    ' \'{"reason": "replayed"}\')',
)


# Migrations are the subject: they start from nothing, on PostgreSQL too.
pytestmark = pytest.mark.empty_database


def test_receipts_already_recorded_fill_the_asrun_columns(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.db_url())
    cfg = alembic_config(engine)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0005_speech")
        with engine.begin() as conn:
            for sql in ROWS:
                conn.execute(text(sql), {"at": AT})
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0007_asrun")
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, received_at, started_at, ended_at, reason, plays FROM commands"
                    " ORDER BY id"
                )
            ).all()
        (c1, rec, start, end, reason, plays), (c2, rec2, start2, end2, reason2, plays2) = rows
        assert (c1, reason, plays) == ("c1", None, 2)
        assert "01:00:01" in str(rec) and "01:00:02" in str(start) and "01:00:40" in str(end)
        assert (c2, rec2, start2, reason2, plays2) == ("c2", None, None, "replayed", 0)
        assert "01:00:03" in str(end2)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0005_speech")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM commands")).scalar_one() == 2
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0007_asrun")  # and up again
    finally:
        engine.dispose()
