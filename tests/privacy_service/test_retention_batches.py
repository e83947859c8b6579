"""A purge works in short batches, each through an index of only the rows left to purge."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Coroutine
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncTransaction

from helpline import appkeys
from helpline.audit.models import AuditEvent
from helpline.conversations import service as service_module
from helpline.conversations.models import Contact, Conversation, Message
from helpline.db import inbox_path
from helpline.outbox.models import OutboxMessage
from helpline.privacy import retention
from helpline.privacy.retention import close_inactive, purge
from tests.conftest import POSTGRES_URL
from tests.service.helpers import Texter

TEXTERS = [f"+4477009004{n:02d}" for n in range(5)]
# Tables that grow with every text: a purge must never read them whole.
GROWING = ("conversations", "messages", "outbox", "contacts", "audit_events", "jobs")


async def _five_old_conversations(client: TestClient, texter: Texter) -> int:
    """Five texters each start a conversation, left to close; then a year passes.

    Return how many conversations closed as inactive.
    """
    for number in TEXTERS:
        other = Texter(client, texter.loopback, texter.clock, number=number)
        await other.send("hi")
        await other.send("yes")
    texter.clock.advance(days=15)
    app = client.app
    closed = await close_inactive(app[appkeys.DB], policy=app[appkeys.SETTINGS].retention,
                                  now=app[appkeys.CLOCK].now())
    texter.clock.advance(days=400)
    return closed


async def _purge_all(client: TestClient) -> dict[str, int]:
    app = client.app
    return vars(await purge(app[appkeys.DB], policy=app[appkeys.SETTINGS].retention,
                            now=app[appkeys.CLOCK].now()))


async def test_a_purge_in_small_batches_removes_everything(
        client: TestClient, texter: Texter, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that batches smaller than the work still purge every row, counted once."""
    monkeypatch.setattr(retention, "BATCH", 2)
    monkeypatch.setattr(retention, "CONVERSATION_BATCH", 2)
    assert await _five_old_conversations(client, texter) == 5
    report = await _purge_all(client)
    assert report["message_bodies"] > 10 and report["outbox_contents"] > 5
    assert report["reply_addresses"] == report["pseudonym_links"] == 5
    async with client.app[appkeys.DB].reader() as session:
        bodies = set((await session.execute(select(Message.body_enc))).scalars())
        outbox = set((await session.execute(select(OutboxMessage.to_enc))).scalars())
        addresses = set((await session.execute(select(Contact.address_enc))).scalars())
        unpurged = (await session.execute(select(Conversation.id).where(
            Conversation.purged_at.is_(None)))).scalars().all()
    assert bodies == outbox == addresses == {None}
    assert unpurged == []
    assert set((await _purge_all(client)).values()) == {0}


@pytest.mark.skipif(bool(POSTGRES_URL), reason="reads SQLite's query plans")
async def test_no_purge_statement_reads_a_growing_table_whole(client: TestClient,
                                                              texter: Texter) -> None:
    """Test that every statement of a purge finds its rows through an index.

    A full scan of a table that grows with every text made each purge cost 610 ms of
    the event loop on a year of data (tests/bench/bench_purge.py).
    """
    await _five_old_conversations(client, texter)
    statements: list[tuple[str, tuple]] = []
    engine = client.app[appkeys.DB].engine.sync_engine

    def record(_conn, _cursor, sql, parameters, _context, _many) -> None:
        statements.append((sql, tuple(parameters)))

    event.listen(engine, "before_cursor_execute", record)
    try:
        app = client.app
        await close_inactive(app[appkeys.DB], policy=app[appkeys.SETTINGS].retention,
                             now=app[appkeys.CLOCK].now())
        await _purge_all(client)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    path = client.app[appkeys.DB].path or ""
    plans = sqlite3.connect(path)
    plans.execute("ATTACH DATABASE ? AS inbox", (inbox_path(path),))
    full_scan = re.compile(rf"\bSCAN ({'|'.join(GROWING)})\b")  # even of a whole index
    checked = 0
    for sql, parameters in statements:
        if not re.match(r"\s*(SELECT|UPDATE|DELETE)", sql):
            continue
        plan = [row[3] for row in plans.execute(f"EXPLAIN QUERY PLAN {sql}", parameters)]
        assert not [step for step in plan if full_scan.search(step)], (sql, plan)
        checked += 1
    plans.close()
    assert checked >= 12


