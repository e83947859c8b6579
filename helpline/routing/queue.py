"""The queue: conversations waiting for a person, by priority then waiting time."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.audit import service as audit
from helpline.conversations.models import Conversation
from helpline.jobs import service as jobs
from helpline.routing.escalation import EscalationConfig
from helpline.users.models import User

log = logging.getLogger(__name__)

QUEUED, ASSIGNED = "queued", "assigned"
TARGET_CHECK = "queue.target"
PRIORITY_ORDER = case(
    {"urgent": 0, "high": 1, "standard": 2}, value=Conversation.priority, else_=3)


class QueueError(Exception):
    """A volunteer cannot take a case now; the message says why."""


class Queue:
    """Put conversations in the queue, hand them out atomically, watch the targets."""

    def __init__(self, *, escalation: EscalationConfig) -> None:
        self.escalation = escalation

    async def enqueue(self, session: AsyncSession, *, conversation: Conversation,
                      now: datetime) -> None:
        """Queue a conversation for a person (keeps its place if it was queued before)."""
        if conversation.status in (QUEUED, ASSIGNED):
            return
        conversation.status = QUEUED
        conversation.queued_at = conversation.queued_at or now
        audit.record(session, at=now, actor="system", action="conversation.queued",
                     subject_type="conversation", subject_id=conversation.id,
                     priority=conversation.priority)
        await self.watch_target(session, conversation=conversation, now=now)

    async def watch_target(self, session: AsyncSession, *, conversation: Conversation,
                           now: datetime) -> None:
        """(Re)schedule the first-reply target check for the conversation's priority."""
        if conversation.queued_at is None or conversation.first_human_reply_at is not None:
            return
        key = f"target:{conversation.id}"
        await jobs.cancel(session, keys=[key], now=now)
        due = conversation.queued_at + timedelta(
            seconds=self.escalation.target_for(conversation.priority))
        await jobs.schedule(session, kind=TARGET_CHECK, due_at=max(due, now), now=now, key=key,
                            payload={"conversation_id": conversation.id})

    async def take_next(self, session: AsyncSession, *, user: User,
                        now: datetime) -> Conversation | None:
        """Assign the most urgent, longest-waiting conversation to ``user``; None if empty.

        Atomic: on PostgreSQL the candidate row is locked with SKIP LOCKED, on SQLite the
        single writer serialises takes, and the UPDATE re-checks that it is still queued.
        """
        if user.availability != "available" or user.disabled_at is not None:
            raise QueueError("set yourself available before taking a case")
        holding = await session.scalar(
            select(func.count()).select_from(Conversation)
            .where(Conversation.assigned_to == user.id, Conversation.status == ASSIGNED))
        if (holding or 0) >= user.capacity:
            raise QueueError(f"you already hold {holding} cases (your capacity)")
        candidate = (
            select(Conversation.id)
            .where(Conversation.status == QUEUED)
            .order_by(PRIORITY_ORDER, Conversation.queued_at, Conversation.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        taken = await session.scalar(
            update(Conversation)
            .where(Conversation.id == candidate, Conversation.status == QUEUED)
            .values(status=ASSIGNED, assigned_to=user.id, assigned_at=now, updated_at=now)
            .returning(Conversation.id)
            .execution_options(synchronize_session=False)
        )
        if taken is None:
            return None
        audit.record(session, at=now, actor=f"user:{user.id}", action="conversation.taken",
                     subject_type="conversation", subject_id=taken)
        return await session.get(Conversation, taken, populate_existing=True)

    async def assign(self, session: AsyncSession, *, conversation: Conversation, user: User,
                     now: datetime) -> None:
        """Give a conversation to a user (an acknowledged alert)."""
        conversation.status, conversation.assigned_to = ASSIGNED, user.id
        conversation.assigned_at = conversation.updated_at = now
        conversation.queued_at = conversation.queued_at or now

    async def release(self, session: AsyncSession, *, conversation: Conversation,
                      now: datetime, reason: str) -> None:
        """Put an assigned conversation back in the queue, keeping its place."""
        if conversation.status != ASSIGNED:
            return
        conversation.status, conversation.assigned_to = QUEUED, None
        conversation.assigned_at, conversation.updated_at = None, now
        audit.record(session, at=now, actor="system", action="conversation.returned",
                     subject_type="conversation", subject_id=conversation.id, reason=reason)

    async def set_availability(self, session: AsyncSession, *, user: User, availability: str,
                               now: datetime) -> int:
        """Change a user's availability; going away returns their cases to the queue."""
        if availability not in ("available", "busy", "away"):
            raise QueueError("availability must be available, busy or away")
        user.availability = availability
        audit.record(session, at=now, actor=f"user:{user.id}", action="user.availability",
                     subject_type="user", subject_id=user.id, availability=availability)
        if availability != "away":
            return 0
        held = (await session.execute(
            select(Conversation).where(Conversation.assigned_to == user.id,
                                       Conversation.status == ASSIGNED)
            .with_for_update())).scalars().all()
        for conversation in held:
            await self.release(session, conversation=conversation, now=now, reason="away")
        return len(held)
