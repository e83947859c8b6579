"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

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


PREDICATE = text("SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i "
                 "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = :name")


@pytest.mark.skipif(not POSTGRES_URL, reason="reads PostgreSQL's own form of each condition")
async def test_partial_indexes_hold_the_rows_the_models_say(db: Database) -> None:
    """Test that each partial index's condition is the model's: autogenerate ignores them.

    A query uses a partial index only if its condition matches, so a drifted condition
    would quietly put retention back to reading whole tables.
    """
    partial = [(table, index) for table in Base.metadata.sorted_tables
               for index in table.indexes
               if index.dialect_options["postgresql"]["where"] is not None]
    assert len(partial) >= 5
    async with db.engine.connect() as conn:
        for table, index in partial:
            built = (await conn.execute(PREDICATE, {"name": index.name})).scalar_one()
            columns = ", ".join(column.name for column in index.columns)
            where = index.dialect_options["postgresql"]["where"]
            probe = await conn.begin_nested()
            await conn.execute(text(f"CREATE INDEX drift_probe ON {table.name} ({columns}) "
                                    f"WHERE {where}"))
            wanted = (await conn.execute(PREDICATE, {"name": "drift_probe"})).scalar_one()
            await probe.rollback()
            assert built == wanted, index.name
