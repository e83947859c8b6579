"""Deliver outbox rows: claim atomically, send in order per recipient, retry with backoff."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.background import poll_forever
from helpline.clock import Clock
from helpline.conversations.contacts import mark_opted_out
from helpline.conversations.models import Contact
from helpline.db import Database
from helpline.outbox.models import CANCELLED, FAILED, PENDING, SENDING, SENT, OutboxMessage
from helpline.outbox.providers import Provider, SendError
from helpline.outbox.service import Outbox
from helpline.privacy.crypto import Cipher, DecryptionError
from helpline.settings import SenderSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Claimed:
    id: int
    contact_id: int | None
    channel: str
    to: str
    body: str
    attempts: int


class OutboxSender:
    """The background worker that empties the outbox."""

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        provider: Provider,
        cipher: Cipher,
        clock: Clock,
        settings: SenderSettings,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self._outbox = outbox
        self._provider = provider
        self._cipher = cipher
        self._clock = clock
        self._settings = settings
        self._rng = rng or random.Random()
        self._limit = asyncio.Semaphore(settings.concurrency)

    async def run(self) -> None:
        """Send until cancelled, waking on new rows or every poll interval."""
        await poll_forever(self.run_once, wake=self._outbox.pending,
                           batch_size=self._settings.batch_size,
                           poll_seconds=self._settings.poll_seconds, what="outbox")

    async def run_once(self) -> int:
        """Claim the due rows, send them, record the outcomes; return how many were tried."""
        claimed = await self._claim()
        if not claimed:
            return 0
        by_recipient: dict[str, list[_Claimed]] = defaultdict(list)
        for row in claimed:
            by_recipient[row.to].append(row)
        sent = await asyncio.gather(*(self._send_in_order(rows)
                                      for rows in by_recipient.values()))
        await self._record_sent([pair for pairs in sent for pair in pairs])
        return len(claimed)

    async def _claim(self) -> list[_Claimed]:
        now = self._clock.now()
        due = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status.in_((PENDING, SENDING)),
                OutboxMessage.next_attempt_at <= now,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
            )
            .order_by(OutboxMessage.id)
            .limit(self._settings.batch_size)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(
                status=SENDING,
                claimed_until=now + timedelta(seconds=self._settings.lease_seconds),
                attempts=OutboxMessage.attempts + 1,
            )
            .returning(
                OutboxMessage.id,
                OutboxMessage.contact_id,
                OutboxMessage.channel,
                OutboxMessage.to_enc,
                OutboxMessage.body_enc,
                OutboxMessage.attempts,
            )
            .execution_options(synchronize_session=False)
        )
        claimed: list[_Claimed] = []
        async with self._db.transaction() as session:
            rows = (await session.execute(claim)).all()
            opted_out = await _opted_out(session, {r.contact_id for r in rows if r.contact_id})
            for row in sorted(rows, key=lambda r: r.id):
                if row.contact_id in opted_out:
                    await _finish(session, row.id, status=CANCELLED, error="recipient opted out")
                    continue
                try:
                    to = self._cipher.decrypt(row.to_enc or "")
                    body = self._cipher.decrypt(row.body_enc or "")
                except DecryptionError:
                    log.error("outbox row %s cannot be decrypted; marked failed", row.id)
                    await _finish(session, row.id, status=FAILED, error="cannot decrypt")
                    continue
                claimed.append(
                    _Claimed(row.id, row.contact_id, row.channel, to, body, row.attempts)
                )
        return claimed

    async def _send_in_order(self, rows: list[_Claimed]) -> list[tuple[_Claimed, str]]:
        """Send one recipient's texts in order; stop at a failure. Return what was sent."""
        sent: list[tuple[_Claimed, str]] = []
        for index, row in enumerate(rows):
            async with self._limit:
                try:
                    sid = await self._provider.send(to=row.to, body=row.body, channel=row.channel)
                except SendError as exc:
                    retry_at = await self._record_failure(row, exc)
                    # Later parts for this recipient wait so that texts arrive in order.
                    await self._release([r.id for r in rows[index + 1:]], retry_at)
                    break
            sent.append((row, sid))
        return sent

    async def _record_sent(self, sent: list[tuple[_Claimed, str]]) -> None:
        """Record every text of a pass that Twilio accepted, in one transaction."""
        if not sent:
            return
        now = self._clock.now()
        async with self._db.transaction() as session:
            await session.execute(update(OutboxMessage), [
                {"id": row.id, "status": SENT, "provider_sid": sid, "sent_at": now,
                 "claimed_until": None, "delivery_status": "queued", "last_error": None}
                for row, sid in sent
            ])
        for row, _sid in sent:
            log.info("outbox %s sent attempt=%s", row.id, row.attempts)

    async def _record_failure(self, row: _Claimed, exc: SendError) -> datetime | None:
        now = self._clock.now()
        async with self._db.transaction() as session:
            if exc.opted_out:
                await _finish(session, row.id, status=FAILED, error=exc.reason, code=exc.code)
                if row.contact_id is not None:
                    await mark_opted_out(session, contact_id=row.contact_id, now=now,
                                         actor="twilio", reason="error 21610")
                log.warning("outbox %s: recipient opted out (21610); sends stopped", row.id)
                return None
            if exc.retryable and row.attempts < self._settings.max_attempts:
                retry_at = now + timedelta(seconds=self._backoff(row.attempts))
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id)
                    .values(status=PENDING, next_attempt_at=retry_at, claimed_until=None,
                            last_error=exc.reason, error_code=exc.code)
                )
                log.warning("outbox %s attempt %s failed (%s); retry at %s",
                            row.id, row.attempts, exc.reason, retry_at.isoformat())
                return retry_at
            await _finish(session, row.id, status=FAILED, error=exc.reason, code=exc.code)
            log.error("outbox %s gave up after %s attempts: %s", row.id, row.attempts, exc.reason)
            return None

    async def _release(self, ids: list[int], retry_at: datetime | None) -> None:
        if not ids:
            return
        async with self._db.transaction() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.status == SENDING)
                .values(status=PENDING, claimed_until=None,
                        next_attempt_at=retry_at or self._clock.now(),
                        attempts=OutboxMessage.attempts - 1)
            )

    def _backoff(self, attempts: int) -> float:
        """Return seconds to wait after ``attempts`` tries: exponential, capped, jittered."""
        base = self._settings.backoff_base_seconds * 2 ** max(attempts - 1, 0)
        return min(base, self._settings.backoff_max_seconds) * self._rng.uniform(0.8, 1.2)


async def _opted_out(session: AsyncSession, contact_ids: set[int]) -> set[int]:
    if not contact_ids:
        return set()
    result = await session.execute(
        select(Contact.id).where(Contact.id.in_(contact_ids), Contact.opted_out_at.is_not(None))
    )
    return set(result.scalars())


async def _finish(session: AsyncSession, outbox_id: int, *, status: str, error: str,
                  code: int | None = None) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(status=status, claimed_until=None, last_error=error, error_code=code)
    )
