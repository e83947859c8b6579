"""Retention: content goes on schedule, metadata and statistics stay."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from helpline import appkeys
from helpline.audit.models import AuditEvent
from helpline.conversations.models import Contact, Conversation, Message
from helpline.outbox.models import OutboxMessage
from helpline.privacy.retention import PURGE_JOB, close_inactive, purge
from helpline.stats.service import aggregate
from tests.service.helpers import OPEN_TIME, Texter

DAY = timedelta(days=1)


async def run_purge(client: TestClient) -> dict[str, int]:
    """Purge at the app's current time and return the counts."""
    app = client.app
    report = await purge(app[appkeys.DB], policy=app[appkeys.SETTINGS].retention,
                         now=app[appkeys.CLOCK].now())
    return vars(report)


async def close_inactive_now(client: TestClient) -> int:
    """Close inactive conversations at the app's current time."""
    app = client.app
    return await close_inactive(app[appkeys.DB], policy=app[appkeys.SETTINGS].retention,
                                now=app[appkeys.CLOCK].now())


async def stats(client: TestClient) -> object:
    """Return the aggregate statistics for the test period."""
    async with client.app[appkeys.DB].reader() as session:
        return await aggregate(session, start=OPEN_TIME - DAY, end=OPEN_TIME + DAY)


async def a_whole_conversation(texter: Texter) -> None:
    """Text through the flow to the queue, with a risk word on the way."""
    for text in ("hi", "yes", "2", "yes", "hes hitting me again"):
        await texter.send(text)


async def test_bodies_are_gone_not_hidden_after_retention(client: TestClient,
                                                          texter: Texter) -> None:
    """Test that after the retention period the encrypted bodies are deleted from the rows."""
    await a_whole_conversation(texter)
    texter.clock.advance(days=15)
    assert await close_inactive_now(client) == 1
    texter.clock.advance(days=31)
    report = await run_purge(client)
    assert report["message_bodies"] > 0
    async with client.app[appkeys.DB].reader() as session:
        bodies = (await session.execute(select(Message.body_enc))).scalars().all()
        outbox = (await session.execute(select(OutboxMessage.body_enc, OutboxMessage.to_enc))
                  ).all()
        address = (await session.execute(select(Contact.address_enc))).scalar_one()
    assert bodies and set(bodies) == {None}
    assert {tuple(r) for r in outbox} == {(None, None)}
    assert address is None


async def test_statistics_are_unchanged_by_a_purge(client: TestClient, texter: Texter) -> None:
    """Test that every aggregate figure is the same before and after a purge."""
    await a_whole_conversation(texter)
    other = Texter(client, texter.loopback, texter.clock, number="+447700900321")
    await other.send("hi")
    await other.send("no")
    texter.clock.advance(days=30)
    await close_inactive_now(client)  # a change of state, which statistics do count
    texter.clock.advance(days=400)
    before = await stats(client)
    report = await run_purge(client)
    assert report["message_bodies"] > 0 and report["pseudonym_links"] == 2
    assert await stats(client) == before


async def test_recent_content_is_kept(client: TestClient, texter: Texter) -> None:
    """Test that a purge leaves an open, recent conversation's content alone."""
    await a_whole_conversation(texter)
    texter.clock.advance(days=2)
    report = await run_purge(client)
    assert report["message_bodies"] == 0
    assert (await texter.contact()).address_enc is not None


async def test_link_is_cut_after_the_longest_period(client: TestClient, texter: Texter) -> None:
    """Test that after a year the same number starts a contact that no longer links back."""
    await texter.send("hi")
    texter.clock.advance(days=400)
    await close_inactive_now(client)
    assert (await run_purge(client))["pseudonym_links"] == 1
    await texter.send("hi again")
    async with client.app[appkeys.DB].reader() as session:
        contacts = (await session.execute(select(Contact.pseudonym))).scalars().all()
    assert len(contacts) == 2
    assert any(p.startswith("cut:") for p in contacts)


async def test_old_audit_events_are_deleted_last(client: TestClient, texter: Texter) -> None:
    """Test that audit events outlive content but not their own period."""
    await texter.send("hi")
    texter.clock.advance(days=400)
    await run_purge(client)
    async with client.app[appkeys.DB].reader() as session:
        assert (await session.execute(select(AuditEvent))).first() is not None
    texter.clock.advance(days=2200)
    assert (await run_purge(client))["audit_events"] > 0


async def test_scheduled_purge_runs_and_reschedules(client: TestClient, texter: Texter) -> None:
    """Test that the durable purge job runs on time and schedules the next run."""
    from helpline.jobs.models import Job
    from helpline.privacy.retention import schedule_next

    app = client.app
    async with app[appkeys.DB].transaction() as session:
        await schedule_next(session, policy=app[appkeys.SETTINGS].retention,
                            now=texter.clock.now(), first=True)
    await app[appkeys.JOBS].run_once()
    await app[appkeys.JOBS].long_work_done()  # a purge runs in a task of its own
    async with app[appkeys.DB].reader() as session:
        jobs = (await session.execute(select(Job).where(Job.kind == PURGE_JOB)
                                      .order_by(Job.id))).scalars().all()
        purged = (await session.execute(select(AuditEvent).where(
            AuditEvent.action == "retention.purged"))).scalars().all()
    assert [j.outcome for j in jobs] == ["done", None]
    assert jobs[1].due_at == texter.clock.now() + timedelta(hours=6)
    assert len(purged) == 1


async def test_closed_conversations_keep_their_metadata(client: TestClient,
                                                        texter: Texter) -> None:
    """Test that a purged conversation keeps priority, results and times."""
    await a_whole_conversation(texter)
    texter.clock.advance(days=15)
    await close_inactive_now(client)
    texter.clock.advance(days=100)
    await run_purge(client)
    async with client.app[appkeys.DB].reader() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
    assert conversation.status == "closed"
    assert conversation.results["age_band"] == "13-15"
    assert conversation.priority == "urgent"
