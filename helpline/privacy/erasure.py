"""Erase one young person's content on request; the erasure itself is audited, not the content."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.audit import service as audit
from helpline.conversations.models import Contact, Conversation, Message
from helpline.inbox.models import FAILED as INBOX_FAILED
from helpline.inbox.models import InboxMessage
from helpline.keys import KeyRing
from helpline.outbox.models import CANCELLED, PENDING, OutboxMessage
from helpline.privacy.addresses import AddressError, parse_address
from helpline.privacy.crypto import DecryptionError
from helpline.privacy.retention import cut_links
from helpline.users.models import User

MAY_ERASE = ("supervisor", "admin")


class ErasureError(Exception):
    """The erasure was not allowed or has nothing to act on."""


@dataclass
class ErasureReport:
    """Counts of what an erasure removed."""

    conversations: int = 0
    message_bodies: int = 0
    outbox_contents: int = 0
    inbox_messages: int = 0


async def erase_contact(session: AsyncSession, *, contact_id: int, by: User, reason: str,
                        now: datetime, keys: KeyRing) -> ErasureReport:
    """Remove every message body, answer, reply address and the pseudonym link of a contact."""
    if by.role not in MAY_ERASE or by.disabled_at is not None:
        raise ErasureError("only a supervisor or admin may erase a contact's content")
    if not reason.strip():
        raise ErasureError("give a reason for the erasure")
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise ErasureError(f"no contact {contact_id}")
    conversations = select(Conversation.id).where(Conversation.contact_id == contact_id)
    report = ErasureReport()
    report.conversations = len((await session.execute(conversations)).all())
    report.message_bodies = (await session.execute(
        update(Message).where(Message.conversation_id.in_(conversations),
                              Message.body_enc.is_not(None))
        .values(body_enc=None, body_purged_at=now))).rowcount or 0
    await session.execute(update(Conversation).where(Conversation.contact_id == contact_id)
                          .values(answers_enc=None))
    await session.execute(update(OutboxMessage).where(OutboxMessage.contact_id == contact_id,
                                                      OutboxMessage.status == PENDING)
                          .values(status=CANCELLED, last_error="content erased"))
    report.outbox_contents = (await session.execute(
        update(OutboxMessage).where(OutboxMessage.contact_id == contact_id)
        .values(to_enc=None, body_enc=None))).rowcount or 0
    # Texts the worker could not file are kept in the inbox for a person; they go too.
    # (Filed ones keep no content and no pseudonym; pending ones are filed within moments.)
    failed = await _failed_texts_of(session, contact, keys)
    if failed:
        report.inbox_messages = (await session.execute(
            update(InboxMessage).where(InboxMessage.id.in_(failed),
                                       InboxMessage.status == INBOX_FAILED)  # not retried since
            .values(body_enc=None, address_enc=None, sender_key=None))).rowcount or 0
    await cut_links(session, where=Contact.id == contact_id)
    audit.record(session, at=now, actor=f"user:{by.id}", action="contact.erased",
                 subject_type="contact", subject_id=contact_id, reason=reason.strip()[:200],
                 **asdict(report))
    return report


async def _failed_texts_of(session: AsyncSession, contact: Contact, keys: KeyRing) -> list[int]:
    """Return the ids of failed inbox texts from the contact's number, under any key.

    A failed text keeps the pseudonym it was stored under, which a key rotation since may
    have made differ from the contact's. Failed texts are few, so each one's number is
    decrypted and its pseudonyms under every key compared with the contact's.
    """
    rows = (await session.execute(
        select(InboxMessage.id, InboxMessage.sender_key, InboxMessage.address_enc)
        .where(InboxMessage.status == INBOX_FAILED,
               or_(InboxMessage.body_enc.is_not(None), InboxMessage.sender_key.is_not(None)))
    )).all()
    found = []
    for row in rows:
        if row.sender_key == contact.pseudonym:
            found.append(row.id)
            continue
        try:
            e164 = parse_address(keys.cipher.decrypt(row.address_enc or "")).e164
        except (DecryptionError, AddressError):
            continue  # unreadable or emptied: nothing to match it by
        if contact.pseudonym in {p.digest for p in keys.pseudonyms.all_pseudonyms(e164)}:
            found.append(row.id)
    return found
