"""The inbox files a child in danger first, while keeping each sender's texts in order."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from helpline import appkeys
from helpline.app import build_inbox_worker
from helpline.conversations.models import Conversation, Message
from helpline.db import Database
from helpline.inbox import worker as worker_module
from helpline.inbox.models import InboxMessage
from helpline.inbox.worker import FilingQueue
from tests.conftest import TwilioWebhooks

URGENT = "im going to kill myself tonight"
FLOODER, OTHER = "+447700900598", "+447700900596"
CHILD, CHILD2 = "+447700900597", "+447700900595"


def row(id_: int, sender: str, urgent: bool = False) -> SimpleNamespace:
    """Return a claimed inbox row."""
    return SimpleNamespace(id=id_, sender_key=sender, urgent=urgent)


def filed(queue: FilingQueue) -> list[int]:
    """Empty ``queue`` in its order; return the ids."""
    ids = []
    while queue:
        ids.append(queue.pop().id)
    return ids


def test_urgent_sender_goes_first_with_their_earlier_texts() -> None:
    """Test that an urgent sender's texts come first, in their own order, then arrival order."""
    rows = [row(1, "a"), row(2, "b"), row(3, "c"), row(4, "b", urgent=True), row(5, "a")]
    assert filed(FilingQueue(rows)) == [2, 4, 1, 3, 5]


def test_without_urgency_arrival_order_holds() -> None:
    """Test that with nothing urgent, texts are filed in arrival order, each sender's in turn."""
    assert filed(FilingQueue([row(3, "x"), row(1, "y"), row(2, "x"), row(4, None)])) == [
        1, 2, 3, 4]


def test_a_sender_after_their_urgent_text_is_ordinary_again() -> None:
    """Test that once an urgent text is filed, its sender's later texts take their turn."""
    queue = FilingQueue([row(1, "a"), row(2, "b", urgent=True), row(3, "b")])
    assert queue.has_urgent
    assert queue.pop().id == 2
    assert not queue.has_urgent
    assert filed(queue) == [1, 3]


def test_rows_claimed_later_join_the_order_once() -> None:
    """Test that an urgent re-claim goes first, and a row held already is not filed twice."""
    queue = FilingQueue([row(1, "a"), row(2, "b"), row(3, "a")])
    assert queue.pop().id == 1
    queue.add([row(2, "b"), row(9, "c", urgent=True), row(7, "c")])
    assert filed(queue) == [7, 9, 2, 3]


def test_a_row_filed_already_is_filed_again_when_claimed_again() -> None:
    """Test that a text that failed and came back for its retry in the same pass is filed."""
    queue = FilingQueue([row(1, "a", urgent=True), row(2, "b")])
    assert queue.pop().id == 1  # it fails; its retry falls due while the pass goes on
    queue.add([row(1, "a", urgent=True)])
    assert filed(queue) == [1, 2]


def test_urgent_senders_take_turns() -> None:
    """Test that one number's run of urgent texts does not keep another child waiting."""
    rows = [*(row(i, "x", urgent=True) for i in range(1, 5)), row(5, "y", urgent=True)]
    assert filed(FilingQueue(rows)) == [1, 5, 2, 3, 4]


def test_an_urgent_sender_claimed_later_joins_the_end_of_the_round() -> None:
    """Test that a newly claimed urgent sender waits one turn of each sender, in its order."""
    queue = FilingQueue([row(1, "x", urgent=True), row(2, "x", urgent=True),
                         row(3, "x", urgent=True), row(4, "z")])
    assert queue.pop().id == 1
    queue.add([row(9, "y", urgent=True), row(8, "y")])
    assert list(queue.urgent_senders()) == ["x", "y"]
    assert filed(queue) == [2, 8, 3, 9, 4]


def test_senders_joining_the_round_together_go_by_their_first_text() -> None:
    """Test that urgent senders claimed at once take their first turns in arrival order."""
    queue = FilingQueue([row(7, "b", urgent=True), row(2, "a"), row(6, "a", urgent=True),
                         row(5, "c", urgent=True)])
    assert [queue.pop().id for _ in range(3)] == [2, 5, 7]
    assert queue.in_round("a") and not queue.in_round("b")


Arrivals = dict[int, list[tuple[str, str]]]  # filing n -> (text, sender) webhooks


