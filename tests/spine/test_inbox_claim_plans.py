"""The inbox worker's claims find their rows by index, never by reading the whole inbox.

A flood leaves tens of thousands of texts waiting, and on SQLite every claim runs on the
event loop's thread: a claim that scanned the inbox, or probed it once a row without an
index, would stall every webhook with it. The plans are SQLite's (its planner picks them
by rule on these queries); PostgreSQL chooses by cost, so its plans would depend on the
rows a test made.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import sqlite

from helpline.db import Database
from helpline.inbox.worker import claim_query, first_urgent_texts_query, senders_query
from tests.conftest import POSTGRES_URL

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)

pytestmark = pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite's query plans")


async def plan(db: Database, query: object) -> list[str]:
    """Return the details of SQLite's plan for ``query``."""
    sql = str(query.compile(dialect=sqlite.dialect(),  # type: ignore[attr-defined]
                            compile_kwargs={"literal_binds": True}))
    async with db.reader() as session:
        return [row[-1] for row in (await session.execute(text("EXPLAIN QUERY PLAN " + sql)))]


async def test_a_claim_walks_the_claim_index_and_probes_leased_rows_only(db: Database) -> None:
    """Test that the claim reads pending rows in order and asks about leased rows by index."""
    steps = await plan(db, claim_query(NOW, limit=50))
    assert steps[0].startswith("SEARCH inbox USING INDEX ix_inbox_urgent_first (status=?)")
    assert any(step.startswith("SEARCH inbox_1 USING INDEX ix_inbox_sender_leased "
                               "(sender_key=? AND id<?)") for step in steps), steps
    assert not any(step.startswith("SCAN") or "TEMP B-TREE" in step for step in steps), steps


async def test_an_urgent_claim_reads_urgent_rows_only(db: Database) -> None:
    """Test that a claim of urgent texts reads only the urgent end of the index."""
    steps = await plan(db, claim_query(NOW, limit=50, urgent_only=True))
    assert steps == ["SEARCH inbox USING INDEX ix_inbox_urgent_first (status=? AND urgent=?)"]


async def test_urgent_senders_texts_are_read_from_pending_rows_in_the_claim_index(
        db: Database) -> None:
    """Test that an urgent sender's other texts are found among pending rows, not the table.

    The table also holds every filed text's tombstone until retention removes it.
    """
    steps = await plan(db, senders_query(NOW, {"a" * 64, "b" * 64}, before=1000))
    assert steps == ["SEARCH inbox USING INDEX ix_inbox_urgent_first (status=?)"]


async def test_a_flood_filled_claim_finds_other_senders_in_one_pass(db: Database) -> None:
    """Test that the first urgent text of each other sender is found in one index pass."""
    steps = await plan(db, first_urgent_texts_query(NOW, limit=10, besides=["a" * 64]))
    assert "SEARCH inbox USING COVERING INDEX ix_inbox_urgent_first (status=? AND urgent=?)" \
        in steps, steps
    assert not any(step.startswith("SCAN") for step in steps), steps
