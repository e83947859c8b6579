"""Store an inbound message in the inbox: one statement, committed before the answer."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from helpline.db import after_commit, insert_for
from helpline.inbox.models import PENDING, InboxMessage
from helpline.privacy.addresses import Address
from helpline.privacy.crypto import Cipher


class Inbox:
    """Accept inbound messages and wake the worker that processes them."""

    def __init__(self, *, cipher: Cipher) -> None:
        self._cipher = cipher
        self.pending = asyncio.Event()

    def wake(self) -> None:
        """Tell the worker there is work."""
        self.pending.set()

    async def store(self, session: AsyncSession, *, provider_sid: str, address: Address,
                    text: str, received_at: datetime) -> bool:
        """Store a message; return False if this MessageSid was stored before (redelivery)."""
        inserted = await session.scalar(
            insert_for(session, InboxMessage)
            .values(provider_sid=provider_sid, address_enc=self._cipher.encrypt(address.twilio),
                    body_enc=self._cipher.encrypt(text), received_at=received_at,
                    status=PENDING, attempts=0)
            .on_conflict_do_nothing()
            .returning(InboxMessage.id)
        )
        if inserted is not None:
            after_commit(session, self.wake)
        return inserted is not None
