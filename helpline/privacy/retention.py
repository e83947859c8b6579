"""Retention: delete content on a schedule, keep the metadata that statistics need."""

from __future__ import annotations

import logging
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.audit import service as audit
from helpline.audit.models import AuditEvent
from helpline.conversations.models import Contact, Conversation, Message
from helpline.inbox.models import DONE as INBOX_DONE
from helpline.inbox.models import FAILED as INBOX_FAILED
from helpline.inbox.models import InboxMessage
from helpline.jobs import service as jobs
from helpline.jobs.models import Job
from helpline.outbox.models import PENDING, SENDING, OutboxMessage
from helpline.settings import RetentionSettings

log = logging.getLogger(__name__)

PURGE_JOB = "retention.purge"
CUT = "cut:"  # prefix of a pseudonym whose link to the number has been cut
# A filed text's inbox row (a tombstone: MessageSid and times) turns away Twilio's
# redeliveries, which come within minutes; after a day it only makes the inbox grow.
FILED_INBOX_KEPT = timedelta(days=1)


@dataclass
class PurgeReport:
    """How many of each thing a purge removed (counts only)."""

    message_bodies: int = 0
    free_text_answers: int = 0
    outbox_contents: int = 0
    reply_addresses: int = 0
    pseudonym_links: int = 0
    failed_inbox_messages: int = 0
    filed_inbox_rows: int = 0
    audit_events: int = 0
    finished_jobs: int = 0

    def lines(self) -> list[str]:
        """Return one "name: count" line per kind."""
        return [f"{name.replace('_', ' ')}: {count}" for name, count in asdict(self).items()]


async def close_inactive(session: AsyncSession, *, policy: RetentionSettings,
                         now: datetime) -> int:
    """Close conversations nobody has touched for a while; return how many."""
    closed = _count(await session.execute(
        update(Conversation)
        .where(Conversation.closed_at.is_(None),
               Conversation.updated_at < now - timedelta(days=policy.close_inactive_days))
        .values(status="closed", closed_at=now)))
    if closed:
        audit.record(session, at=now, actor="system", action="conversations.closed_inactive",
                     count=closed)
    return closed


async def purge(session: AsyncSession, *, policy: RetentionSettings, now: datetime,
                actor: str = "system") -> PurgeReport:
    """Delete content past its retention period; audited with counts, never content.

    Only content goes: times, channel, priority, results and flags stay, so statistics
    are the same before and after.
    """
    report = PurgeReport()
    days = lambda n: now - timedelta(days=n)  # noqa: E731
    old = select(Conversation.id).where(Conversation.closed_at < days(policy.bodies_days))
    report.message_bodies = _count(await session.execute(
        update(Message)
        .where(Message.conversation_id.in_(old), Message.body_enc.is_not(None))
        .values(body_enc=None, body_purged_at=now)))
    report.free_text_answers = _count(await session.execute(
        update(Conversation)
        .where(Conversation.id.in_(old), Conversation.answers_enc.is_not(None))
        .values(answers_enc=None)))
    finished = OutboxMessage.status.not_in((PENDING, SENDING))
    report.outbox_contents = _count(await session.execute(
        update(OutboxMessage)
        .where(finished, OutboxMessage.created_at < days(policy.reply_address_days),
               or_(OutboxMessage.to_enc.is_not(None), OutboxMessage.body_enc.is_not(None)))
        .values(to_enc=None, body_enc=None)))
    open_conversation = exists().where(Conversation.contact_id == Contact.id,
                                       Conversation.closed_at.is_(None))
    report.reply_addresses = _count(await session.execute(
        update(Contact)
        .where(Contact.address_enc.is_not(None),
               Contact.last_seen_at < days(policy.reply_address_days), ~open_conversation)
        .values(address_enc=None)
        .execution_options(synchronize_session=False)))
    report.pseudonym_links = await cut_links(session, where=and_(
        Contact.last_seen_at < days(policy.pseudonym_link_days), ~open_conversation))
    report.failed_inbox_messages = _count(await session.execute(
        update(InboxMessage)
        .where(InboxMessage.status == INBOX_FAILED,
               InboxMessage.received_at < days(policy.bodies_days),
               or_(InboxMessage.body_enc.is_not(None), InboxMessage.sender_key.is_not(None)))
        .values(body_enc=None, address_enc=None, sender_key=None)))
    report.filed_inbox_rows = _count(await session.execute(
        delete(InboxMessage).where(InboxMessage.status == INBOX_DONE,
                                   InboxMessage.processed_at < now - FILED_INBOX_KEPT)))
    report.audit_events = _count(await session.execute(
        delete(AuditEvent).where(AuditEvent.at < days(policy.audit_days))))
    report.finished_jobs = _count(await session.execute(
        delete(Job).where(Job.done_at < days(policy.bodies_days))))
    audit.record(session, at=now, actor=actor, action="retention.purged", **asdict(report))
    log.info("retention purge: %s", ", ".join(report.lines()))
    return report


async def cut_links(session: AsyncSession, *, where: object) -> int:
    """Replace matching contacts' pseudonyms with random values: the number no longer links."""
    ids = list((await session.execute(
        select(Contact.id).where(where, ~Contact.pseudonym.startswith(CUT)))).scalars())
    for contact_id in ids:
        await session.execute(
            update(Contact).where(Contact.id == contact_id)
            .values(pseudonym=CUT + secrets.token_hex(24), pseudonym_version=0,
                    address_enc=None))
    return len(ids)


async def schedule_next(session: AsyncSession, *, policy: RetentionSettings,
                        now: datetime, first: bool = False) -> None:
    """Make sure the next scheduled purge is in the jobs table (once)."""
    due = now if first else now + timedelta(hours=policy.run_every_hours)
    await jobs.schedule(session, kind=PURGE_JOB, due_at=due, now=now, key="retention:next")


def _count(result: object) -> int:
    return getattr(result, "rowcount", 0) or 0
