"""The outbox sender, through the real twilio SDK, against a fake Twilio REST API on loopback."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from helpline import appkeys
from helpline.clock import FrozenClock
from helpline.conversations.models import Contact
from helpline.db import Database
from helpline.outbox.models import CANCELLED, FAILED, SENT, OutboxMessage
from tests.conftest import PUBLIC_URL, TEXTER, TwilioWebhooks
from tests.fakes.twilio_api import FakeTwilioApi


async def drain(client: TestClient, clock: FrozenClock, *, passes: int = 10) -> None:
    """Run the sender, moving the clock past every backoff, until nothing is due."""
    sender = client.app[appkeys.SENDER]
    for _ in range(passes):
        await sender.run_once()
        clock.advance(minutes=10)


async def outbox_rows(db: Database) -> list[OutboxMessage]:
    """Return every outbox row in id order."""
    async with db.reader() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id)))
                    .scalars())


async def test_reply_reaches_twilio_through_the_sdk(webhooks: TwilioWebhooks, clock: FrozenClock,
                                                    fake_twilio: tuple[FakeTwilioApi, str],
                                                    db: Database) -> None:
    """Test that the greeting is created at Twilio with To, From, Body and status callback."""
    api, _ = fake_twilio
    await webhooks.sms("hello")
    await drain(webhooks.client, clock, passes=1)
    assert len(api.delivered) == 1
    sent = api.delivered[0]
    assert sent["to"] == TEXTER
    assert sent["from"] == "+447700900999"
    assert sent["status_callback"] == f"{PUBLIC_URL}/twilio/status"
    assert "free and confidential" in sent["body"]
    [row] = await outbox_rows(db)
    assert (row.status, row.provider_sid) == (SENT, sent["sid"])


async def test_failures_then_exactly_one_delivery(webhooks: TwilioWebhooks, clock: FrozenClock,
                                                  fake_twilio: tuple[FakeTwilioApi, str],
                                                  db: Database) -> None:
    """Test that a Twilio failing the first three attempts still gets exactly one reply."""
    api, _ = fake_twilio
    api.fail_next = 3
    await webhooks.sms("hello")
    await drain(webhooks.client, clock)
    assert api.attempts == 4
    assert len(api.delivered) == 1
    [row] = await outbox_rows(db)
    assert (row.status, row.attempts) == (SENT, 4)


async def test_retry_waits_for_backoff(webhooks: TwilioWebhooks, clock: FrozenClock,
                                       fake_twilio: tuple[FakeTwilioApi, str]) -> None:
    """Test that a failed send is not retried before its backoff has passed."""
    api, _ = fake_twilio
    api.fail_next = 1
    await webhooks.sms("hello")
    sender = webhooks.client.app[appkeys.SENDER]
    await sender.run_once()
    await sender.run_once()
    assert api.attempts == 1
    clock.advance(seconds=5)
    await sender.run_once()
    assert len(api.delivered) == 1


@pytest.mark.parametrize("status", [HTTPStatus.TOO_MANY_REQUESTS, 0])
async def test_rate_limits_and_dropped_connections_are_retried(
    webhooks: TwilioWebhooks, clock: FrozenClock, fake_twilio: tuple[FakeTwilioApi, str],
    status: int,
) -> None:
    """Test that 429 answers and dropped connections are retried until delivered."""
    api, _ = fake_twilio
    api.fail_next, api.fail_status = 2, status
    await webhooks.sms("hello")
    await drain(webhooks.client, clock)
    assert len(api.delivered) == 1


async def test_sender_gives_up_and_records_why(webhooks: TwilioWebhooks, clock: FrozenClock,
                                               fake_twilio: tuple[FakeTwilioApi, str],
                                               db: Database) -> None:
    """Test that after the attempt bound the row is failed with the reason, not retried."""
    api, _ = fake_twilio
    api.fail_next = 100
    await webhooks.sms("hello")
    await drain(webhooks.client, clock)
    assert api.attempts == 4
    [row] = await outbox_rows(db)
    assert row.status == FAILED
    assert row.last_error == "twilio 503 code 20500"


async def test_client_error_is_not_retried(webhooks: TwilioWebhooks, clock: FrozenClock,
                                           fake_twilio: tuple[FakeTwilioApi, str],
                                           db: Database) -> None:
    """Test that a 4xx from Twilio other than 429 fails at once."""
    api, _ = fake_twilio
    api.fail_next, api.fail_status = 1, HTTPStatus.BAD_REQUEST
    await webhooks.sms("hello")
    await drain(webhooks.client, clock)
    assert api.attempts == 1
    [row] = await outbox_rows(db)
    assert row.status == FAILED


async def test_opted_out_recipient_stops_all_sends(webhooks: TwilioWebhooks, clock: FrozenClock,
                                                   fake_twilio: tuple[FakeTwilioApi, str],
                                                   db: Database) -> None:
    """Test that error 21610 marks the contact opted out and nothing more is sent to them."""
    api, _ = fake_twilio
    api.opted_out.add(TEXTER)
    await webhooks.sms("hello")
    await drain(webhooks.client, clock)
    async with db.reader() as session:
        contact = (await session.execute(select(Contact))).scalar_one()
    assert contact.opted_out_at is not None
    api.opted_out.clear()
    async with db.transaction() as session:
        turn_contact = await session.get_one(Contact, contact.id)
        assert turn_contact.opted_out_at is not None
    # A new conversation's greeting would be queued, but nothing reaches Twilio.
    await webhooks.sms("still there?")
    await drain(webhooks.client, clock)
    assert api.delivered == []
    assert api.attempts == 1


async def test_pending_texts_are_cancelled_on_opt_out(webhooks: TwilioWebhooks,
                                                      clock: FrozenClock,
                                                      fake_twilio: tuple[FakeTwilioApi, str],
                                                      db: Database) -> None:
    """Test that a long reply's later parts are cancelled once the first part hits 21610."""
    api, _ = fake_twilio
    api.opted_out.add(TEXTER)
    service = webhooks.client.app[appkeys.CONVERSATIONS]
    await webhooks.sms("hello")
    async with db.transaction() as session:
        outbox = webhooks.client.app[appkeys.OUTBOX]
        from helpline.privacy.addresses import parse_address

        await outbox.enqueue(session, now=clock.now(), to=parse_address(TEXTER),
                             body="word " * 700, purpose="reply", contact_id=1)
    assert service is not None
    await drain(webhooks.client, clock)
    statuses = [row.status for row in await outbox_rows(db)]
    assert statuses[0] == FAILED
    assert set(statuses[1:]) == {CANCELLED}
    assert api.attempts == 1


