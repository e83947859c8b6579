"""``POST /twilio/sms`` and ``POST /twilio/status``: verify, store, answer TwiML."""

from __future__ import annotations

import logging
from typing import TypeVar

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import update
from twilio.twiml.messaging_response import MessagingResponse

from helpline import appkeys
from helpline.channels.twilio.params import (
    InboundMessage,
    StatusCallback,
    TwilioParams,
    describe,
)
from helpline.channels.twilio.signature import bad_request, read_form
from helpline.conversations.contacts import mark_opted_out
from helpline.db import insert_for
from helpline.inbox.service import Arrival
from helpline.outbox.models import DeliveryEvent, OutboxMessage
from helpline.outbox.providers import OPTED_OUT
from helpline.privacy.addresses import AddressError

log = logging.getLogger(__name__)

P = TypeVar("P", bound=TwilioParams)

# Later statuses never move back to earlier ones when callbacks arrive out of order.
STATUS_RANK = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3, "receiving": 3,
               "received": 4, "delivered": 5, "read": 6, "undelivered": 7, "failed": 7,
               "canceled": 7}

EMPTY_TWIML = str(MessagingResponse())


def twiml(body: str = EMPTY_TWIML) -> web.Response:
    """Return a TwiML answer."""
    return web.Response(text=body, content_type="text/xml")


async def verified(request: web.Request, model: type[P]) -> P:
    """Parse the form strictly, check Twilio's signature (403), then validate it (400)."""
    form = await read_form(request)
    request.app[appkeys.TWILIO_SIGNATURE].check(request, form)
    try:
        return model.model_validate(dict(form))
    except ValidationError as exc:
        raise bad_request(describe(exc)) from None


async def receive_sms(request: web.Request) -> web.Response:
    """Store an inbound SMS or WhatsApp message; replies go out through the outbox."""
    app = request.app
    settings = app[appkeys.SETTINGS]
    params = await verified(request, InboundMessage)
    if len(params.body) > settings.max_body_chars:
        raise web.HTTPRequestEntityTooLarge(
            max_size=settings.max_body_chars, actual_size=len(params.body),
            text=f"Body is longer than {settings.max_body_chars} characters\n",
            content_type="text/plain",
        )
    # Store before acknowledge: the message is committed (encrypted) before we answer;
    # triage runs right after in the inbox worker, so a slow flow never delays Twilio.
    try:
        stored = await app[appkeys.INBOX].store(Arrival(
            provider_sid=params.message_sid, sender=params.from_, text=params.body,
            received_at=app[appkeys.CLOCK].now()))
    except AddressError as exc:
        raise bad_request(f"From is {exc}") from None
    if not stored:
        log.info("redelivered message ignored sid=%s", params.message_sid)
    return twiml()


async def receive_status(request: web.Request) -> web.Response:
    """Record a delivery status callback once per (MessageSid, MessageStatus)."""
    app = request.app
    params = await verified(request, StatusCallback)
    status = params.message_status.lower()
    now = app[appkeys.CLOCK].now()
    async with app[appkeys.DB].transaction() as session:
        inserted = (
            await session.execute(
                insert_for(session, DeliveryEvent)
                .values(provider_sid=params.message_sid, status=status,
                        error_code=params.error_code, received_at=now)
                .on_conflict_do_nothing()
                .returning(DeliveryEvent.id)
            )
        ).scalar_one_or_none()
        if inserted is None:
            return twiml()  # a repeat of a callback we already have
        row = (
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.provider_sid == params.message_sid)
                .values(error_code=params.error_code or OutboxMessage.error_code)
                .returning(OutboxMessage.id, OutboxMessage.contact_id,
                           OutboxMessage.delivery_status)
            )
        ).first()
        if row is None:
            log.info("status callback for an unknown message sid=%s", params.message_sid)
            return twiml()
        if STATUS_RANK.get(status, -1) >= STATUS_RANK.get(row.delivery_status or "", -1):
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == row.id)
                .values(delivery_status=status)
            )
        if params.error_code == OPTED_OUT and row.contact_id is not None:
            await mark_opted_out(session, contact_id=row.contact_id, now=now,
                                 actor="twilio", reason="error 21610")
    log.info("delivery status outbox=%s status=%s", row.id, status)
    return twiml()


def setup_twilio_routes(app: web.Application) -> None:
    """Add the Twilio webhook routes."""
    app.router.add_post("/twilio/sms", receive_sms)
    app.router.add_post("/twilio/status", receive_status)
