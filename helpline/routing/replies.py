"""A volunteer's reply to a young person: the first one stops the clock on targets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from helpline.conversations.models import Contact, Conversation
from helpline.conversations.service import ConversationService
from helpline.jobs import service as jobs
from helpline.routing.alerts import AlertService
from helpline.routing.queue import ASSIGNED, QueueError
from helpline.users.models import User


async def reply_as_volunteer(
    session: AsyncSession,
    *,
    service: ConversationService,
    alerts: AlertService,
    conversation: Conversation,
    user: User,
    text: str,
    now: datetime,
) -> int:
    """Send a volunteer's text to the young person whose case they hold; return its id."""
    if conversation.status != ASSIGNED or conversation.assigned_to != user.id:
        raise QueueError("take this case before replying")
    contact = await session.get_one(Contact, conversation.contact_id)
    message_id = await service.reply(session, conversation=conversation, contact=contact,
                                     text=text, author="volunteer", now=now)
    if conversation.first_human_reply_at is None:
        conversation.first_human_reply_at = now
        await jobs.cancel(session, keys=[f"target:{conversation.id}"], now=now)
    await alerts.replied(session, conversation=conversation, now=now)
    return message_id