def text_during_filings(twilio: TwilioWebhooks, worker: Any, arrivals: Arrivals) -> list[str]:
    """Have ``arrivals[n]`` texted (and answered) while ``worker`` files its n-th text.

    Return the list that the senders of the texts it files go into, in filing order.
    """
    handle, filings = worker._handle, []

    async def handle_and_text(session: Any, inbound: Any) -> None:
        filings.append(inbound.address.e164)
        for body, sender in arrivals.get(len(filings), ()):
            await twilio.sms(body, sender=sender, process=False)
        await handle(session, inbound)

    worker._handle = handle_and_text
    return filings


async def file_with_arrivals(twilio: TwilioWebhooks, arrivals: Arrivals,
                             **options: Any) -> tuple[list[str], int]:
    """Run one pass of a worker built with ``options``; text ``arrivals[n]`` during filing n.

    Return the senders of the texts filed, in filing order, and how many claims it made.
    """
    worker = build_inbox_worker(twilio.client.app, **options)
    filings, claim, claims = text_during_filings(twilio, worker, arrivals), worker._claim, []

    async def counted_claim(**kwargs: Any) -> list:
        claims.append(kwargs)
        return await claim(**kwargs)

    worker._claim = counted_claim
    await worker.run_once()
    return filings, len(claims)


async def flood(twilio: TwilioWebhooks, texts: int, sender: str = FLOODER) -> None:
    """Store ``texts`` urgent texts from ``sender``."""
    for i in range(texts):
        await twilio.sms(f"{URGENT} {i}", sender=sender, process=False)


async def test_an_urgent_text_does_not_wait_behind_another_numbers_backlog(
        twilio: TwilioWebhooks) -> None:
    """Test that a child's urgent text is filed within a turn, not after a flood's texts."""
    await flood(twilio, 8)
    filings, _ = await file_with_arrivals(twilio, {1: [(URGENT, CHILD)]})
    assert filings.index(CHILD) == 2  # after one more of the flooder's turns
    assert len(filings) == 9


async def test_a_claim_full_of_one_numbers_texts_looks_past_them(
        twilio: TwilioWebhooks) -> None:
    """Test that a flood bigger than a claim does not keep a child's text out of it."""
    await flood(twilio, 7)
    await twilio.sms(URGENT, sender=CHILD, process=False)
    filings, _ = await file_with_arrivals(twilio, {}, batch_size=5)
    assert filings.index(CHILD) == 1


async def test_a_claim_during_the_round_looks_past_a_new_flood(twilio: TwilioWebhooks) -> None:
    """Test that a second number's flood, arriving mid-pass, does not fill the round's room."""
    await flood(twilio, 4)
    arrivals = {1: [*((f"{URGENT} {i}", OTHER) for i in range(6)), (URGENT, CHILD)]}
    filings, _ = await file_with_arrivals(twilio, arrivals, batch_size=5)
    assert filings[:4] == [FLOODER, FLOODER, OTHER, CHILD]


async def test_a_number_in_the_round_texting_again_is_not_claimed_before_every_filing(
        twilio: TwilioWebhooks) -> None:
    """Test that a flooder's new texts wait for their turns without a claim each.

    They are claimed when the flooder's held texts are done: here, by the next pass.
    """
    await flood(twilio, 10)
    arrivals = {n: [(f"{URGENT} again {n}", FLOODER)] for n in range(1, 10)}
    filings, claims = await file_with_arrivals(twilio, arrivals)
    assert (len(filings), claims) == (10, 1)
    filings, claims = await file_with_arrivals(twilio, {})
    assert (len(filings), claims) == (9, 1)


async def test_a_sender_leaving_the_round_has_their_later_urgent_text_claimed(
        twilio: TwilioWebhooks) -> None:
    """Test that an urgent text left by a claim, its sender in the round, is not left long.

    The claim during the first filing leaves the flooder's new text (their turns are
    coming); when their held urgent texts are done, it is claimed before ordinary ones.
    """
    await flood(twilio, 2)
    for i in range(3):
        await twilio.sms("hello", sender=f"+44770090051{i}", process=False)
    filings, _ = await file_with_arrivals(twilio, {1: [(URGENT, FLOODER)]})
    assert filings[:3] == [FLOODER] * 3
    assert len(filings) == 6