async def test_long_text_is_split_and_sent_in_order(webhooks: TwilioWebhooks, clock: FrozenClock,
                                                    fake_twilio: tuple[FakeTwilioApi, str],
                                                    db: Database) -> None:
    """Test that a text over 1600 characters goes as ordered parts of at most 1600."""
    api, _ = fake_twilio
    from helpline.privacy.addresses import parse_address

    words = [f"w{i:04d}" for i in range(700)]
    async with db.transaction() as session:
        await webhooks.client.app[appkeys.OUTBOX].enqueue(
            session, now=clock.now(), to=parse_address(TEXTER), body=" ".join(words),
            purpose="reply")
    await drain(webhooks.client, clock)
    bodies = [m["body"] for m in api.delivered]
    assert len(bodies) == 3
    assert all(len(b) <= 1600 for b in bodies)
    assert " ".join(bodies).split() == words


async def test_part_failure_keeps_later_parts_waiting(webhooks: TwilioWebhooks,
                                                      clock: FrozenClock,
                                                      fake_twilio: tuple[FakeTwilioApi, str],
                                                      db: Database) -> None:
    """Test that when part one fails, part two is not sent before it."""
    api, _ = fake_twilio
    from helpline.privacy.addresses import parse_address

    api.fail_next = 1
    async with db.transaction() as session:
        await webhooks.client.app[appkeys.OUTBOX].enqueue(
            session, now=clock.now(), to=parse_address(TEXTER),
            body="first " * 300 + "second " * 100, purpose="reply")
    await drain(webhooks.client, clock)
    bodies = [m["body"] for m in api.delivered]
    assert bodies[0].startswith("first")
    assert bodies[-1].endswith("second")
