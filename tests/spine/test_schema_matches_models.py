"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from helpline.db import Database
from helpline.models import Base
from tests.conftest import POSTGRES_URL


@pytest.mark.skipif(not POSTGRES_URL, reason="on SQLite the inbox is an attached file, "
                    "which autogenerate would report as a missing table")
async def test_migrated_database_has_no_drift_from_the_models(db: Database) -> None:
    """Test that autogenerate finds nothing to add, drop or alter after every migration."""
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    assert diff == []