async def test_claims_during_a_round_come_at_most_every_urgent_claim_seconds(
        twilio: TwilioWebhooks) -> None:
    """Test that a busy round is claimed for again only after ``urgent_claim_seconds``.

    The second child's text arrives while the round holds urgent texts and a claim has
    just been made: it waits for the next pass (the webhook wakes it at once).
    """
    await flood(twilio, 3)
    arrivals = {1: [(URGENT, CHILD)], 2: [(URGENT, CHILD2)]}
    filings, _ = await file_with_arrivals(twilio, arrivals, urgent_claim_seconds=30)
    assert filings == [FLOODER, FLOODER, CHILD, FLOODER]
    filings, _ = await file_with_arrivals(twilio, {})
    assert filings == [CHILD2]


async def test_with_nothing_urgent_held_an_urgent_text_is_claimed_at_once(
        twilio: TwilioWebhooks) -> None:
    """Test that the claims' interval never delays a child behind ordinary texts."""
    for i in range(4):
        await twilio.sms("hello", sender=f"+44770090051{i}", process=False)
    arrivals = {1: [(URGENT, CHILD)], 2: [(URGENT, CHILD2)]}
    filings, _ = await file_with_arrivals(twilio, arrivals, urgent_claim_seconds=30)
    assert filings[1:3] == [CHILD, CHILD2]
    assert len(filings) == 6


