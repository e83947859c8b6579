"""Retention: delete content on a schedule, keep the metadata that statistics need."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.audit import service as audit
from helpline.audit.models import AuditEvent
from helpline.conversations.models import Contact, Conversation, Message
from helpline.db import Database, after_commit
from helpline.inbox.models import DONE as INBOX_DONE
from helpline.inbox.models import FAILED as INBOX_FAILED
from helpline.inbox.models import InboxMessage
from helpline.jobs import service as jobs
from helpline.jobs.models import Job
from helpline.outbox.models import PENDING, SENDING, OutboxMessage
from helpline.settings import RetentionSettings

log = logging.getLogger(__name__)

# One batch of a purge, in a transaction of its own: returns how many rows it dealt with
# (0: nothing left to do); what goes in the report is counted once it commits.
Batch = Callable[[AsyncSession], Awaitable[int]]

PURGE_JOB = "retention.purge"
CUT = "cut:"  # prefix of a pseudonym whose link to the number has been cut
CUT_VERSION = 0  # its version: no key made it (pseudonym key versions start at 1)
# A filed text's inbox row (a tombstone: MessageSid and times) turns away Twilio's
# redeliveries, which come within minutes; after a day it only makes the inbox grow.
FILED_INBOX_KEPT = timedelta(days=1)
# Rows one purge statement changes at most, in a transaction of its own: measured on a
# year of data, a batch took a few milliseconds of the event loop.
BATCH = 500
CONVERSATION_BATCH = 100  # conversations a batch empties (with all their messages)


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


async def close_inactive(db: Database, *, policy: RetentionSettings, now: datetime) -> int:
    """Close conversations nobody has touched for a while; return how many."""
    cutoff = now - timedelta(days=policy.close_inactive_days)
    closed = await _in_batches(db, _rows(
        Conversation, [Conversation.closed_at.is_(None), Conversation.updated_at < cutoff],
        values={"status": "closed", "closed_at": now}))
    if closed:
        async with db.transaction() as session:
            audit.record(session, at=now, actor="system",
                         action="conversations.closed_inactive", count=closed)
    return closed


async def purge(db: Database, *, policy: RetentionSettings, now: datetime,
                actor: str = "system") -> PurgeReport:
    """Delete content past its retention period; audited with counts, never content.

    Only content goes: times, channel, priority, results and flags stay, so statistics
    are the same before and after. The work is done in batches of at most ``BATCH`` rows,
    each its own short transaction, and each batch is found through an index of only
    the rows that still hold something to delete (migration 0011): a purge with nothing
    to do reads next to nothing, and a long backlog never holds the loop or the write
    lock for long.
    """
    report = PurgeReport()
    try:
        await _purge_steps(db, report, policy=policy, now=now)
    except BaseException:
        # What was deleted before the fault is accounted for too; the next run goes on.
        with contextlib.suppress(Exception):
            async with db.transaction() as session:
                audit.record(session, at=now, actor=actor, action="retention.purged",
                             complete=False, **asdict(report))
        raise
    async with db.transaction() as session:
        audit.record(session, at=now, actor=actor, action="retention.purged", complete=True,
                     **asdict(report))
    log.info("retention purge: %s", ", ".join(report.lines()))
    return report


async def _purge_steps(db: Database, report: PurgeReport, *, policy: RetentionSettings,
                       now: datetime) -> None:
    """Purge each kind of content in turn, counting into ``report`` batch by batch."""
    days = lambda n: now - timedelta(days=n)  # noqa: E731
    await _purge_closed_conversations(db, report, closed_before=days(policy.bodies_days),
                                      now=now)
    finished = OutboxMessage.status.not_in((PENDING, SENDING))
    open_conversation = exists().where(Conversation.contact_id == Contact.id,
                                       Conversation.closed_at.is_(None))
    batches = [
        _rows(OutboxMessage, [
            or_(OutboxMessage.to_enc.is_not(None), OutboxMessage.body_enc.is_not(None)),
            OutboxMessage.created_at < days(policy.reply_address_days), finished],
            values={"to_enc": None, "body_enc": None},
            report=report, field="outbox_contents"),
        _rows(Contact, [
            Contact.address_enc.is_not(None),
            Contact.last_seen_at < days(policy.reply_address_days), ~open_conversation],
            values={"address_enc": None}, report=report, field="reply_addresses"),
        _cut_links_batch(report, where=and_(
            Contact.pseudonym_version > literal_column(str(CUT_VERSION)),  # as ix_contacts_linked
            Contact.last_seen_at < days(policy.pseudonym_link_days), ~open_conversation)),
        _rows(InboxMessage, [
            InboxMessage.status == INBOX_FAILED,
            InboxMessage.received_at < days(policy.bodies_days),
            or_(InboxMessage.body_enc.is_not(None), InboxMessage.sender_key.is_not(None))],
            values={"body_enc": None, "address_enc": None, "sender_key": None},
            report=report, field="failed_inbox_messages"),
        _rows(InboxMessage, [
            InboxMessage.status == INBOX_DONE,
            InboxMessage.processed_at < now - FILED_INBOX_KEPT],
            report=report, field="filed_inbox_rows"),
        _rows(AuditEvent, [AuditEvent.at < days(policy.audit_days)],
              report=report, field="audit_events"),
        _rows(Job, [Job.done_at < days(policy.bodies_days)],
              report=report, field="finished_jobs"),
    ]
    for batch in batches:
        await _in_batches(db, batch)


async def _purge_closed_conversations(db: Database, report: PurgeReport, *,
                                      closed_before: datetime, now: datetime) -> None:
    """Empty the bodies and answers of conversations closed long enough; mark them purged."""

    async def batch(session: AsyncSession) -> int:
        ids = list((await session.execute(
            select(Conversation.id)
            .where(Conversation.closed_at.is_not(None), Conversation.purged_at.is_(None),
                   Conversation.closed_at < closed_before)
            .order_by(Conversation.closed_at).limit(CONVERSATION_BATCH)
            # Locked (PostgreSQL): a reply being written into one (``reply``) goes first,
            # and its message is emptied here, or waits and marks the conversation again.
            .with_for_update())).scalars())
        if not ids:
            return 0
        bodies = _count(await session.execute(
            update(Message)
            .where(Message.conversation_id.in_(ids), Message.body_enc.is_not(None))
            .values(body_enc=None, body_purged_at=now)))
        answers = _count(await session.execute(
            update(Conversation)
            .where(Conversation.id.in_(ids), Conversation.answers_enc.is_not(None))
            .values(answers_enc=None)))
        await session.execute(update(Conversation).where(
            Conversation.id.in_(ids), Conversation.purged_at.is_(None)).values(purged_at=now))
        _count_into(session, report, message_bodies=bodies, free_text_answers=answers)
        return len(ids)

    await _in_batches(db, batch)


def _rows(model: Any, conditions: list[Any], *, values: dict[str, Any] | None = None,
          report: PurgeReport | None = None, field: str = "") -> Batch:
    """Return a batch that updates (or, without ``values``, deletes) ``model``'s rows.

    At most ``BATCH`` rows matching ``conditions``. The conditions are repeated outside
    the batch's subquery: on PostgreSQL a row that changed while the statement waited for
    its lock (a texter came back; a person retried a text) is checked again against
    them, and left alone if it no longer matches. (A subquery in the conditions, such as
    "no open conversation", is read in the statement's snapshot even then: the contacts'
    ones rest on ``last_seen_at``, which the filing of a text bumps under the row's lock.)
    What it changed is counted into ``report.<field>`` once committed.
    """

    async def batch(session: AsyncSession) -> int:
        chosen = model.id.in_(select(model.id).where(*conditions).limit(BATCH)
                              .scalar_subquery())
        statement = (update(model).where(chosen, *conditions).values(**values)
                     if values is not None else delete(model).where(chosen, *conditions))
        changed = _count(await session.execute(
            statement.execution_options(synchronize_session=False)))
        if report is not None:
            _count_into(session, report, **{field: changed})
        return changed

    return batch


def _cut_links_batch(report: PurgeReport, *, where: object) -> Batch:
    async def batch(session: AsyncSession) -> int:
        cut = await cut_links(session, where=where, limit=BATCH)
        _count_into(session, report, pseudonym_links=cut)
        return cut

    return batch


async def _in_batches(db: Database, batch: Batch) -> int:
    """Run ``batch`` in a transaction of its own until it finds nothing; return its total.

    The loop runs other tasks between batches. A batch left short by rows a re-check
    turned away (see ``_rows``) does not end it: only a batch with nothing to do does.
    """
    total = 0
    while True:
        async with db.transaction() as session:
            done = await batch(session)
        total += done
        if not done:
            return total
        await asyncio.sleep(0)


def _count_into(session: AsyncSession, report: PurgeReport, **counts: int) -> None:
    """Add ``counts`` to ``report`` once the session's transaction has committed."""

    def add() -> None:
        for name, count in counts.items():
            setattr(report, name, getattr(report, name) + count)

    after_commit(session, add)


async def cut_links(session: AsyncSession, *, where: object, limit: int | None = None) -> int:
    """Replace matching contacts' pseudonyms with random values: the number no longer links.

    At most ``limit`` contacts, if given.
    """
    ids = list((await session.execute(
        select(Contact.id).where(where, ~Contact.pseudonym.startswith(CUT)).limit(limit)
    )).scalars())
    cut = 0
    for contact_id in ids:
        # ``where`` again: on PostgreSQL the contact may have texted since it was chosen.
        cut += _count(await session.execute(
            update(Contact).where(Contact.id == contact_id, where,
                                  ~Contact.pseudonym.startswith(CUT))
            .values(pseudonym=CUT + secrets.token_hex(24), pseudonym_version=CUT_VERSION,
                    address_enc=None)
            .execution_options(synchronize_session=False)))
    return cut


async def schedule_next(session: AsyncSession, *, policy: RetentionSettings,
                        now: datetime, first: bool = False) -> None:
    """Make sure the next scheduled purge is in the jobs table (once)."""
    due = now if first else now + timedelta(hours=policy.run_every_hours)
    await jobs.schedule(session, kind=PURGE_JOB, due_at=due, now=now, key="retention:next")


def _count(result: object) -> int:
    return getattr(result, "rowcount", 0) or 0
