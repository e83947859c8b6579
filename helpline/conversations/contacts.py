"""Find contacts by pseudonym; record opt-outs. Never touches a number in clear beyond hashing."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.audit import service as audit
from helpline.conversations.models import Contact
from helpline.db import insert_in
from helpline.outbox.models import CANCELLED, PENDING, OutboxMessage
from helpline.privacy.addresses import Address
from helpline.privacy.crypto import Cipher
from helpline.privacy.pseudonym import Pseudonymizer


async def find_contact(
    session: AsyncSession, *, pseudonyms: Pseudonymizer, e164: str
) -> Contact | None:
    """Return the contact for a number under any pseudonym key version, or None."""
    digests = [p.digest for p in pseudonyms.all_pseudonyms(e164)]
    result = await session.execute(select(Contact).where(Contact.pseudonym.in_(digests)))
    return result.scalars().first()


async def upsert_contact(
    session: AsyncSession,
    *,
    pseudonyms: Pseudonymizer,
    cipher: Cipher,
    address: Address,
    now: datetime,
) -> Contact:
    """Return the contact for ``address``, created if new, locked for this transaction.

    One statement in the common case: INSERT ... ON CONFLICT DO UPDATE ... RETURNING, which
    also locks the row on PostgreSQL so two messages from one contact run one at a time.
    """
    current = pseudonyms.pseudonym(address.e164)
    if len(pseudonyms.all_pseudonyms(address.e164)) > 1:
        await _move_to_current_key(session, pseudonyms=pseudonyms, e164=address.e164)
    result = await session.execute(_upsert(session.bind.dialect.name), {
        "pseudonym": current.digest, "version": current.version,
        "address_enc": cipher.encrypt(address.twilio), "now": now})
    return result.scalar_one()


@functools.cache
def _upsert(dialect: str) -> Any:
    """Build the contact upsert once per dialect (building it took longer than running it)."""
    columns = Contact.__table__.c
    insert = insert_in(dialect, Contact).values(
        pseudonym=bindparam("pseudonym"),
        pseudonym_version=bindparam("version", type_=columns.pseudonym_version.type),
        address_enc=bindparam("address_enc"),
        created_at=bindparam("now", type_=columns.created_at.type),
        last_seen_at=bindparam("now", type_=columns.last_seen_at.type),
    )
    upsert = insert.on_conflict_do_update(
        index_elements=[Contact.pseudonym],
        # The reply address follows the channel last used (SMS or WhatsApp).
        set_={"last_seen_at": insert.excluded.last_seen_at,
              "address_enc": insert.excluded.address_enc},
    ).returning(Contact)
    return select(Contact).from_statement(upsert).execution_options(populate_existing=True)


async def _move_to_current_key(session: AsyncSession, *, pseudonyms: Pseudonymizer,
                               e164: str) -> None:
    """Re-key a contact found under an older pseudonym key to the newest one."""
    current = pseudonyms.pseudonym(e164)
    older = [p.digest for p in pseudonyms.all_pseudonyms(e164) if p.version != current.version]
    await session.execute(
        update(Contact).where(Contact.pseudonym.in_(older))
        .values(pseudonym=current.digest, pseudonym_version=current.version)
        .execution_options(synchronize_session=False))


async def mark_opted_out(
    session: AsyncSession, *, contact_id: int, now: datetime, actor: str, reason: str
) -> None:
    """Record an opt-out and cancel every text still waiting for that contact."""
    await session.execute(
        update(Contact)
        .where(Contact.id == contact_id, Contact.opted_out_at.is_(None))
        .values(opted_out_at=now)
    )
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.contact_id == contact_id, OutboxMessage.status == PENDING)
        .values(status=CANCELLED, last_error="recipient opted out")
    )
    audit.record(session, at=now, actor=actor, action="contact.opted_out",
                 subject_type="contact", subject_id=contact_id, reason=reason)


async def mark_opted_in(
    session: AsyncSession, *, contact_id: int, now: datetime, actor: str
) -> None:
    """Record that a contact opted back in (START, UNSTOP)."""
    await session.execute(
        update(Contact).where(Contact.id == contact_id).values(opted_out_at=None)
    )
    audit.record(session, at=now, actor=actor, action="contact.opted_in",
                 subject_type="contact", subject_id=contact_id)
