"""SQLite's write-ahead log is copied into the database by a thread, never in a commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from helpline import sqlite_checkpoint
from helpline.audit.service import record
from helpline.db import Database
from helpline.sqlite_checkpoint import Checkpointer
from tests.conftest import POSTGRES_URL

sqlite_only = pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite's write-ahead log")


async def _write(db: Database, rows: int) -> None:
    async with db.transaction() as session:
        for _ in range(rows):
            record(session, at=datetime.now(UTC), actor="test", action="wal.filled")


@sqlite_only
async def test_commits_never_checkpoint(db: Database) -> None:
    """Test that the service's connections leave checkpoints to the Checkpointer."""
    async with db.reader() as session:
        pages = (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
    assert pages == 0


@sqlite_only
async def test_checkpointer_copies_the_whole_log(db: Database) -> None:
    """Test that a checkpoint copies every page of the log into the database file."""
    await _write(db, 2000)
    checkpointer = db.checkpointers()[0]  # the main file's
    try:
        busy, pages, copied = await checkpointer.once()
    finally:
        checkpointer.close()
    assert busy == 0
    assert pages > 0
    assert copied == pages


@sqlite_only
async def test_a_cancelled_checkpointer_closes_its_connection(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that cancelling ``run`` mid-checkpoint waits for the thread, then closes."""
    await _write(db, 200)
    checkpointer = Checkpointer(db.engine.url.database or "", every=0)
    inside, release = threading.Event(), threading.Event()
    checkpoint = checkpointer._checkpoint

    def held_checkpoint() -> tuple[int, int, int]:
        result = checkpoint()  # opens the connection
        inside.set()
        release.wait(5)
        return result

    monkeypatch.setattr(checkpointer, "_checkpoint", held_checkpoint)
    task = asyncio.create_task(checkpointer.run())
    try:
        assert await asyncio.to_thread(inside.wait, 5)
        task.cancel()
        await asyncio.sleep(0.05)
        # The thread still uses the connection: run must not close it under the thread.
        assert not task.done()
        assert checkpointer._conn is not None
    finally:
        release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert checkpointer._conn is None


async def test_the_service_runs_a_checkpointer_on_sqlite_only(client: TestClient) -> None:
    """Test that a serving app checkpoints SQLite in the background (and not PostgreSQL)."""
    names = {task.get_name() for task in asyncio.all_tasks()}
    assert ("wal-checkpoint" in names) == (not POSTGRES_URL)


@sqlite_only
async def test_a_long_log_starts_again_from_the_top(db: Database,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that a log copied while writes go on is started again, not left to grow.

    A writer that began before the copy finished keeps the log from restarting by itself;
    with steady writes there is always one, so the log grew without end.
    """
    monkeypatch.setattr(sqlite_checkpoint, "RESTART_PAGES", 1)
    await _write(db, 2000)
    path = db.engine.url.database or ""
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # a write under way while the checkpoint runs
    writer.execute("INSERT INTO audit_events (at, actor, action, details) "
                   "VALUES ('2026-11-22 00:00:00.000000', 'test', 'wal.late', '{}')")

    def commit_soon() -> None:
        time.sleep(0.02)
        writer.execute("COMMIT")

    checkpointer = Checkpointer(path)
    try:
        committing = asyncio.create_task(asyncio.to_thread(commit_soon))
        _, before, _ = await checkpointer.once()
        await committing
        await _write(db, 1)
        _, after, _ = await checkpointer.once()
    finally:
        checkpointer.close()
        writer.close()
    assert after < before  # the next write started the log from the top
