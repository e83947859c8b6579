"""The inbox's own SQLite file: webhooks commit while a text is being filed."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, select, update

from helpline import appkeys
from helpline.audit.service import record
from helpline.conversations.models import Message
from helpline.db import Database, inbox_path
from helpline.inbox.models import DONE, PENDING, InboxMessage
from helpline.inbox.service import Arrival
from helpline.migrate import alembic_config, upgrade_sync
from tests.conftest import POSTGRES_URL, TwilioWebhooks

sqlite_only = pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite's files and locks")


async def test_a_webhook_commits_while_a_text_is_being_filed(twilio: TwilioWebhooks) -> None:
    """Test that a webhook is stored and answered while a filing holds its transaction open."""
    db = twilio.client.app[appkeys.DB]
    async with db.transaction(yielding=True) as session:
        record(session, at=datetime.now(UTC), actor="test", action="filing.held")
        await session.flush()  # the main file's write lock is held from here to the end
        response = await asyncio.wait_for(twilio.sms("hello", process=False), timeout=5)
        assert response.status == 200
    async with db.reader() as session:
        assert (await session.execute(select(func.count()).select_from(InboxMessage))
                ).scalar_one() == 1


async def test_a_text_filed_but_still_pending_is_not_filed_twice(twilio: TwilioWebhooks,
                                                                  db: Database) -> None:
    """Test the crash between the two files' commits: filed, but the inbox row still pending.

    SQLite commits the main file first, so the inbox row can be left pending; filing it
    again must find the message stored and change nothing but the row's status.
    """
    await twilio.sms("hello", process=False)
    async with db.reader() as session:
        stored = (await session.execute(
            select(InboxMessage.address_enc, InboxMessage.body_enc))).one()
    assert await twilio.client.app[appkeys.INBOX_WORKER].run_once() == 1
    async with db.transaction() as session:  # as if the inbox's commit had been lost
        await session.execute(update(InboxMessage).values(
            status=PENDING, claimed_until=None, address_enc=stored.address_enc,
            body_enc=stored.body_enc))
    async with db.reader() as session:
        before = (await session.execute(select(func.count()).select_from(Message))).scalar_one()
    assert await twilio.client.app[appkeys.INBOX_WORKER].run_once() == 1
    async with db.reader() as session:
        after = (await session.execute(select(func.count()).select_from(Message))).scalar_one()
        status = (await session.execute(select(InboxMessage.status))).scalar_one()
    assert (before, after, status) == (2, 2, DONE)  # the text and one greeting, still


@sqlite_only
async def test_a_yielding_transaction_lets_the_loop_run_between_statements(
        db: Database) -> None:
    """Test that other tasks run inside a yielding transaction, and not inside a plain one."""
    for yielding in (False, True):
        ran = asyncio.Event()
        async with db.transaction(yielding=yielding) as session:
            other = asyncio.get_running_loop().call_soon(ran.set)
            await session.execute(select(1))
            await session.execute(select(1))
            assert ran.is_set() is yielding
        other.cancel()


@sqlite_only
async def test_the_inbox_lives_in_a_file_of_its_own(twilio: TwilioWebhooks, db: Database) -> None:
    """Test that the inbox row is in ``-inbox.db``, not the main file, and is filed from there."""
    await twilio.sms("hello")
    main = db.path or ""
    with sqlite3.connect(main) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    with sqlite3.connect(inbox_path(main)) as conn:
        statuses = [r[0] for r in conn.execute("SELECT status FROM inbox")]
    assert "inbox" not in tables
    assert "messages" in tables
    assert statuses == [DONE]
    async with db.reader() as session:
        assert (await session.execute(select(func.count()).select_from(Message))
                ).scalar_one() == 2  # the text and the greeting


@sqlite_only
def test_migration_moves_the_inbox_and_its_rows_both_ways(tmp_path: Path) -> None:
    """Test that 0008 moves the table, indexes and rows to the inbox file, and back."""
    path = str(tmp_path / "helpline.db")
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_sync(url, "0007")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO inbox (provider_sid, received_at, status, attempts, urgent) "
                     "VALUES ('SM-test', '2026-11-22 10:00:00.000000', 'pending', 0, 1)")

    def schema(file: str) -> tuple[set[str], list[tuple]]:
        with sqlite3.connect(file) as conn:
            names = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE tbl_name = 'inbox'")}
            rows = conn.execute("SELECT provider_sid, urgent FROM inbox").fetchall() \
                if "inbox" in names else []
        return names, rows

    before, rows = schema(path)
    upgrade_sync(url, "0008")  # later migrations change the inbox's indexes
    assert schema(path) == (set(), [])
    assert schema(inbox_path(path)) == (before, rows) == (before, [("SM-test", 1)])
    command.downgrade(alembic_config(url), "0007")
    assert schema(path) == (before, rows)
    assert schema(inbox_path(path)) == (set(), [])


@sqlite_only
async def test_the_inbox_file_has_a_checkpointer_of_its_own(twilio: TwilioWebhooks,
                                                            db: Database) -> None:
    """Test that the inbox's log is copied into the inbox file, not only the main one's."""
    sid = twilio.next_sid()
    await twilio.sms("hello", sid=sid, process=False)
    file = Path(inbox_path(db.path or ""))
    assert sid.encode() not in await asyncio.to_thread(file.read_bytes)  # only in the log
    for checkpointer in db.checkpointers():
        try:
            await checkpointer.once()
        finally:
            checkpointer.close()
    assert sid.encode() in await asyncio.to_thread(file.read_bytes)


async def test_a_webhook_cancelled_while_its_commit_waits_still_stores_its_text(
        twilio: TwilioWebhooks, db: Database) -> None:
    """Test that cancelling the handler that waits for the group commit loses nothing."""
    inbox = twilio.client.app[appkeys.INBOX]
    store = asyncio.create_task(inbox.store(Arrival(
        provider_sid="SM" + "c" * 32, sender="+447700900123", text="hello",
        received_at=datetime.now(UTC))))
    await asyncio.sleep(0)  # in the writer's queue, not yet committed
    store.cancel()
    with pytest.raises(asyncio.CancelledError):
        await store
    for _ in range(100):
        async with db.reader() as session:
            stored = (await session.execute(
                select(func.count()).select_from(InboxMessage))).scalar_one()
        if stored:
            break
        await asyncio.sleep(0.01)
    assert stored == 1
    # And the writer goes on: the next webhook is stored and answered.
    response = await asyncio.wait_for(twilio.sms("hello again", process=False), timeout=5)
    assert response.status == 200
