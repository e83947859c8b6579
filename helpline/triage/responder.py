"""Triage every inbound message: keywords, the risk lexicon, then the conversation's flow."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.audit import service as audit
from helpline.conversations.contacts import mark_opted_in, mark_opted_out
from helpline.conversations.models import Contact, Conversation
from helpline.conversations.service import TRIAGE_FAILED, ConversationService, Turn
from helpline.jobs import service as jobs
from helpline.jobs.models import Job
from helpline.jobs.runner import Handler
from helpline.privacy.addresses import Address
from helpline.routing.hours import OpeningHours
from helpline.triage.flows.engine import TIMER_KINDS, FlowContext, FlowEngine, Step, timer_kind
from helpline.triage.keywords import Keyword, keyword
from helpline.triage.lexicon import RiskAssessment, RiskLexicon
from helpline.triage.priority import Priority

log = logging.getLogger(__name__)

FLOW_TIMER = "flow.timer"
WITH_A_PERSON = ("queued", "assigned")
HELP_TEXT = ("Free and confidential. Reply with anything to talk, STOP to stop. "
             "In danger now? Call 999.")
# Sent when the flow failed on a text the lexicon rates urgent, after the flow's own danger
# advice in the languages the text and the conversation are in (read from the flow when
# the service starts): the SMS flow's English, kept here in case no flow has it.
DANGER_TEXT = "If you're in danger now, call 999 (free). Can't speak? Call 999, then press 55."
MAX_DANGER_TEXTS = 3


class UrgentAlerts(Protocol):
    """The hook routing provides to page on-call volunteers about an urgent conversation."""

    async def open(self, session: AsyncSession, *, conversation: Conversation, source: str,
                   now: datetime) -> object:
        """Start (or keep) an urgent alert for ``conversation``."""
        ...


class Queue(Protocol):
    """Routing's queue, as triage uses it."""

    async def enqueue(self, session: AsyncSession, *, conversation: Conversation,
                      now: datetime) -> None:
        """Put a conversation in the queue for a person."""
        ...

    async def watch_target(self, session: AsyncSession, *, conversation: Conversation,
                           now: datetime) -> None:
        """Re-time the first-reply target after a priority change."""
        ...


