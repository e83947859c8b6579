"""Write outgoing texts to the outbox, in the caller's transaction."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.db import after_commit, execute_unflushed
from helpline.outbox.models import PENDING, OutboxMessage
from helpline.privacy.addresses import Address
from helpline.privacy.crypto import Cipher

# Twilio concatenates a long SMS up to 1600 characters; longer texts must be split.
MAX_TEXT_CHARS = 1600


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters, at spaces where possible."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


class Outbox:
    """Queue texts for the sender and wake it once the transaction commits."""

    def __init__(self, *, cipher: Cipher) -> None:
        self._cipher = cipher
        self.pending = asyncio.Event()

    def wake(self) -> None:
        """Tell the sender there is work."""
        self.pending.set()

    async def enqueue(
        self,
        session: AsyncSession,
        *,
        now: datetime,
        to: Address,
        body: str,
        purpose: str,
        contact_id: int | None = None,
        conversation_id: int | None = None,
        message_id: int | None = None,
    ) -> None:
        """Add one outbox row per part of ``body``; they are sent in order after commit."""
        to_enc = self._cipher.encrypt(to.twilio)
        await execute_unflushed(session, insert(OutboxMessage.__table__), [
            {"purpose": purpose, "channel": to.channel, "contact_id": contact_id,
             "conversation_id": conversation_id, "message_id": message_id, "to_enc": to_enc,
             "body_enc": self._cipher.encrypt(part), "status": PENDING, "attempts": 0,
             "next_attempt_at": now, "created_at": now}
            for part in split_text(body)])
        after_commit(session, self.wake)