async def test_content_written_after_a_purge_is_purged_in_its_turn(client: TestClient,
                                                                   texter: Texter) -> None:
    """Test that a reply written into an emptied, closed conversation is purged later too."""
    app = client.app
    assert await _five_old_conversations(client, texter) == 5
    await _purge_all(client)
    async with app[appkeys.DB].transaction() as session:
        conversation = (await session.execute(select(Conversation).limit(1))).scalar_one()
        contact = await session.get_one(Contact, conversation.contact_id)
        await app[appkeys.CONVERSATIONS].reply(
            session, conversation=conversation, contact=contact, text="a late reply",
            author="volunteer", now=app[appkeys.CLOCK].now())
    texter.clock.advance(days=31)
    assert (await _purge_all(client))["message_bodies"] == 1
    async with app[appkeys.DB].reader() as session:
        bodies = set((await session.execute(select(Message.body_enc))).scalars())
    assert bodies == {None}


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL's row locks")
@pytest.mark.parametrize("table", ["conversations", "contacts"])
async def test_a_row_touched_while_the_purge_waits_for_it_is_left_alone(
        client: TestClient, texter: Texter, table: str) -> None:
    """Test that a texter coming back during a purge keeps their conversation and address.

    The purge chooses its rows in a subquery; a row changed meanwhile must be checked
    again against the purge's conditions, not only against the chosen ids.
    """
    app = client.app
    await texter.send("hi")
    texter.clock.advance(days=15 if table == "conversations" else 400)
    db, now = app[appkeys.DB], app[appkeys.CLOCK].now()
    if table == "contacts":
        assert await close_inactive(db, policy=app[appkeys.SETTINGS].retention, now=now) == 1
    model = Conversation if table == "conversations" else Contact
    touched = {"updated_at": now} if table == "conversations" else {"last_seen_at": now}
    async with db.engine.connect() as other:
        returning = await other.begin()  # the texter's text being filed
        await other.execute(update(model.__table__).values(**touched))
        work = (close_inactive(db, policy=app[appkeys.SETTINGS].retention, now=now)
                if table == "conversations" else _purge_all(client))
        await _waits_for(returning, work)
    async with db.reader() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
        contact = (await session.execute(select(Contact))).scalar_one()
    if table == "conversations":
        assert conversation.closed_at is None
    else:
        assert contact.address_enc is not None


async def test_a_purge_that_fails_part_way_still_audits_what_it_deleted(
        client: TestClient, texter: Texter, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that a fault after some batches leaves an audit record of those, marked so."""
    assert await _five_old_conversations(client, texter) == 5

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise ConnectionError("database went away")

    monkeypatch.setattr(retention, "cut_links", broken)
    with pytest.raises(ConnectionError):
        await _purge_all(client)
    async with client.app[appkeys.DB].reader() as session:
        details = (await session.execute(select(AuditEvent.details).where(
            AuditEvent.action == "retention.purged"))).scalar_one()
    assert details["complete"] is False
    assert details["message_bodies"] > 0 and details["pseudonym_links"] == 0


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL's row locks")
async def test_a_text_being_filed_keeps_its_conversation_open(
        client: TestClient, texter: Texter, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that closing inactive conversations waits for a text being filed into one.

    The filing reads the open conversation, then writes to it; a close committed in
    between left the text in a closed conversation, out of the queue's sight.
    """
    app = client.app
    await texter.send("hi")
    texter.clock.advance(days=15)
    insert = service_module.execute_unflushed
    paused, go = asyncio.Event(), asyncio.Event()

    async def slow_insert(*args: object, **kwargs: object) -> object:
        if not paused.is_set():  # the text's message, after its conversation was read
            paused.set()
            await go.wait()
        return await insert(*args, **kwargs)

    monkeypatch.setattr(service_module, "execute_unflushed", slow_insert)
    filing = asyncio.create_task(texter.send("im back"))
    await asyncio.wait_for(paused.wait(), 10)
    closing = asyncio.create_task(close_inactive(
        app[appkeys.DB], policy=app[appkeys.SETTINGS].retention, now=app[appkeys.CLOCK].now()))
    await asyncio.sleep(0.3)
    go.set()
    await asyncio.wait_for(filing, 10)
    assert await asyncio.wait_for(closing, 10) == 0
    conversation = await texter.conversation()
    assert conversation.closed_at is None


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL's row locks")
async def test_a_reply_written_while_a_purge_batch_holds_its_conversation_is_purged_later(
        client: TestClient, texter: Texter) -> None:
    """Test that a reply into a conversation a purge batch is emptying is purged later.

    Its body would otherwise stay for good in a conversation marked purged.
    """
    app = client.app
    await texter.send("hi")
    texter.clock.advance(days=15)
    db, now = app[appkeys.DB], app[appkeys.CLOCK].now()
    assert await close_inactive(db, policy=app[appkeys.SETTINGS].retention, now=now) == 1
    async with db.engine.connect() as other:
        batch = await other.begin()  # a purge batch: the conversation locked, then marked
        table = Conversation.__table__
        await other.execute(select(table.c.id).with_for_update())
        await other.execute(update(table).values(purged_at=now))
        async with db.transaction() as session:
            conversation = (await session.execute(select(Conversation))).scalar_one()
            contact = await session.get_one(Contact, conversation.contact_id)
        await _waits_for(batch, _reply(client, conversation.id, contact.id))
    async with db.reader() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
    assert conversation.purged_at is None  # purged again in its turn


async def _waits_for(holder: AsyncTransaction, work: Coroutine[Any, Any, Any]) -> None:
    """Start ``work``; check it waits for the rows ``holder`` has locked; commit; finish it."""
    task = asyncio.create_task(work)
    await asyncio.sleep(0.3)
    assert not task.done()  # waiting for the locked rows
    await holder.commit()
    await asyncio.wait_for(task, 10)


async def _reply(client: TestClient, conversation_id: int, contact_id: int) -> None:
    """Write a volunteer's reply into a conversation, as an acknowledged alert does."""
    app = client.app
    async with app[appkeys.DB].transaction() as session:
        conversation = await session.get_one(Conversation, conversation_id)
        contact = await session.get_one(Contact, contact_id)
        await app[appkeys.CONVERSATIONS].reply(
            session, conversation=conversation, contact=contact, text="a late reply",
            author="volunteer", now=app[appkeys.CLOCK].now())
