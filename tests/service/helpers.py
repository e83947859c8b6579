"""Drive the whole service as a texter would: signed webhooks in, loopback texts out."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from helpline import appkeys
from helpline.audit.models import AuditEvent
from helpline.clock import FrozenClock
from helpline.conversations.models import Contact, Conversation
from helpline.db import Database
from helpline.jobs.models import Job
from helpline.outbox.providers import LoopbackProvider
from tests.conftest import TEXTER, TwilioWebhooks

# Monday 5 January 2026 in London (UTC in winter): open at noon, closed at 3am.
OPEN_TIME = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
CLOSED_TIME = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)


class Texter:
    """A young person texting the service; ``send`` returns the replies they receive."""

    def __init__(self, client: TestClient, loopback: LoopbackProvider, clock: FrozenClock,
                 number: str = TEXTER) -> None:
        self.client, self.loopback, self.clock = client, loopback, clock
        self.number = number
        self.webhooks = TwilioWebhooks(client)
        self._seen = 0

    async def send(self, text: str) -> list[str]:
        """Text the service and return every reply delivered since the last call."""
        response = await self.webhooks.sms(text, sender=self.number)
        assert response.status == 200, await response.text()
        return await self.received()

    async def received(self) -> list[str]:
        """Run the sender and return the texts delivered since the last call."""
        await self.client.app[appkeys.SENDER].run_once()
        sent = list(self.loopback.sent)[self._seen:]
        self._seen = len(self.loopback.sent)
        return [t.body for t in sent]

    async def fire_timer(self, kind: str) -> list[str]:
        """Move the clock to the next pending flow timer of ``kind``, run it, return replies."""
        async with self.db.reader() as session:
            jobs = (await session.execute(
                select(Job).where(Job.done_at.is_(None), Job.kind == "flow.timer")
                .order_by(Job.due_at))).scalars().all()
        due = [j for j in jobs if j.payload["timer"].startswith(kind + ":")]
        assert due, f"no pending {kind} timer"
        self.clock.advance((due[0].due_at - self.clock.now()).total_seconds() + 1)
        await self.client.app[appkeys.JOBS].run_once()
        await self.client.app[appkeys.JOBS].long_work_done()  # a purge runs in a task of its own
        return await self.received()

    @property
    def db(self) -> Database:
        """Return the app's database."""
        return self.client.app[appkeys.DB]

    async def conversation(self) -> Conversation:
        """Return the texter's latest conversation."""
        async with self.db.reader() as session:
            return (await session.execute(
                select(Conversation).order_by(Conversation.id.desc()).limit(1))).scalar_one()

    async def contact(self) -> Contact:
        """Return the texter's contact row."""
        async with self.db.reader() as session:
            return (await session.execute(select(Contact))).scalars().first()

    async def audit_actions(self) -> list[str]:
        """Return the audit log's actions in order."""
        async with self.db.reader() as session:
            return list((await session.execute(
                select(AuditEvent.action).order_by(AuditEvent.id))).scalars())
