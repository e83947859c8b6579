"""Urgent alerts: page the on-call tiers, escalate on durable timers until acknowledged."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.audit import service as audit
from helpline.conversations.models import Conversation
from helpline.jobs import service as jobs
from helpline.jobs.models import Job
from helpline.outbox.service import Outbox
from helpline.privacy.addresses import Address
from helpline.privacy.crypto import Cipher
from helpline.routing.escalation import Chain, EscalationConfig
from helpline.routing.models import ACKNOWLEDGED, OPEN, RESOLVED, Alert, AlertPage
from helpline.routing.queue import Queue
from helpline.users.models import User

log = logging.getLogger(__name__)

ALERT_STEP, REPLY_CHECK = "alert.step", "alert.reply_check"
SUPERVISOR_TIER = "supervisor"


class OnCallRota(Protocol):
    """Who is on call (the rota module)."""

    def on_call_for(self, tier: str, at: datetime) -> tuple[str, ...]:
        """Return the logins on call in ``tier`` at ``at``."""
        ...


class AlertService:
    """Open, escalate, acknowledge and resolve urgent alerts; every step is audited."""

    def __init__(self, *, rota: OnCallRota, escalation: EscalationConfig, queue: Queue,
                 outbox: Outbox, cipher: Cipher) -> None:
        self.rota = rota
        self.escalation = escalation
        self.queue = queue
        self.outbox = outbox
        self.cipher = cipher

    # -- opening and escalating -----------------------------------------------------------

    async def open(self, session: AsyncSession, *, conversation: Conversation, source: str,
                   now: datetime) -> Alert:
        """Open an alert for an urgent conversation (once) and page the first step now."""
        current = await self.current(session, conversation_id=conversation.id)
        if current is not None:
            return current
        alert = Alert(conversation_id=conversation.id, status=OPEN, source=source,
                      chain=self.escalation.chain.model_dump(mode="json"), step_index=0,
                      cycle=0, opened_at=now)
        session.add(alert)
        await session.flush()
        audit.record(session, at=now, actor="system", action="alert.opened",
                     subject_type="alert", subject_id=alert.id,
                     conversation_id=conversation.id, source=source)
        log.info("alert %s opened for conversation %s (%s)", alert.id, conversation.id, source)
        await self._advance(session, alert, now)
        return alert

    async def raise_by_volunteer(self, session: AsyncSession, *, conversation: Conversation,
                                 user: User, now: datetime) -> Alert:
        """Make a conversation urgent on a volunteer's judgement and open its alert."""
        if conversation.priority != "urgent":
            audit.record(session, at=now, actor=f"user:{user.id}",
                         action="conversation.priority_raised", subject_type="conversation",
                         subject_id=conversation.id, old=conversation.priority, new="urgent")
            conversation.priority = "urgent"
            await self.queue.watch_target(session, conversation=conversation, now=now)
        return await self.open(session, conversation=conversation, source="volunteer", now=now)

    async def current(self, session: AsyncSession, *, conversation_id: int) -> Alert | None:
        """Return the conversation's open or acknowledged alert, if any."""
        return await session.scalar(
            select(Alert).where(Alert.conversation_id == conversation_id,
                                Alert.status.in_((OPEN, ACKNOWLEDGED)))
            .order_by(Alert.id.desc()).limit(1))

    async def on_step(self, session: AsyncSession, job: Job, now: datetime) -> None:
        """Run the escalation step a timer was set for; a stale timer does nothing."""
        alert = await _locked(session, job.payload["alert_id"])
        if (alert is None or alert.status != OPEN
                or alert.step_index != job.payload["step_index"]
                or alert.cycle != job.payload["cycle"]):
            log.info("escalation timer for alert %s is stale", job.payload["alert_id"])
            return
        await self._advance(session, alert, now)

    async def _advance(self, session: AsyncSession, alert: Alert, now: datetime) -> None:
        """Run steps from the alert's position until the next wait (or the end)."""
        chain = Chain.model_validate(alert.chain)
        while True:
            if alert.step_index >= len(chain.steps):
                alert.cycle += 1
                if alert.cycle >= chain.repeat:
                    if chain.final is not None:
                        await self._page(session, alert, chain.final.page, now, step="final")
                    audit.record(session, at=now, actor="system", action="alert.exhausted",
                                 subject_type="alert", subject_id=alert.id, cycles=alert.cycle)
                    log.warning("alert %s: escalation chain exhausted", alert.id)
                    return
                alert.step_index = 0
            step = chain.steps[alert.step_index]
            alert.step_index += 1
            if hasattr(step, "page"):
                await self._page(session, alert, step.page, now,
                                 step=f"{alert.cycle}.{alert.step_index - 1}")
                continue
            await jobs.schedule(
                session, kind=ALERT_STEP, due_at=now + timedelta(seconds=step.wait), now=now,
                key=f"alert:{alert.id}:step",
                payload={"alert_id": alert.id, "step_index": alert.step_index,
                         "cycle": alert.cycle})
            audit.record(session, at=now, actor="system", action="alert.escalation_step",
                         subject_type="alert", subject_id=alert.id,
                         step=alert.step_index - 1, cycle=alert.cycle, wait=step.wait)
            return

    async def _page(self, session: AsyncSession, alert: Alert, tiers: list[str],
                    now: datetime, *, step: str) -> None:
        text = f"Urgent contact waiting (#{alert.id}). Reply ACK {alert.id} to take it."
        for tier in tiers:
            users = await self._on_call(session, tier, now)
            if not users:
                audit.record(session, at=now, actor="system", action="alert.nobody_on_call",
                             subject_type="alert", subject_id=alert.id, tier=tier)
                log.warning("alert %s: nobody on call in tier %s", alert.id, tier)
            for user in users:
                await self.page_user(session, user=user, text=text, now=now)
                session.add(AlertPage(alert_id=alert.id, user_id=user.id, tier=tier,
                                      paged_at=now))
                audit.record(session, at=now, actor="system", action="alert.paged",
                             subject_type="alert", subject_id=alert.id, user_id=user.id,
                             tier=tier, step=step)

    async def _on_call(self, session: AsyncSession, tier: str, now: datetime) -> list[User]:
        logins = self.rota.on_call_for(tier, now)
        if not logins:
            return []
        return list((await session.execute(
            select(User).where(User.login.in_(logins), User.disabled_at.is_(None),
                               User.phone_enc.is_not(None)).order_by(User.id))).scalars())

    async def page_user(self, session: AsyncSession, *, user: User, text: str,
                        now: datetime) -> None:
        """Text a volunteer's page phone through the outbox (never a child's words)."""
        if user.phone_enc is None:
            return
        address = Address(channel="sms", e164=self.cipher.decrypt(user.phone_enc))
        await self.outbox.enqueue(session, now=now, to=address, body=text, purpose="page")

    # -- acknowledging and resolving ------------------------------------------------------

    async def acknowledge(self, session: AsyncSession, *, alert_id: int, user: User,
                          now: datetime, via: str) -> Alert | None:
        """Let ``user`` take the alert's case; None if it is not open any more."""
        alert = await _locked(session, alert_id)
        if alert is None or alert.status != OPEN:
            return None
        alert.status, alert.acknowledged_by, alert.acknowledged_at = ACKNOWLEDGED, user.id, now
        await jobs.cancel(session, keys=[f"alert:{alert.id}:step"], now=now)
        conversation = await session.get_one(Conversation, alert.conversation_id)
        await self.queue.assign(session, conversation=conversation, user=user, now=now)
        await jobs.schedule(
            session, kind=REPLY_CHECK, now=now, key=f"alert:{alert.id}:reply",
            due_at=now + timedelta(seconds=self.escalation.reply_within),
            payload={"alert_id": alert.id})
        audit.record(session, at=now, actor=f"user:{user.id}", action="alert.acknowledged",
                     subject_type="alert", subject_id=alert.id, via=via,
                     conversation_id=conversation.id)
        log.info("alert %s acknowledged by user %s via %s", alert.id, user.id, via)
        return alert

    async def on_reply_check(self, session: AsyncSession, job: Job, now: datetime) -> None:
        """Re-open an acknowledged alert whose volunteer has not replied in time."""
        alert = await _locked(session, job.payload["alert_id"])
        if alert is None or alert.status != ACKNOWLEDGED:
            return
        conversation = await session.get_one(Conversation, alert.conversation_id)
        replied = conversation.first_human_reply_at
        if replied is not None and alert.acknowledged_at and replied >= alert.acknowledged_at:
            await self._resolve(session, alert, now)
            return
        audit.record(session, at=now, actor="system", action="alert.reopened",
                     subject_type="alert", subject_id=alert.id,
                     user_id=alert.acknowledged_by, reason="no reply in time")
        log.warning("alert %s re-opened: no reply within %ss", alert.id,
                    self.escalation.reply_within)
        alert.status, alert.acknowledged_by, alert.acknowledged_at = OPEN, None, None
        await self.queue.release(session, conversation=conversation, now=now,
                                 reason="no reply after acknowledgement")
        await self._advance(session, alert, now)

    async def replied(self, session: AsyncSession, *, conversation: Conversation,
                      now: datetime) -> None:
        """Resolve the conversation's acknowledged alert once a person has replied."""
        alert = await self.current(session, conversation_id=conversation.id)
        if alert is not None and alert.status == ACKNOWLEDGED:
            await self._resolve(session, alert, now)

    async def _resolve(self, session: AsyncSession, alert: Alert, now: datetime) -> None:
        alert.status, alert.resolved_at = RESOLVED, now
        await jobs.cancel(session, keys=[f"alert:{alert.id}:reply"], now=now)
        audit.record(session, at=now, actor="system", action="alert.resolved",
                     subject_type="alert", subject_id=alert.id)

    # -- first-reply targets ---------------------------------------------------------------

    async def on_target_check(self, session: AsyncSession, job: Job, now: datetime) -> None:
        """Record a missed first-reply target and page the supervisor on call."""
        conversation = await session.get(Conversation, job.payload["conversation_id"])
        if (conversation is None or conversation.first_human_reply_at is not None
                or conversation.closed_at is not None
                or conversation.target_breached_at is not None):
            return
        conversation.target_breached_at = now
        minutes = self.escalation.target_for(conversation.priority) // 60
        audit.record(session, at=now, actor="system", action="queue.target_breached",
                     subject_type="conversation", subject_id=conversation.id,
                     priority=conversation.priority)
        text = (f"Contact #{conversation.id} ({conversation.priority}) has waited over "
                f"{minutes} min for a first reply.")
        for user in await self._on_call(session, SUPERVISOR_TIER, now):
            await self.page_user(session, user=user, text=text, now=now)
            audit.record(session, at=now, actor="system", action="queue.breach_paged",
                         subject_type="conversation", subject_id=conversation.id,
                         user_id=user.id)


async def _locked(session: AsyncSession, alert_id: int) -> Alert | None:
    return await session.scalar(
        select(Alert).where(Alert.id == alert_id).with_for_update()
        .execution_options(populate_existing=True))
