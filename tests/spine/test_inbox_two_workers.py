"""Several workers on one inbox (PostgreSQL deployments that scale out) keep each sender's order."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from helpline import appkeys
from helpline.app import build_inbox_worker
from helpline.clock import FrozenClock
from helpline.conversations.models import Message
from helpline.db import Database
from helpline.inbox.models import InboxMessage
from helpline.inbox.worker import CLAIMS_ONE_AT_A_TIME
from tests.conftest import POSTGRES_URL, TwilioWebhooks

SENDERS = {"a": "+447700900601", "b": "+447700900602"}
postgres_only = pytest.mark.skipif(not POSTGRES_URL, reason="several workers file at once")
URGENT = "im going to kill myself tonight"


async def _filed(twilio: TwilioWebhooks, db: Database) -> list[str]:
    """Return the texts filed so far, in the order their messages were written."""
    cipher = twilio.client.app[appkeys.KEYS].cipher
    async with db.reader() as session:
        return [cipher.decrypt(b) for b in (await session.execute(
            select(Message.body_enc).where(Message.direction == "in")
            .order_by(Message.id))).scalars()]


async def _lease_to_another_worker(db: Database, clock: FrozenClock, text_sid: str) -> None:
    """Lease one inbox row as another worker's claim does, for the default 120 s."""
    async with db.transaction() as session:
        await session.execute(
            update(InboxMessage).where(InboxMessage.provider_sid == text_sid)
            .values(claimed_until=clock.now() + timedelta(seconds=120),
                    attempts=1, last_error=None))


async def test_a_text_waits_while_its_senders_earlier_one_is_being_filed(
        twilio: TwilioWebhooks, db: Database, clock: FrozenClock) -> None:
    """Test that another worker's lease on a sender's text holds their later ordinary text."""
    worker = twilio.client.app[appkeys.INBOX_WORKER]
    await twilio.sms("a first", sender=SENDERS["a"], sid="SM" + "1" * 32, process=False)
    await twilio.sms("b first", sender=SENDERS["b"], process=False)
    await twilio.sms("a second", sender=SENDERS["a"], process=False)
    await _lease_to_another_worker(db, clock, "SM" + "1" * 32)

    assert await worker.run_once() == 1
    assert await _filed(twilio, db) == ["b first"]

    # A child in danger never waits for another worker's lease. Their earlier ordinary
    # text still does: it would overtake the one being filed.
    await twilio.sms(URGENT, sender=SENDERS["a"], process=False)
    assert await worker.run_once() == 1
    assert await _filed(twilio, db) == ["b first", URGENT]

    clock.advance(121)  # the other worker died: its lease runs out
    assert await worker.run_once() == 2
    assert await _filed(twilio, db) == ["b first", URGENT, "a first", "a second"]


async def test_a_stalled_workers_renewal_leaves_the_leases_another_took_over(
        twilio: TwilioWebhooks, db: Database, clock: FrozenClock) -> None:
    """Test that a pass renews and gives back only leases it wrote, not another worker's."""
    await twilio.sms("a first", sender=SENDERS["a"], process=False)
    await twilio.sms("a second", sender=SENDERS["a"], process=False)
    stalled = build_inbox_worker(twilio.client.app)
    await stalled._claim()
    clock.advance(121)  # the first worker stalls past its lease; another takes the texts
    await build_inbox_worker(twilio.client.app)._claim()
    async with db.reader() as session:
        taken_over = (await session.scalars(select(InboxMessage.claimed_until))).all()
    clock.advance(1)
    await stalled._renew()
    await stalled._give_back()
    async with db.reader() as session:
        assert (await session.scalars(select(InboxMessage.claimed_until))).all() == taken_over


async def test_a_lease_that_ran_out_before_its_renewal_is_still_renewed(
        twilio: TwilioWebhooks, db: Database, clock: FrozenClock) -> None:
    """Test that a pass's claim in between does not make it forget leases that ran out.

    The host suspended past the lease (nobody took the texts over); the pass claims an
    urgent text, then renews: every row it holds gets the new lease.
    """
    await twilio.sms("a first", sender=SENDERS["a"], process=False)
    await twilio.sms("b first", sender=SENDERS["b"], process=False)
    worker = build_inbox_worker(twilio.client.app)
    await worker._claim()
    clock.advance(121)
    await twilio.sms(URGENT, sender=SENDERS["b"], process=False)
    await worker._claim(urgent_only=True)
    await worker._renew()
    async with db.reader() as session:
        leases = set((await session.scalars(select(InboxMessage.claimed_until))).all())
    assert leases == {clock.now() + timedelta(seconds=120)}


