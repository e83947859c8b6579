"""The conversation service: store what arrives, let triage respond, queue the replies."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.conversations.contacts import upsert_contact
from helpline.conversations.models import Contact, Conversation, Message
from helpline.db import execute_unflushed, insert_for
from helpline.outbox.service import Outbox
from helpline.privacy.addresses import Address, parse_address
from helpline.privacy.crypto import Cipher
from helpline.privacy.pseudonym import Pseudonymizer

log = logging.getLogger(__name__)

MESSAGES = Message.__table__  # messages are written with Core: one statement, no ORM flush
# Locked (PostgreSQL): retention closing it meanwhile waits, then finds it touched, and a
# close committed first is seen, so the text opens a new conversation instead.
OPEN_CONVERSATION = (
    select(Conversation)
    .where(Conversation.contact_id == bindparam("contact_id"),
           Conversation.channel == bindparam("channel"), Conversation.closed_at.is_(None))
    .order_by(Conversation.id.desc()).limit(1).with_for_update())


TRIAGE_FAILED = "triage_failed"  # the flag of a conversation whose triage raised


class DuplicateDelivery(Exception):
    """The provider delivered a message we already have; the transaction must roll back."""


@dataclass(frozen=True)
class Inbound:
    """A message as a channel adapter hands it over, already verified and normalised."""

    address: Address
    text: str
    received_at: datetime
    provider_sid: str | None = None


@dataclass
class Turn:
    """One inbound message in its conversation, handed to the responder."""

    contact: Contact
    conversation: Conversation
    message_id: int
    address: Address
    text: str
    now: datetime
    new_conversation: bool


class Responder(Protocol):
    """What answers a young person (the triage responder; tests may use a simpler one)."""

    async def respond(self, session: AsyncSession, *, service: ConversationService,
                      turn: Turn) -> None:
        """React to ``turn``, sending replies through ``service.reply``."""
        ...

    async def failed(self, session: AsyncSession, *, service: ConversationService,
                     turn: Turn) -> None:
        """Hand ``turn`` to a person after ``respond`` failed (its writes rolled back)."""
        ...


class ConversationService:
    """Everything that happens to a conversation goes through here, inside one transaction."""

    def __init__(
        self,
        *,
        cipher: Cipher,
        pseudonyms: Pseudonymizer,
        outbox: Outbox,
        responder: Responder,
    ) -> None:
        self.cipher = cipher
        self.pseudonyms = pseudonyms
        self.outbox = outbox
        self.responder = responder

    async def receive(self, session: AsyncSession, *, inbound: Inbound) -> Turn:
        """Store an inbound message and let the responder act; DuplicateDelivery if seen."""
        now = inbound.received_at
        contact = await upsert_contact(
            session, pseudonyms=self.pseudonyms, cipher=self.cipher,
            address=inbound.address, now=now,
        )
        conversation, new = await self._open_conversation(
            session, contact=contact, channel=inbound.address.channel, now=now
        )
        message_id = (await execute_unflushed(
            session,
            insert_for(session, MESSAGES).on_conflict_do_nothing().returning(MESSAGES.c.id),
            {"conversation_id": conversation.id, "direction": "in", "author": "contact",
             "body_enc": self.cipher.encrypt(inbound.text),
             "provider_sid": inbound.provider_sid, "created_at": now})).scalar()
        if message_id is None:
            raise DuplicateDelivery(inbound.provider_sid)
        conversation.last_inbound_at = now
        conversation.updated_at = now
        turn = Turn(contact=contact, conversation=conversation, message_id=message_id,
                    address=inbound.address, text=inbound.text, now=now,
                    new_conversation=new)
        await self._respond_or_queue(session, turn)
        log.info("inbound stored conversation=%s message=%s new=%s",
                 conversation.id, message_id, new)
        return turn

    async def _respond_or_queue(self, session: AsyncSession, turn: Turn) -> None:
        """Let the responder act; if it fails, keep the message and hand it to a person.

        What the failed attempt wrote is rolled back; the responder's ``failed`` then rates
        the text and queues the conversation (paging on call when the text is urgent). If
        that fails too, the conversation is queued here, as it is: a fault in a flow or
        the lexicon must never lose a child's message.
        """
        conversation_id = turn.conversation.id  # read now: the rollback expires the row
        try:
            async with session.begin_nested():
                await self.responder.respond(session, service=self, turn=turn)
            return
        except Exception:
            log.exception("triage failed; conversation %s goes to a person", conversation_id)
        await session.refresh(turn.conversation)
        await session.refresh(turn.contact)
        try:
            async with session.begin_nested():
                await self.responder.failed(session, service=self, turn=turn)
            return
        except Exception:
            log.exception("triage's fallback failed; conversation %s queued as it is",
                          conversation_id)
        conversation = turn.conversation
        await session.refresh(conversation)
        conversation.flags = sorted({*conversation.flags, TRIAGE_FAILED})
        if conversation.status not in ("queued", "assigned"):
            conversation.status, conversation.queued_at = "queued", turn.now
        if conversation.priority == "standard":
            conversation.priority = "high"

    async def reply(
        self,
        session: AsyncSession,
        *,
        conversation: Conversation,
        contact: Contact,
        text: str,
        author: str,
        now: datetime,
        address: Address | None = None,
    ) -> int:
        """Record an outgoing message, queue it in the outbox (same transaction); return its id.

        Nothing is queued for a contact who opted out or whose reply address was purged.
        """
        message_id = (await execute_unflushed(
            session, insert(MESSAGES).returning(MESSAGES.c.id),
            {"conversation_id": conversation.id, "direction": "out", "author": author,
             "body_enc": self.cipher.encrypt(text), "created_at": now})).scalar_one()
        if conversation.closed_at is not None:
            # Content in a closed conversation, which retention may have emptied (a
            # volunteer writing after it closed): purge it again once its time comes. A
            # statement, not the row as loaded: on PostgreSQL it waits for a purge batch
            # holding the row (``retention``), then clears the mark that batch made.
            await session.execute(update(Conversation)
                                  .where(Conversation.id == conversation.id)
                                  .values(purged_at=None))
        if address is None and contact.address_enc is not None:
            address = parse_address(self.cipher.decrypt(contact.address_enc))
        if contact.opted_out_at is None and address is not None:
            await self.outbox.enqueue(
                session, now=now, to=address, body=text, purpose="reply",
                contact_id=contact.id, conversation_id=conversation.id, message_id=message_id,
            )
        return message_id

    async def _open_conversation(
        self, session: AsyncSession, *, contact: Contact, channel: str, now: datetime
    ) -> tuple[Conversation, bool]:
        result = await session.execute(OPEN_CONVERSATION, {"contact_id": contact.id,
                                                            "channel": channel})
        conversation = result.scalars().first()
        if conversation is not None:
            return conversation, False
        conversation = Conversation(
            contact_id=contact.id, channel=channel, status="open", priority="standard",
            flags=[], results={}, created_at=now, updated_at=now,
        )
        session.add(conversation)
        await session.flush()
        return conversation, True
