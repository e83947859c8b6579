"""SQLite on the event loop's thread: another process's lock is waited for, never blocked on."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from helpline import db as db_module
from helpline.audit.models import AuditEvent
from helpline.audit.service import record
from helpline.db import Database
from helpline.sqlite_inline import DatabaseBusy
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite's own locking")


def _hold_write_lock(path: str, seconds: float, held: threading.Event) -> None:
    """Play another process: take SQLite's write lock on ``path`` for ``seconds``."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        held.set()
        threading.Event().wait(seconds)
        other.execute("ROLLBACK")
    finally:
        other.close()


async def _write_once(db: Database) -> None:
    async with db.transaction() as session:
        record(session, at=datetime.now(UTC), actor="test", action="lock.waited")


async def test_a_locked_database_is_waited_for_while_the_loop_keeps_running(
        db: Database) -> None:
    """Test that a write waits for another writer's lock and the event loop still runs."""
    path = db.engine.url.database
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, 0.5, held))
    holder.start()
    assert await asyncio.to_thread(held.wait, 5)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await _write_once(db)  # waits about 0.5 s for the other writer
    finally:
        ticker.cancel()
        await asyncio.to_thread(holder.join)
    assert ticks >= 10, "the loop was blocked while the database was locked"
    async with db.reader() as session:
        stored = await session.scalar(select(func.count()).select_from(AuditEvent)
                                      .where(AuditEvent.action == "lock.waited"))
    assert stored == 1


async def test_a_lock_held_past_the_timeout_is_a_clear_error(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that a write gives up with DatabaseBusy when the lock outlives the busy timeout."""
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_SECONDS", 0.2)
    impatient = Database(str(db.engine.url))
    path = db.engine.url.database
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, 1.0, held))
    holder.start()
    try:
        assert await asyncio.to_thread(held.wait, 5)
        with pytest.raises(OperationalError) as caught:
            await _write_once(impatient)
        assert isinstance(caught.value.orig, DatabaseBusy)
        assert "waited 0.2 s" in str(caught.value.orig)
    finally:
        await asyncio.to_thread(holder.join)
        await impatient.dispose()