async def test_a_text_waiting_for_its_retry_holds_nothing_back(
        twilio: TwilioWebhooks, db: Database) -> None:
    """Test that a sender's text that failed once does not hold their next text back."""
    app = twilio.client.app
    conversations = app[appkeys.CONVERSATIONS]
    receive = conversations.receive
    failures = iter([ConnectionError("database went away")])

    async def fails_once(*args: Any, **kwargs: Any) -> Any:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return await receive(*args, **kwargs)

    conversations.receive = fails_once  # type: ignore[method-assign]
    await twilio.sms("a first", sender=SENDERS["a"])  # fails, waits for its retry
    await twilio.sms("a second", sender=SENDERS["a"])
    assert await _filed(twilio, db) == ["a second"]


@postgres_only
async def test_two_workers_file_each_senders_texts_in_order(twilio: TwilioWebhooks,
                                                          db: Database) -> None:
    """Test that while one worker is slow to file a sender's text, another files not the next.

    On PostgreSQL only: on SQLite the filing transactions of one process take turns with
    the write lock, so the second worker could not overtake the first there anyway.
    """
    app = twilio.client.app
    conversations = app[appkeys.CONVERSATIONS]
    receive = conversations.receive

    filing_first = asyncio.Event()

    async def slow_first(session: Any, *, inbound: Any) -> Any:
        if inbound.text == "a first":
            filing_first.set()
            await asyncio.sleep(0.3)  # the other worker is free meanwhile
        return await receive(session, inbound=inbound)

    conversations.receive = slow_first  # type: ignore[method-assign]
    sent = ["a first", "a second", "b first", "a third"]
    for body in sent:
        await twilio.sms(body, sender=SENDERS[body[0]], process=False)

    async def drain(worker: Any) -> None:
        idle = 0
        while idle < 100:  # a second without work: the other worker has the rest
            idle = 0 if await worker.run_once() else idle + 1
            await asyncio.sleep(0.01)

    workers = [build_inbox_worker(app, batch_size=1) for _ in range(2)]
    first = asyncio.create_task(drain(workers[0]))
    await asyncio.wait_for(filing_first.wait(), 10)  # the first worker is filing "a first"
    await asyncio.wait_for(asyncio.gather(first, drain(workers[1])), 60)

    filed = await _filed(twilio, db)
    assert sorted(filed) == sorted(sent)
    assert [t for t in filed if t[0] == "a"] == ["a first", "a second", "a third"]


@postgres_only
async def test_claims_take_turns(twilio: TwilioWebhooks, db: Database) -> None:
    """Test that a claim waits while another is under way, so each sees the other's leases.

    Without turns, two claims at the same moment could both see a sender's earlier text
    as not yet leased, and each take one of that sender's texts.
    """
    await twilio.sms("a first", sender=SENDERS["a"], process=False)
    worker = twilio.client.app[appkeys.INBOX_WORKER]
    async with db.engine.connect() as other, other.begin():
        await other.execute(CLAIMS_ONE_AT_A_TIME)  # another worker's claim under way
        claiming = asyncio.create_task(worker.run_once())
        await asyncio.sleep(0.2)
        assert not claiming.done()
    assert await asyncio.wait_for(claiming, 10) == 1


async def test_a_long_pass_keeps_the_leases_of_the_texts_it_still_holds(
        twilio: TwilioWebhooks, db: Database, clock: FrozenClock) -> None:
    """Test that a pass lasting longer than half its lease renews the rows it has not filed.

    In a flood a pass files a few texts a second and can hold a thousand: without this,
    another worker could take its rows, and a sender's later texts overtake earlier ones.
    """
    app = twilio.client.app
    conversations = app[appkeys.CONVERSATIONS]
    receive = conversations.receive
    leases: list[bool] = []

    async def slow(session: Any, *, inbound: Any) -> Any:
        if inbound.text == "first":
            clock.advance(1)  # well past the claim's lease of 0.1 s
            await asyncio.sleep(0.1)  # past half of it on the loop's clock too
        if inbound.text == "second":
            async with db.reader() as reader:
                until = (await reader.execute(
                    select(InboxMessage.claimed_until)
                    .where(InboxMessage.id == third_id))).scalar_one()
            leases.append(until is not None and until > clock.now())
        return await receive(session, inbound=inbound)

    conversations.receive = slow  # type: ignore[method-assign]
    for i, body in enumerate(["first", "second", "third"]):
        await twilio.sms(body, sender=f"+44770090061{i}", process=False)
    async with db.reader() as session:
        third_id = max((await session.execute(select(InboxMessage.id))).scalars())
    assert await build_inbox_worker(app, lease_seconds=0.1).run_once() == 3
    assert leases == [True]
    assert sorted(await _filed(twilio, db)) == ["first", "second", "third"]
