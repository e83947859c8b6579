"""``POST /twilio/sms``: store before acknowledge, dedupe, and clear answers to bad input."""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from sqlalchemy import func, select

from helpline import appkeys
from helpline.clock import FrozenClock
from helpline.conversations.models import Contact, Conversation, Message
from helpline.db import Database
from helpline.inbox.models import InboxMessage
from helpline.outbox.models import OutboxMessage
from tests.conftest import TEXTER, TwilioWebhooks


async def count(db: Database, model: type) -> int:
    """Return how many rows ``model``'s table holds."""
    async with db.reader() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_inbound_sms_is_stored_before_the_answer(twilio: TwilioWebhooks,
                                                      db: Database) -> None:
    """Test that an inbound text is committed, encrypted, by the time the webhook answers."""
    response = await twilio.sms("hello", process=False)
    assert response.status == HTTPStatus.OK
    async with db.reader() as session:
        row = (await session.execute(select(InboxMessage))).scalar_one()
    assert row.status == "pending"
    assert "hello" not in (row.body_enc or "")


async def test_stored_row_reads_back_as_written(twilio: TwilioWebhooks, db: Database,
                                                clock: FrozenClock) -> None:
    """Test that the inbox row (written on SQLite's driver) reads back through SQLAlchemy."""
    await twilio.sms("i want to kill myself", process=False)
    async with db.reader() as session:
        row = (await session.execute(select(InboxMessage))).scalar_one()
        # stored in SQLAlchemy's own form, so it compares in SQL like every other time
        same = (await session.execute(select(func.count()).select_from(InboxMessage).where(
            InboxMessage.received_at == clock.now()))).scalar_one()
    assert (row.received_at, row.urgent, row.attempts) == (clock.now(), True, 0)
    assert row.received_at.tzinfo is not None
    assert same == 1
    assert len(row.sender_key or "") == 64
    cipher = twilio.client.app[appkeys.KEYS].cipher
    assert cipher.decrypt(row.body_enc or "") == "i want to kill myself"
    assert cipher.decrypt(row.address_enc or "") == TEXTER


async def test_inbox_worker_files_the_text_in_its_conversation(twilio: TwilioWebhooks,
                                                              db: Database) -> None:
    """Test that processing files the text under a contact and conversation and clears the inbox."""
    await twilio.sms("hello")
    assert await count(db, Message) == 2  # the text and the greeting
    assert await count(db, Contact) == 1
    assert await count(db, Conversation) == 1
    async with db.reader() as session:
        row = (await session.execute(select(InboxMessage))).scalar_one()
    assert (row.status, row.body_enc, row.address_enc) == ("done", None, None)


async def test_redelivery_after_processing_changes_nothing(twilio: TwilioWebhooks,
                                                           db: Database) -> None:
    """Test that a MessageSid redelivered after it was processed is ignored."""
    await twilio.sms("hello", sid="SM" + "c" * 32)
    await twilio.sms("hello", sid="SM" + "c" * 32)
    assert await count(db, InboxMessage) == 1
    assert await count(db, OutboxMessage) == 1


async def test_texts_are_processed_in_arrival_order(twilio: TwilioWebhooks,
                                                    db: Database) -> None:
    """Test that texts stored together are filed in the order they arrived."""
    for text in ("one", "two", "three"):
        await twilio.sms(text, process=False)
    await twilio.client.app[appkeys.INBOX_WORKER].run_once()
    cipher = twilio.client.app[appkeys.KEYS].cipher
    async with db.reader() as session:
        bodies = (await session.execute(select(Message.body_enc).where(
            Message.direction == "in").order_by(Message.id))).scalars().all()
    assert [cipher.decrypt(b) for b in bodies] == ["one", "two", "three"]


async def test_answer_is_empty_twiml(twilio: TwilioWebhooks) -> None:
    """Test that the webhook answers an empty TwiML response as text/xml."""
    response = await twilio.sms("hello")
    assert response.content_type == "text/xml"
    assert (await response.text()).endswith("<Response />")


async def test_first_text_queues_one_reply(twilio: TwilioWebhooks, db: Database) -> None:
    """Test that the first text of a conversation queues exactly one reply in the outbox."""
    await twilio.sms("hello")
    assert await count(db, OutboxMessage) == 1


async def test_redelivery_is_stored_once_and_answered_once(twilio: TwilioWebhooks,
                                                          db: Database) -> None:
    """Test that the same MessageSid delivered twice stores one message and one reply."""
    first = await twilio.sms("hello", sid="SM" + "a" * 32)
    again = await twilio.sms("hello", sid="SM" + "a" * 32)
    assert (first.status, again.status) == (HTTPStatus.OK, HTTPStatus.OK)
    assert await count(db, OutboxMessage) == 1
    async with db.reader() as session:
        inbound = await session.execute(
            select(func.count()).select_from(Message).where(Message.direction == "in"))
    assert inbound.scalar_one() == 1


async def test_concurrent_redeliveries_store_one_message(twilio: TwilioWebhooks,
                                                        db: Database) -> None:
    """Test that five simultaneous deliveries of one MessageSid store it once."""
    responses = await asyncio.gather(*(twilio.sms("hi", sid="SM" + "b" * 32) for _ in range(5)))
    assert {r.status for r in responses} == {HTTPStatus.OK}
    assert await count(db, OutboxMessage) == 1
    assert await count(db, Conversation) == 1


async def test_unknown_parameters_are_tolerated(twilio: TwilioWebhooks) -> None:
    """Test that parameters Twilio adds in future do not break the webhook."""
    response = await twilio.sms("hello", SomethingNew="1", ProfileName="x", FromCity="y")
    assert response.status == HTTPStatus.OK


async def test_whatsapp_reply_goes_back_on_whatsapp(twilio: TwilioWebhooks,
                                                   db: Database) -> None:
    """Test that a WhatsApp message opens a WhatsApp conversation with a WhatsApp reply."""
    await twilio.sms("hello", sender=f"whatsapp:{TEXTER}")
    async with db.reader() as session:
        channel = (await session.execute(select(Conversation.channel))).scalar_one()
        outbox_channel = (await session.execute(select(OutboxMessage.channel))).scalar_one()
    assert (channel, outbox_channel) == ("whatsapp", "whatsapp")


async def test_same_texter_in_any_format_is_one_contact(twilio: TwilioWebhooks,
                                                       db: Database) -> None:
    """Test that national and international forms of one number are one contact."""
    await twilio.sms("one", sender="+447700900123")
    await twilio.sms("two", sender="07700 900123")
    assert await count(db, Contact) == 1