async def test_an_urgent_claim_leases_earlier_texts_not_later_ones(
        twilio: TwilioWebhooks, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that an urgent sender's earlier texts come with the claim, and later ones wait.

    Later texts would make a flood's claim thousands of rows long. The leases are written
    a few ids a statement (asyncpg takes at most 32,767 parameters).
    """
    monkeypatch.setattr(worker_module, "IDS_A_STATEMENT", 2)
    for body in ("hello", "hi", URGENT, "still there?", "please"):
        await twilio.sms(body, sender=FLOODER, process=False)
    db = twilio.client.app[appkeys.DB]
    async with db.reader() as session:
        ids = (await session.scalars(select(InboxMessage.id).order_by(InboxMessage.id))).all()
    claimed = await build_inbox_worker(twilio.client.app, batch_size=1)._claim()
    assert [row.id for row in claimed] == [ids[2], ids[0], ids[1]]
    async with db.reader() as session:
        leased = (await session.scalars(select(InboxMessage.id).where(
            InboxMessage.claimed_until.is_not(None)).order_by(InboxMessage.id))).all()
    assert leased == ids[:3]


X_TEXTS = ["t1 hello", f"{URGENT} t2", "t3 hello", f"{URGENT} t4"]


async def x_texts_behind_a_flood(twilio: TwilioWebhooks) -> None:
    """Store X's t1 and urgent t2, a flood bigger than a claim, then X's t3 and urgent t4.

    A claim then holds t1 and t2 only: X's later texts are left for later claims.
    """
    for body in X_TEXTS[:2]:
        await twilio.sms(body, sender=CHILD, process=False)
    await flood(twilio, 60)
    for body in X_TEXTS[2:]:
        await twilio.sms(body, sender=CHILD, process=False)


async def childs_texts_filed(twilio: TwilioWebhooks) -> list[str]:
    """Return X's texts filed so far, in filing order."""
    cipher = twilio.client.app[appkeys.KEYS].cipher
    async with twilio.client.app[appkeys.DB].reader() as session:
        texts = [cipher.decrypt(b) for b in (await session.execute(
            select(Message.body_enc).where(Message.direction == "in")
            .order_by(Message.id))).scalars()]
    return [text for text in texts if text in X_TEXTS]


async def leased_rows(twilio: TwilioWebhooks) -> list[int]:
    """Return the ids of pending inbox rows under a lease."""
    async with twilio.client.app[appkeys.DB].reader() as session:
        return list((await session.scalars(select(InboxMessage.id).where(
            InboxMessage.status == "pending", InboxMessage.claimed_until.is_not(None)))).all())


async def test_a_pass_stopped_midway_gives_its_leases_back(twilio: TwilioWebhooks) -> None:
    """Test that after a shutdown during a filing, the restarted worker files in order.

    Kept, the stopped pass's leases would hold t1 and t2 for 120 s while t3 and t4 went.
    """
    await x_texts_behind_a_flood(twilio)
    worker = build_inbox_worker(twilio.client.app)
    handle = worker._handle

    async def stopped(session: Any, inbound: Any) -> None:
        raise asyncio.CancelledError  # the service stopping during the first filing

    worker._handle = stopped
    with pytest.raises(asyncio.CancelledError):
        await worker.run_once()
    worker._handle = handle
    for _ in range(5):
        await worker.run_once()
    assert await childs_texts_filed(twilio) == X_TEXTS


async def test_a_pass_that_fails_gives_its_leases_back(twilio: TwilioWebhooks) -> None:
    """Test that a pass ended by a failed claim leaves nothing leased for its retry."""
    await x_texts_behind_a_flood(twilio)
    worker = build_inbox_worker(twilio.client.app)
    text_during_filings(twilio, worker, {1: [(URGENT, CHILD2)]})
    claim_urgent = worker._claim_urgent

    async def broken(queue: Any) -> list:
        raise ConnectionError("database went away")

    worker._claim_urgent = broken
    with pytest.raises(ConnectionError):
        await worker.run_once()
    assert await leased_rows(twilio) == []
    worker._claim_urgent = claim_urgent
    for _ in range(5):
        await worker.run_once()
    assert await childs_texts_filed(twilio) == X_TEXTS


@pytest.mark.parametrize("which", ["first", "urgent"])
async def test_a_pass_stopped_just_after_a_claim_commits_gives_it_back(
        twilio: TwilioWebhooks, which: str) -> None:
    """Test that a stop landing after a claim's commit, before the pass has its rows, frees them.

    The pass's first claim, or one for an urgent text arriving during its first filing.
    """
    await flood(twilio, 2)
    worker = build_inbox_worker(twilio.client.app)
    text_during_filings(twilio, worker, {1: [(URGENT, CHILD)]})
    claim = worker._claim

    async def claim_then_stopped(**kwargs: Any) -> list:
        rows = await claim(**kwargs)
        if kwargs.get("urgent_only", False) == (which == "urgent"):
            raise asyncio.CancelledError  # e.g. as the session closes after its COMMIT
        return rows

    worker._claim = claim_then_stopped
    with pytest.raises(asyncio.CancelledError):
        await worker.run_once()
    assert await leased_rows(twilio) == []


async def test_a_later_ordinary_text_waits_for_another_workers_filing(
        twilio: TwilioWebhooks) -> None:
    """Test that a claim bringing an urgent text's earlier texts leaves one that overtakes.

    Another worker holds t1 and t2; this one takes urgent t4 (a child in danger does not
    wait), not t3, which would overtake t1. The other worker files t1 and t2, then t3.
    """
    await x_texts_behind_a_flood(twilio)
    other = build_inbox_worker(twilio.client.app)
    claimed = await other._claim()
    assert len(claimed) == 2 + 49  # t1, t2 and the flood's first texts
    held = FilingQueue(claimed)
    worker = build_inbox_worker(twilio.client.app)
    await worker.run_once()
    assert await childs_texts_filed(twilio) == [X_TEXTS[3]]
    while held:
        await other._process(held.pop())
    await worker.run_once()
    assert await childs_texts_filed(twilio) == [X_TEXTS[3], *X_TEXTS[:3]]


async def test_urgent_text_is_filed_before_the_queue(twilio: TwilioWebhooks,
                                                     db: Database) -> None:
    """Test that an urgent text arriving behind others opens the first conversation."""
    for i in range(5):
        await twilio.sms("hello", sender=f"+44770090050{i}", process=False)
    await twilio.sms(URGENT, sender="+447700900599", process=False)
    await twilio.client.app[appkeys.INBOX_WORKER].run_once()
    async with db.reader() as session:
        first = (await session.execute(select(Conversation).order_by(Conversation.id)
                                       .limit(1))).scalar_one()
    assert first.priority == "urgent"


async def test_same_sender_texts_stay_in_order(twilio: TwilioWebhooks, db: Database) -> None:
    """Test that a sender's earlier text is filed before their urgent one."""
    await twilio.sms("hello", sender="+447700900501", process=False)
    await twilio.sms("hi", sender="+447700900599", process=False)
    await twilio.sms(URGENT, sender="+447700900599", process=False)
    await twilio.client.app[appkeys.INBOX_WORKER].run_once()
    cipher = twilio.client.app[appkeys.KEYS].cipher
    async with db.reader() as session:
        texts = [cipher.decrypt(b) for b in (await session.execute(
            select(Message.body_enc).where(Message.direction == "in")
            .order_by(Message.id))).scalars()]
    assert texts == ["hi", URGENT, "hello"]


async def test_worker_lets_waiting_webhooks_commit_first(twilio: TwilioWebhooks) -> None:
    """Test that ``settled`` returns at once when idle and waits for a webhook's commit."""
    inbox = twilio.client.app[appkeys.INBOX]
    await asyncio.wait_for(inbox.settled(at_most=5), 1)  # nothing waiting: no wait
    webhook = asyncio.create_task(twilio.sms("hello", process=False))
    for _ in range(1000):  # until the webhook has handed its row to the writer
        await asyncio.sleep(0)
        if not inbox.is_settled():
            break
    assert not inbox.is_settled()
    await inbox.settled(at_most=5)
    assert inbox.is_settled()
    await webhook
    async with twilio.client.app[appkeys.DB].reader() as session:
        stored = (await session.scalars(select(InboxMessage.provider_sid))).all()
    assert len(stored) == 1


async def test_a_flood_of_webhooks_does_not_stop_filing(twilio: TwilioWebhooks) -> None:
    """Test that ``settled`` gives up after ``at_most`` when webhooks never stop."""
    inbox = twilio.client.app[appkeys.INBOX]
    inbox._settled.clear()  # as if webhooks kept arriving
    started = asyncio.get_running_loop().time()
    await inbox.settled(at_most=0.05)
    assert asyncio.get_running_loop().time() - started < 1
    inbox._settled.set()


async def test_filing_waits_for_a_quiet_moment(twilio: TwilioWebhooks) -> None:
    """Test that ``settled`` waits until no webhook has come for ``quiet`` seconds."""
    inbox = twilio.client.app[appkeys.INBOX]
    loop = asyncio.get_running_loop()
    inbox.last_arrival = started = loop.time()  # as if a webhook had just been stored
    await inbox.settled(at_most=5, quiet=0.2)
    assert loop.time() - started >= 0.2


async def test_an_urgent_text_ends_the_wait(twilio: TwilioWebhooks) -> None:
    """Test that ``settled`` returns at once when an urgent text has arrived."""
    inbox = twilio.client.app[appkeys.INBOX]
    await twilio.sms(URGENT, sender=CHILD, process=False)
    inbox.last_arrival = asyncio.get_running_loop().time()
    await asyncio.wait_for(inbox.settled(at_most=30, quiet=30), 1)


async def test_urgent_text_is_filed_during_a_flood(twilio: TwilioWebhooks,
                                                   db: Database) -> None:
    """Test that a flood of webhooks holds back ordinary filing, never an urgent text."""
    app = twilio.client.app
    await twilio.sms(URGENT, sender="+447700900599", process=False)
    worker, inbox = app[appkeys.INBOX_WORKER], app[appkeys.INBOX]
    worker._webhooks_first = 30  # ordinary texts would wait this long for a quiet moment
    inbox._settled.clear()  # as if webhooks kept arriving
    try:
        assert await asyncio.wait_for(worker.run_once(), 5) == 1
    finally:
        inbox._settled.set()
    async with db.reader() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
    assert conversation.priority == "urgent"


async def test_webhooks_read_during_a_filing_go_first(twilio: TwilioWebhooks) -> None:
    """Test that while webhooks come in, ``settled`` always gives the loop ``quiet`` first.

    Webhooks that arrived while a filing held the loop are still unread on their sockets,
    so "no webhook for ``quiet``" alone would let the next filing start ahead of them.
    """
    inbox = twilio.client.app[appkeys.INBOX]
    loop = asyncio.get_running_loop()
    inbox.last_arrival = loop.time() - 0.3  # the last webhook came during the last filing
    started = loop.time()
    await inbox.settled(at_most=1, quiet=0.2)
    assert loop.time() - started >= 0.2