class TriageResponder:
    """Run global interrupts and the flow for each inbound message; never block a message."""

    def __init__(
        self,
        *,
        engine: FlowEngine,
        lexicon: RiskLexicon,
        hours: OpeningHours,
        flow_for_channel: dict[str, str],
        alerts: UrgentAlerts,
        queue: Queue,
    ) -> None:
        self.engine = engine
        self.lexicon = lexicon
        self.hours = hours
        self.flow_for_channel = flow_for_channel
        self.alerts = alerts
        self.queue = queue
        self.forced_language: str | None = None  # the simulator's --lang
        # Read now: when it is needed, the flow has just failed.
        self._danger_advice = {channel: engine.danger_advice(flow_id)
                               for channel, flow_id in flow_for_channel.items()}

    async def respond(self, session: AsyncSession, *, service: ConversationService,
                      turn: Turn) -> None:
        """Handle one inbound message in its conversation."""
        conversation, contact, now = turn.conversation, turn.contact, turn.now
        match keyword(turn.text):
            case Keyword.OPT_OUT:
                await mark_opted_out(session, contact_id=contact.id, now=now,
                                     actor="contact", reason="keyword")
                contact.opted_out_at = now
                await jobs.cancel(session, keys=_timer_keys(conversation), now=now)
                return
            case Keyword.OPT_IN:
                await mark_opted_in(session, contact_id=contact.id, now=now, actor="contact")
                contact.opted_out_at = None
                return
            case Keyword.HELP:
                await service.reply(session, conversation=conversation, contact=contact,
                                    text=HELP_TEXT, author="system", now=now,
                                    address=turn.address)
                return
            case None:
                pass
        risk = (await self._assess_risk(session, conversation=conversation, text=turn.text,
                                        now=now)).priority
        state = conversation.flow_state
        if state is not None and state.get("ended") and conversation.status in WITH_A_PERSON:
            return  # a volunteer has this conversation; the message waits for them
        context = self.context(conversation.channel, now, risk=risk)
        if state is not None and not state.get("ended"):
            step = self.engine.handle_reply(state, turn.text, context=context)
            await self.apply(session, service=service, conversation=conversation,
                             contact=contact, step=step, now=now, address=turn.address)
            return
        flow_id = self.flow_for_channel[conversation.channel]
        step = self.engine.start(flow_id=flow_id, first_text=turn.text, context=context,
                                 language=self.forced_language)
        if self.engine.interrupts(flow_id, turn.text, context=context):
            # "Talk to a person", or danger in the first words, goes straight where the
            # flow says, in any state. A first contact still gets the greeting (how to
            # stop); a returning one only the answer.
            if state is None:
                await self.apply(session, service=service, conversation=conversation,
                                 contact=contact, step=step, now=now, address=turn.address)
            step = self.engine.handle_reply(step.state, turn.text, context=context)
        await self.apply(session, service=service, conversation=conversation, contact=contact,
                         step=step, now=now, address=turn.address)

    async def failed(self, session: AsyncSession, *, service: ConversationService,
                     turn: Turn) -> None:
        """Hand a text whose triage failed to a person, as urgently as the lexicon rates it.

        ``respond``'s writes were rolled back, its rating too: the text is rated again
        (an urgent one pages on call and gets the 999 advice), then the conversation is
        queued, at least as high priority, flagged ``triage_failed``.
        """
        conversation, now = turn.conversation, turn.now
        conversation.flags = sorted({*conversation.flags, TRIAGE_FAILED})
        risk = await self._assess_risk(session, conversation=conversation, text=turn.text,
                                       now=now)
        await self._raise(session, conversation, Priority.HIGH, source="triage", now=now)
        if risk.priority is Priority.URGENT:
            for text in self._danger_texts(conversation, risk):
                await service.reply(session, conversation=conversation, contact=turn.contact,
                                    text=text, author="system", now=now, address=turn.address)
        await self.queue.enqueue(session, conversation=conversation, now=now)

    def _danger_texts(self, conversation: Conversation, risk: RiskAssessment) -> list[str]:
        """Return the 999 advice for a text whose flow failed, in the child's languages.

        First the languages of the urgent phrases found (what the text was written in),
        then the conversation's; English last, always: at most ``MAX_DANGER_TEXTS`` texts.
        """
        advice = self._danger_advice.get(conversation.channel, {})
        languages = [m.language for m in risk.matches if m.priority is Priority.URGENT]
        languages.append(conversation.language or "en")
        texts = [advice[lang] for lang in dict.fromkeys(languages)
                 if lang in advice and lang != "en"]
        return [*texts[:MAX_DANGER_TEXTS - 1], advice.get("en", DANGER_TEXT)]

    async def on_timer(self, session: AsyncSession, *, service: ConversationService,
                       conversation: Conversation, contact: Contact, timer: str,
                       now: datetime) -> None:
        """Fire a flow timer (reminder or expiry) for a conversation."""
        if conversation.flow_state is None or conversation.closed_at is not None:
            return
        step = self.engine.handle_timer(conversation.flow_state, timer,
                                        context=self.context(conversation.channel, now))
        await self.apply(session, service=service, conversation=conversation, contact=contact,
                         step=step, now=now)

    def context(self, channel: str, now: datetime, *,
                risk: Priority | None = None) -> FlowContext:
        """Return what a flow may know right now: opening hours, the channel, the risk.

        ``risk`` is the lexicon's rating of the message being handled, so that a flow can
        take a disclosure as an answer (an interrupt with ``risk: urgent``).
        """
        return FlowContext(open_now=self.hours.is_open(now),
                           opens_at=self.hours.describe_next(now), channel=channel, risk=risk)

    async def apply(self, session: AsyncSession, *, service: ConversationService,
                    conversation: Conversation, contact: Contact, step: Step,
                    now: datetime, address: Address | None = None) -> None:
        """Carry out a flow step: state, priority, results, replies, queue and timers.

        ``address``: where the contact just wrote from (else their stored reply address).
        """
        if step.stale:
            return
        state = step.state
        conversation.flow_state = state
        conversation.flow_id, conversation.flow_version = state["flow"], str(state["version"])
        conversation.language = step.language or conversation.language
        conversation.updated_at = now
        if step.flags:
            conversation.flags = sorted(set(conversation.flags) | step.flags)
        if step.results:
            conversation.results = {**conversation.results, **step.results}
        if step.free_text:
            self._store_answers(service, conversation, step.free_text)
        for text in step.replies:
            await service.reply(session, conversation=conversation, contact=contact, text=text,
                                author="flow", now=now, address=address)
        raised = max(filter(None, (step.priority, step.handover)), key=_urgency, default=None)
        if raised is not None:
            await self._raise(session, conversation, raised, source="flow", now=now)
        if step.handover is not None:
            await self.queue.enqueue(session, conversation=conversation, now=now)
        await jobs.cancel(session, keys=_timer_keys(conversation), now=now)
        await jobs.schedule_many(session, now=now, jobs=[
            jobs.NewJob(kind=FLOW_TIMER, due_at=now + timedelta(seconds=seconds),
                        key=_timer_key(conversation, timer_kind(name)),
                        payload={"conversation_id": conversation.id, "timer": name})
            for name, seconds in step.timers])

    async def _assess_risk(self, session: AsyncSession, *, conversation: Conversation,
                           text: str, now: datetime) -> RiskAssessment:
        """Flag and raise the conversation for what the lexicon finds; return what it found."""
        assessment = self.lexicon.assess(text)
        if assessment.priority is None:
            return assessment
        flags = {f"risk:{category}" for category in assessment.categories}
        conversation.flags = sorted(set(conversation.flags) | flags)
        audit.record(session, at=now, actor="triage", action="risk.detected",
                     subject_type="conversation", subject_id=conversation.id,
                     priority=str(assessment.priority), categories=list(assessment.categories))
        log.info("risk detected conversation=%s priority=%s categories=%s", conversation.id,
                 assessment.priority, ",".join(assessment.categories))
        await self._raise(session, conversation, assessment.priority, source="risk_lexicon",
                          now=now)
        return assessment

    async def _raise(self, session: AsyncSession, conversation: Conversation,
                     priority: Priority, *, source: str, now: datetime) -> None:
        current = Priority(conversation.priority)
        raised = current.raised_to(priority)
        if raised is current:
            return
        conversation.priority = str(raised)
        await self.queue.watch_target(session, conversation=conversation, now=now)
        if raised is Priority.URGENT:
            await self.alerts.open(session, conversation=conversation, source=source, now=now)

    @staticmethod
    def _store_answers(service: ConversationService, conversation: Conversation,
                       answers: dict[str, str]) -> None:
        stored = json.loads(service.cipher.decrypt(conversation.answers_enc)) \
            if conversation.answers_enc else {}
        conversation.answers_enc = service.cipher.encrypt(json.dumps({**stored, **answers}))


def _urgency(priority: Priority) -> int:
    return -priority.rank


def _timer_key(conversation: Conversation, kind: str) -> str:
    """Return the job key of a conversation's flow timer: one reminder, one expiry at most."""
    return f"flow:{conversation.id}:{kind}"


def _timer_keys(conversation: Conversation) -> list[str]:
    return [_timer_key(conversation, kind) for kind in TIMER_KINDS]



def flow_timer_handler(responder: TriageResponder, service: ConversationService) -> Handler:
    """Return the job handler that fires flow reminders and expiries."""

    async def fire(session: AsyncSession, job: Job, now: datetime) -> None:
        conversation = await session.get(Conversation, job.payload["conversation_id"])
        if conversation is None:
            return  # erased since the timer was set
        contact = (await session.execute(
            select(Contact).where(Contact.id == conversation.contact_id).with_for_update()
        )).scalar_one()
        await responder.on_timer(session, service=service, conversation=conversation,
                                 contact=contact, timer=job.payload["timer"], now=now)

    return fire
