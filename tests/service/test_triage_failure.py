"""A fault in triage never loses a message: it is kept and queued for a person."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.app import create_app
from helpline.conversations.models import Conversation, Message
from helpline.conversations.service import ConversationService, Turn
from helpline.outbox.models import OutboxMessage
from helpline.settings import Settings
from helpline.triage.lexicon import RiskLexicon
from tests.conftest import TwilioWebhooks


class BrokenResponder:
    """A responder that writes a reply and then fails, like a buggy flow."""

    async def respond(self, session: AsyncSession, *, service: ConversationService,
                      turn: Turn) -> None:
        """Queue a reply, then raise."""
        await service.reply(session, conversation=turn.conversation, contact=turn.contact,
                            text="half-done", author="flow", now=turn.now)
        raise RuntimeError("flow bug")


async def test_failed_triage_keeps_message_and_queues_it(aiohttp_client: Any, settings: Settings,
                                                        lexicon: RiskLexicon) -> None:
    """Test that a failing responder still stores the text, sends nothing half-done, queues it."""
    app = create_app(settings, responder=BrokenResponder(), lexicon=lexicon, run_workers=False)
    client = await aiohttp_client(app)
    response = await TwilioWebhooks(client).sms("please help")
    assert response.status == 200
    from helpline import appkeys

    async with app[appkeys.DB].reader() as session:
        messages = (await session.execute(select(func.count()).select_from(Message))).scalar_one()
        outbox = (await session.execute(select(func.count()).select_from(OutboxMessage)))
        conversation = (await session.execute(select(Conversation))).scalar_one()
    assert messages == 1
    assert outbox.scalar_one() == 0
    assert (conversation.status, conversation.priority) == ("queued", "high")
    assert "triage_failed" in conversation.flags
