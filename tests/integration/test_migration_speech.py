"""0005_speech on a database that already holds notices (SQLite, or PostgreSQL when
CUNXIANG_TEST_DATABASE_URL is set): existing notices become text read once, with a chime."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text

from broadcast.db import alembic_config, make_engine, migrate
from broadcast.settings import Settings

NOTICE = (
    "INSERT INTO notices (id, title, body, audio_sha256, audio_size, audio_duration_ms, "
    "created_by, created_at) VALUES (1, '开会', '明天开会。', :sha, 1000, 2000, 'li', :at)"
)
SCHEDULE = (
    "INSERT INTO schedules (id, notice_id, kind, start_at, interval_days, skip_dates, timezone,"
    " priority, repeat, volume, drill, enabled, created_by, created_at) VALUES (1, 1, 'once',"
    " :at, 1, '[]', 'Asia/Shanghai', 50, 1, 80, false, true, 'li', :at)"
)


# Migrations are the subject: they start from nothing, on PostgreSQL too.
pytestmark = pytest.mark.empty_database


def test_existing_notices_survive_the_speech_migration(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.db_url())
    cfg = alembic_config(engine)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004_places")
        with engine.begin() as conn:
            at = "2026-11-22 01:00:00+00:00"
            conn.execute(text(NOTICE), {"sha": "a" * 64, "at": at})
            conn.execute(text(SCHEDULE), {"at": at})
        migrate(engine)
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT kind, voice, rate, repeat, chime, closing, audio_key, rendered_at,"
                    " source_sha256 FROM notices"
                )
            ).one()
        kind, voice, rate, repeat, chime, closing, audio_key, rendered_at, source = row
        assert (kind, voice, rate, repeat, bool(chime), closing) == (
            "text",
            None,
            None,
            1,
            True,
            "",
        )
        assert audio_key is None and source is None and rendered_at is not None
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO lexicon_entries (term, replacement, note, created_by,"
                    " created_at, updated_at) VALUES ('蚌埠', '蹦步', '', '', :at, :at)"
                ),
                {"at": "2026-11-22 01:00:00+00:00"},
            )
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004_places")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM notices")).scalar_one() == 1
            assert conn.execute(text("SELECT count(*) FROM schedules")).scalar_one() == 1
        migrate(engine)  # and up again
    finally:
        engine.dispose()
