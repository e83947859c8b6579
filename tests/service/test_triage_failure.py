"""A fault in triage never loses a message: it is kept and queued for a person."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.app import create_app
from helpline.conversations.models import Conversation, Message
from helpline.conversations.service import TRIAGE_FAILED, ConversationService, Turn
from helpline.inbox.models import InboxMessage
from helpline.jobs.models import Job
from helpline.outbox.models import OutboxMessage
from helpline.routing.models import Alert
from helpline.routing.queue import TARGET_CHECK
from helpline.settings import Settings
from helpline.triage.flows.engine import FlowEngine
from helpline.triage.flows.loader import FlowRegistry
from helpline.triage.lexicon import RiskLexicon
from helpline.triage.responder import DANGER_TEXT
from tests.conftest import TwilioWebhooks
from tests.flows.helpers import SHIPPED
from tests.service.helpers import Texter


class BrokenResponder:
    """A responder whose every step writes a reply, then fails: a buggy flow and fallback."""

    async def respond(self, session: AsyncSession, *, service: ConversationService,
                      turn: Turn) -> None:
        """Queue a reply, then raise."""
        await service.reply(session, conversation=turn.conversation, contact=turn.contact,
                            text="half-done", author="flow", now=turn.now)
        raise RuntimeError("flow bug")

    async def failed(self, session: AsyncSession, *, service: ConversationService,
                     turn: Turn) -> None:
        """Queue a reply, then raise too."""
        await service.reply(session, conversation=turn.conversation, contact=turn.contact,
                            text="half-done fallback", author="system", now=turn.now)
        raise RuntimeError("fallback bug")


async def test_failed_triage_keeps_message_and_queues_it(aiohttp_client: Any, settings: Settings,
                                                        lexicon: RiskLexicon) -> None:
    """Test that when triage and its fallback fail, the text is stored and queued, nothing sent."""
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


async def _on_a_missing_flow_version(texter: Texter) -> None:
    """Put the texter's conversation on a flow version no file holds any more."""
    async with texter.db.transaction() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
        conversation.flow_state = {**conversation.flow_state, "version": 99}


async def test_a_failed_flow_hands_an_ordinary_text_to_a_person(texter: Texter) -> None:
    """Test that a text whose flow fails is queued high, with its first-reply target timed."""
    await texter.send("hi")
    await _on_a_missing_flow_version(texter)
    assert await texter.send("yes") == []
    conversation = await texter.conversation()
    assert (conversation.status, conversation.priority) == ("queued", "high")
    assert TRIAGE_FAILED in conversation.flags
    assert "conversation.queued" in await texter.audit_actions()
    async with texter.db.reader() as session:
        targets = (await session.execute(select(Job.key).where(
            Job.kind == TARGET_CHECK, Job.done_at.is_(None)))).scalars().all()
    assert targets == [f"target:{conversation.id}"]


async def test_a_failed_flow_still_pages_for_a_child_in_danger(texter: Texter) -> None:
    """Test that an urgent text whose flow fails gets 999 advice, an alert and the queue."""
    await texter.send("hi")
    await _on_a_missing_flow_version(texter)
    assert await texter.send("i want to kill myself") == [DANGER_TEXT]
    conversation = await texter.conversation()
    assert (conversation.status, conversation.priority) == ("queued", "urgent")
    assert TRIAGE_FAILED in conversation.flags, conversation.flags
    assert any(f.startswith("risk:") for f in conversation.flags), conversation.flags
    async with texter.db.reader() as session:
        alerts = (await session.execute(select(Alert.conversation_id))).scalars().all()
        inbox = (await session.execute(select(InboxMessage.status))).scalars().all()
    assert alerts == [conversation.id]
    assert set(inbox) == {"done"}


async def test_a_failed_flow_gives_999_advice_in_the_language_of_the_danger(
        texter: Texter) -> None:
    """Test that a child writing Persian gets the flow's Persian 999 advice, then English."""
    await texter.send("hi")
    await _on_a_missing_flow_version(texter)
    sms = FlowRegistry.load(SHIPPED).get("sms_triage")
    danger = sms.nodes["danger"].send
    assert await texter.send("نجاتم بدید") == [sms.text(danger, "fa"), DANGER_TEXT]
    assert (await texter.conversation()).priority == "urgent"


async def test_a_failed_flow_in_a_persian_conversation_advises_in_persian_too(
        texter: Texter) -> None:
    """Test that the conversation's language counts when the danger is written in English."""
    await texter.send("سلام")
    conversation = await texter.conversation()
    assert conversation.language == "fa"
    await _on_a_missing_flow_version(texter)
    sms = FlowRegistry.load(SHIPPED).get("sms_triage")
    assert await texter.send("i want to kill myself") == [
        sms.text(sms.nodes["danger"].send, "fa"), DANGER_TEXT]


def test_the_fallbacks_999_advice_is_the_flows_own() -> None:
    """Test that ``DANGER_TEXT`` says what the SMS flow's danger node says in English."""
    flow = FlowRegistry.load(SHIPPED).get("sms_triage")
    assert flow.text(flow.nodes["danger"].send, "en") == DANGER_TEXT


def test_every_messaging_flow_has_its_999_advice_for_the_fallback_in_each_language() -> None:
    """Test that the fallback finds each chat flow's danger advice, in all its languages."""
    registry = FlowRegistry.load(SHIPPED)
    engine = FlowEngine(registry)
    for flow_id in ("sms_triage", "webchat_triage"):
        advice = engine.danger_advice(flow_id)
        assert set(advice) == set(registry.get(flow_id).languages), flow_id
        assert all("999" in text for text in advice.values()), flow_id


async def test_an_archived_flow_version_goes_on_after_an_upgrade(texter: Texter) -> None:
    """Test that a conversation begun on version 1 of the SMS flow carries on with it."""
    await texter.send("hi")
    async with texter.db.transaction() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
        conversation.flow_state = {**conversation.flow_state, "version": 1}
    replies = await texter.send("yes")
    conversation = await texter.conversation()
    assert replies
    assert TRIAGE_FAILED not in conversation.flags
    assert (conversation.flow_id, conversation.flow_version) == ("sms_triage", "1")
