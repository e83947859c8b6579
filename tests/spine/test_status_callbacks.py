"""``POST /twilio/status``: delivery status recorded once per (MessageSid, MessageStatus)."""

from __future__ import annotations

from http import HTTPStatus

from sqlalchemy import func, select

from helpline import appkeys
from helpline.conversations.models import Contact
from helpline.db import Database
from helpline.outbox.models import DeliveryEvent, OutboxMessage
from helpline.outbox.providers import LoopbackProvider
from tests.conftest import TwilioWebhooks


async def sent_sid(twilio: TwilioWebhooks, loopback: LoopbackProvider) -> str:
    """Text the service, send the greeting, and return the greeting's sid."""
    await twilio.sms("hello")
    await twilio.client.app[appkeys.SENDER].run_once()
    return loopback.sent[-1].sid


async def status_of(db: Database) -> str | None:
    """Return the delivery status of the only outbox row."""
    async with db.reader() as session:
        return (await session.execute(select(OutboxMessage.delivery_status))).scalar_one()


async def callback(twilio: TwilioWebhooks, sid: str, status: str, **extra: str) -> int:
    """Post a status callback and return the HTTP status."""
    response = await twilio.post("/twilio/status",
                                 {"MessageSid": sid, "MessageStatus": status, **extra})
    return response.status


async def test_delivery_status_is_recorded(twilio: TwilioWebhooks, loopback: LoopbackProvider,
                                           db: Database) -> None:
    """Test that a delivered callback updates the message's delivery status."""
    sid = await sent_sid(twilio, loopback)
    assert await callback(twilio, sid, "delivered") == HTTPStatus.OK
    assert await status_of(db) == "delivered"


async def test_repeated_callback_is_kept_once(twilio: TwilioWebhooks, loopback: LoopbackProvider,
                                              db: Database) -> None:
    """Test that the same (MessageSid, MessageStatus) twice is stored once."""
    sid = await sent_sid(twilio, loopback)
    await callback(twilio, sid, "sent")
    await callback(twilio, sid, "sent")
    async with db.reader() as session:
        events = (await session.execute(select(func.count()).select_from(DeliveryEvent)))
    assert events.scalar_one() == 1


async def test_late_callback_does_not_move_status_back(twilio: TwilioWebhooks,
                                                       loopback: LoopbackProvider,
                                                       db: Database) -> None:
    """Test that a 'sent' arriving after 'delivered' leaves the status at delivered."""
    sid = await sent_sid(twilio, loopback)
    await callback(twilio, sid, "delivered")
    await callback(twilio, sid, "sent")
    assert await status_of(db) == "delivered"


async def test_opt_out_error_in_callback_marks_contact(twilio: TwilioWebhooks,
                                                       loopback: LoopbackProvider,
                                                       db: Database) -> None:
    """Test that a failed callback with error 21610 marks the contact opted out."""
    sid = await sent_sid(twilio, loopback)
    await callback(twilio, sid, "failed", ErrorCode="21610")
    async with db.reader() as session:
        opted_out = (await session.execute(select(Contact.opted_out_at))).scalar_one()
    assert opted_out is not None


async def test_unsigned_callback_is_refused(twilio: TwilioWebhooks, loopback: LoopbackProvider,
                                            db: Database) -> None:
    """Test that a status callback without a valid signature changes nothing."""
    sid = await sent_sid(twilio, loopback)
    response = await twilio.post("/twilio/status", {"MessageSid": sid, "MessageStatus": "failed"},
                                 signature="bm90IGEgc2lnbmF0dXJl")
    assert response.status == HTTPStatus.FORBIDDEN
    assert await status_of(db) == "queued"


async def test_callback_without_status_is_refused(twilio: TwilioWebhooks) -> None:
    """Test that a callback missing MessageStatus gets 400 naming it."""
    response = await twilio.post("/twilio/status", {"MessageSid": "SM" + "1" * 32})
    assert response.status == HTTPStatus.BAD_REQUEST
    assert "MessageStatus is missing" in await response.text()


async def test_callback_for_unknown_message_is_accepted(twilio: TwilioWebhooks) -> None:
    """Test that a callback about a message we never sent is answered 200 and ignored."""
    assert await callback(twilio, "SM" + "9" * 32, "delivered") == HTTPStatus.OK
