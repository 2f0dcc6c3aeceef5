"""The Alembic migrations produce exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from broadcast.db import make_engine, migrate
from broadcast.models import Base
from broadcast.settings import Settings

# Migrations are the subject: they start from nothing, on PostgreSQL too.
pytestmark = pytest.mark.empty_database


def test_migrated_schema_matches_the_models(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.db_url())
    try:
        migrate(engine)
        migrate(engine)  # a second run is a no-op
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        engine.dispose()
