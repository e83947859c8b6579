"""Process the inbox in arrival order: volunteer commands, or the conversation service."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator, KeysView
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from helpline.background import LoopShare, poll_forever
from helpline.clock import Clock
from helpline.conversations.service import DuplicateDelivery, Inbound
from helpline.db import Database
from helpline.inbox.models import DONE, FAILED, PENDING, InboxMessage
from helpline.inbox.service import Inbox
from helpline.privacy.addresses import parse_address
from helpline.privacy.crypto import Cipher

log = logging.getLogger(__name__)

INBOX = InboxMessage.__table__
# Processed: drop the encrypted copies (the messages table has them now) and the sender's
# pseudonym, which only ordered the filing. What stays is a tombstone that turns away a
# redelivery of the MessageSid until retention deletes it (``purge``): no link to a number.
DONE_ROW = (update(INBOX).where(INBOX.c.id == bindparam("inbox_id"))
            .values(status=DONE, processed_at=bindparam("now"), claimed_until=None,
                    address_enc=None, body_enc=None, sender_key=None))

# Ids bound in one statement: within every database's parameter limit (asyncpg: 32,767).
IDS_A_STATEMENT = 1000

# A transaction-scoped PostgreSQL advisory lock for claiming (any constant key of our own).
CLAIMS_ONE_AT_A_TIME = text("SELECT pg_advisory_xact_lock(7112026)")

Handle = Callable[[AsyncSession, Inbound], Awaitable[None]]


class InboxWorker:
    """Hand each stored message to ``handle`` in its own transaction, oldest first, once."""

    def __init__(self, *, db: Database, inbox: Inbox, cipher: Cipher, clock: Clock,
                 handle: Handle, batch_size: int = 50, lease_seconds: float = 120.0,
                 max_attempts: int = 5, retry_seconds: float = 5.0,
                 poll_seconds: float = 1.0, webhooks_first_seconds: float = 0.1,
                 urgent_first_seconds: float = 0.01, urgent_claim_seconds: float = 0.05,
                 flood_share: float) -> None:
        self._db = db
        self._inbox = inbox
        self._cipher = cipher
        self._clock = clock
        self._handle = handle
        self._batch = batch_size
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        self._retry = retry_seconds
        self._poll = poll_seconds
        self._webhooks_first = webhooks_first_seconds
        self._urgent_first = urgent_first_seconds
        self._urgent_claim = urgent_claim_seconds
        self._written: set[datetime] = set()  # the lease times this pass wrote, running
        self._claimed: set[int] = set()  # the rows this pass leased and has not filed
        self._filing: int | None = None  # the row being filed
        self._share = LoopShare(flood_share, flooding=inbox.flooding)

    async def run(self) -> None:
        """Process until cancelled, waking when a webhook stores a message."""
        await poll_forever(self.run_once, wake=self._inbox.pending, batch_size=self._batch,
                           poll_seconds=self._poll, what="inbox")

    async def run_once(self) -> int:
        """Claim pending messages, urgent first, and process them; return how many."""
        self._written.clear()
        self._claimed.clear()
        self._filing = None
        try:
            queue = FilingQueue(await self._share.counted(self._claim()))
            return await self._file(queue)
        except BaseException:
            # A pass that fails or is stopped gives back the leases it holds: kept, they
            # would let its senders' later texts go first, and hold the rest 120 s.
            await self._give_back()
            raise

    async def _file(self, queue: FilingQueue) -> int:
        """File the rows of ``queue`` in turn with webhooks, claiming urgent texts meanwhile."""
        loop = asyncio.get_running_loop()
        leased_at = loop.time()
        done, look_again, next_urgent_claim = 0, False, float("-inf")
        while queue:
            # Webhooks first. A flood of them that keeps the loop busy gets all but
            # ``flood_share`` of it: a webhook not answered is a text lost. And before
            # each text, the webhooks Twilio is waiting for commit first, for up to
            # ``webhooks_first`` seconds, ``urgent_first`` when a child in danger waits.
            await self._share.turn()
            if loop.time() - leased_at > self._lease.total_seconds() / 2:
                # A flood's pass can outlast the leases it took: keep the rows it holds.
                await self._share.counted(self._renew())
                leased_at = loop.time()
            urgent = queue.has_urgent  # an urgent sender's texts come first
            await self._inbox.settled(
                at_most=self._urgent_first if urgent else self._webhooks_first)
            # A child in danger joins the round of urgent senders: next if it is empty, and
            # within ``urgent_claim`` seconds if not (each claim costs a few milliseconds,
            # and at 200 texts a second there would be one before nearly every filing).
            if ((look_again or self._inbox.urgent_arrived())
                    and (not urgent or loop.time() >= next_urgent_claim)):
                arrived = self._inbox.take_urgent_arrivals()
                in_round = queue.urgent_senders()
                # A full round claims again when a sender leaves it (``look_again``).
                if len(in_round) < self._batch and (
                        look_again or not arrived.issubset(in_round)):
                    queue.add(await self._share.counted(self._claim_urgent(queue)))
                    urgent = queue.has_urgent
                    next_urgent_claim = loop.time() + self._urgent_claim
                look_again = False
            row = queue.pop()
            # A sender leaving the round may have urgent texts the claims left for its turns.
            look_again |= bool(row.urgent) and not queue.in_round(row.sender_key)
            # In turn with webhooks, not after.
            self._filing = row.id
            await self._share.counted(self._process(row, first=urgent))
            self._filing = None
            self._claimed.discard(row.id)  # filed, or waiting for its retry
            done += 1
            await asyncio.sleep(0)
        return done

    async def _give_back(self) -> None:
        """Free the leases this pass wrote and still holds, and the attempts they counted.

        The row being filed was attempted: a text that keeps stopping its pass still runs
        out of attempts and is kept for a person.
        """
        mine = [InboxMessage.status == PENDING,
                InboxMessage.claimed_until.in_(list(self._written))]
        filing = [] if self._filing is None else [self._filing]
        try:
            async with asyncio.timeout(5), self._db.transaction() as session:
                for ids in _batches(sorted(self._claimed - set(filing))):
                    await session.execute(
                        update(InboxMessage).where(InboxMessage.id.in_(ids), *mine)
                        .values(claimed_until=None, attempts=InboxMessage.attempts - 1)
                        .execution_options(synchronize_session=False))
                if filing:
                    await session.execute(
                        update(InboxMessage).where(InboxMessage.id.in_(filing), *mine)
                        .values(claimed_until=None)
                        .execution_options(synchronize_session=False))
        except Exception as exc:  # they are claimed again once the leases run out
            log.warning("inbox worker kept %d leases when its pass ended early (%s)",
                        len(self._claimed), type(exc).__name__)

    def _wrote(self, until: datetime, ids: list[int]) -> None:
        """Remember a lease this pass wrote (``_give_back`` and ``_renew`` touch only those).

        Kept until a renewal replaces them all, expired or not: a lease that ran out
        before its renewal (the host suspended, a slow claim) is still this pass's.
        """
        self._written.add(until)
        self._claimed.update(ids)

    async def _claim_urgent(self, queue: FilingQueue) -> list:
        """Claim urgent texts of senders not in the round yet, as many as it has room for.

        The senders in it are left out: their later texts wait for their turns anyway, and
        one number's flood would otherwise fill every claim ahead of another child.
        """
        in_round = queue.urgent_senders()
        return await self._claim(urgent_only=True, limit=self._batch - len(in_round),
                                 besides=[s for s in in_round if isinstance(s, str)])

    async def _claim(self, *, urgent_only: bool = False, limit: int | None = None,
                     besides: list[str] | None = None) -> list:
        """Lease due messages (urgent ones, or the oldest); return their rows, ciphertexts too.

        Every earlier due text of an urgent sender comes too: it must be filed first. An
        ordinary text waits while an earlier one of its sender is being filed under another
        worker's lease, so that no ordinary text overtakes one being filed (an urgent one
        does, and one waiting for its retry is overtaken: neither may hold back the rest).
        Texts of the senders ``besides`` are left. ``limit`` caps the rows of the first
        look and the urgent senders of the claim.
        """
        now = self._clock.now()
        self._inbox.take_urgent_arrivals()  # this claim looks for them
        async with self._db.transaction() as session:
            if not self._db.is_sqlite:
                # One claim at a time, so that each sees the leases taken before it (on
                # SQLite the write lock already does this).
                await session.execute(CLAIMS_ONE_AT_A_TIME)
            limit = limit or self._batch  # rows of the first look, and urgent senders
            rows = list((await session.execute(claim_query(
                now, limit=limit, urgent_only=urgent_only, besides=besides))).all())
            urgent_senders = {r.sender_key for r in rows if r.urgent and r.sender_key}
            if (len(rows) == limit and all(r.urgent for r in rows)
                    and len(urgent_senders) < limit):
                # Filled with the urgent texts of a few senders (one number's flood), this
                # would leave other children's: take the first of each other sender's too.
                rows += (await session.execute(first_urgent_texts_query(
                    now, limit=limit - len(urgent_senders),
                    besides=[*(besides or ()), *urgent_senders]))).all()
                urgent_senders.update(r.sender_key for r in rows if r.sender_key)
            if urgent_senders:
                # Their earlier texts are filed before them; later ones can wait for a later
                # claim, and a flood's would make a claim of thousands of rows.
                latest: dict[str, int] = {}
                for r in rows:
                    if r.urgent and r.sender_key:
                        latest[r.sender_key] = max(r.id, latest.get(r.sender_key, 0))
                earlier = [r for r in (await session.execute(senders_query(
                    now, urgent_senders, before=max(latest.values())))).all()
                    if r.id < latest[r.sender_key]]
                rows += await self._not_overtaking(session, now, earlier)
            rows = list({r.id: r for r in rows}.values())
            until = now + self._lease
            for ids in _batches([r.id for r in rows]):
                # No last error while leased: a leased row with none is being filed now.
                await session.execute(
                    update(InboxMessage).where(InboxMessage.id.in_(ids))
                    .values(claimed_until=until, attempts=InboxMessage.attempts + 1,
                            last_error=None)
                    .execution_options(synchronize_session=False))
            if rows:  # last, before the commit: a stop at the commit still gives them back
                self._wrote(until, [r.id for r in rows])
        return rows

    async def _not_overtaking(self, session: AsyncSession, now: datetime, rows: list) -> list:
        """Drop the ordinary ``rows`` that would overtake a text another worker is filing.

        As in the claim's first look (``_earlier_text_being_filed``), but the rows this
        pass holds (``_claimed``), leased by it, do not count.
        """
        senders = {r.sender_key for r in rows if not r.urgent}
        if not senders:
            return rows
        first_elsewhere: dict[str, int] = {}
        for leased, sender in (await session.execute(
                select(InboxMessage.id, InboxMessage.sender_key)
                .where(InboxMessage.sender_key.in_(senders), *_being_filed(now)))).all():
            if leased not in self._claimed:
                first_elsewhere[sender] = min(leased, first_elsewhere.get(sender, leased))
        return [r for r in rows
                if r.urgent or r.id < first_elsewhere.get(r.sender_key, r.id + 1)]

    async def _renew(self) -> None:
        """Extend the leases of rows this pass holds and has not filed yet."""
        until = self._clock.now() + self._lease
        ours = InboxMessage.claimed_until.in_(list(self._written))  # none taken over since
        renewed = 0
        self._wrote(until, [])  # a stop halfway gives back the renewed ones too
        for ids in _batches(sorted(self._claimed)):
            async with self._db.transaction() as session:
                result = await session.execute(
                    update(InboxMessage)
                    .where(InboxMessage.id.in_(ids), InboxMessage.status == PENDING, ours)
                    .values(claimed_until=until)
                    .execution_options(synchronize_session=False))
                renewed += result.rowcount or 0
        # Every row the pass still holds has this lease now (none if all were taken over).
        self._written = {until} if renewed else set()

    async def _process(self, row: Any, *, first: bool = False) -> None:  # a claimed row
        inbox_id = row.id
        try:
            inbound = Inbound(
                address=parse_address(self._cipher.decrypt(row.address_enc or "")),
                text=self._cipher.decrypt(row.body_enc or ""),
                received_at=row.received_at, provider_sid=row.provider_sid)
            # Yielding: webhooks go on committing to the inbox while this text is filed.
            async with self._db.transaction(first=first, yielding=True) as session:
                await self._handle(session, inbound)
                await session.flush()  # so that nothing yields once the inbox row is locked
                # On SQLite the inbox is another file, committed after the main one: a crash
                # in between leaves this text pending, and filing it again finds its
                # MessageSid stored (DuplicateDelivery below), so it is filed once.
                await session.execute(DONE_ROW, {"inbox_id": inbox_id, "now": self._clock.now()})
        except DuplicateDelivery:
            async with self._db.transaction() as session:
                await session.execute(DONE_ROW, {"inbox_id": inbox_id, "now": self._clock.now()})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("inbox message %s could not be processed", inbox_id)
            await self._failed(inbox_id, type(exc).__name__)

    async def _failed(self, inbox_id: int, reason: str) -> None:
        now = self._clock.now()
        async with self._db.transaction() as session:
            row = await session.get_one(InboxMessage, inbox_id)
            row.last_error = reason
            if row.attempts >= self._max_attempts:
                # Kept, encrypted, for a person to look at: a message is never dropped.
                row.status = FAILED
                log.error("inbox message %s failed %s times; kept for a person",
                          inbox_id, row.attempts)
            else:
                row.claimed_until = now + timedelta(seconds=self._retry * 2 ** row.attempts)


# Read at the claim, once: the filing transaction must not read the inbox (Database.transaction).
CLAIMED_COLUMNS = (InboxMessage.id, InboxMessage.sender_key, InboxMessage.urgent,
                   InboxMessage.provider_sid, InboxMessage.address_enc, InboxMessage.body_enc,
                   InboxMessage.received_at)


def _batches(ids: list[int]) -> Iterator[list[int]]:
    """Yield ``ids`` ``IDS_A_STATEMENT`` at a time."""
    for start in range(0, len(ids), IDS_A_STATEMENT):
        yield ids[start:start + IDS_A_STATEMENT]


def _due(now: datetime) -> list[Any]:
    return [InboxMessage.status == PENDING,
            or_(InboxMessage.claimed_until.is_(None), InboxMessage.claimed_until < now)]


def claim_query(now: datetime, *, limit: int, urgent_only: bool = False,
                besides: list[str] | None = None) -> Any:
    """Select the due texts to claim next: urgent ones first, then the oldest.

    An ordinary text is left while an earlier one of its sender is being filed, and every
    text of the senders ``besides``.
    """
    conditions = [*_due(now), InboxMessage.urgent if urgent_only else or_(
        InboxMessage.urgent, ~_earlier_text_being_filed(now))]
    if besides:
        conditions.append(or_(InboxMessage.sender_key.is_(None),
                              InboxMessage.sender_key.not_in(besides)))
    return (select(*CLAIMED_COLUMNS).where(*conditions)
            .order_by(InboxMessage.urgent.desc(), InboxMessage.id)
            .limit(limit).with_for_update(skip_locked=True))


def first_urgent_texts_query(now: datetime, *, limit: int, besides: list[str]) -> Any:
    """Select the first due urgent text of each sender but ``besides``, the oldest first.

    One pass over the urgent pending rows of ``ix_inbox_urgent_first`` (a query a sender,
    each looking past the senders before, read them all once for each).
    """
    firsts = (select(func.min(InboxMessage.id))
              .where(*_due(now), InboxMessage.urgent, InboxMessage.sender_key.not_in(besides))
              .group_by(InboxMessage.sender_key)
              .order_by(func.min(InboxMessage.id)).limit(limit))
    # Due again outside: PostgreSQL checks a row changed meanwhile against these only.
    return (select(*CLAIMED_COLUMNS)
            .where(InboxMessage.id.in_(firsts.scalar_subquery()), *_due(now),
                   InboxMessage.urgent)
            .order_by(InboxMessage.id).with_for_update(skip_locked=True))


def senders_query(now: datetime, senders: set[str], before: int) -> Any:
    """Select the due texts of ``senders`` (urgent senders) older than text ``before``.

    No index finds a sender's texts (every webhook would write it: migration 0012). On
    SQLite this reads the pending rows in ``ix_inbox_urgent_first``, which holds what it
    asks; PostgreSQL plans by cost (with 150,000 filed rows and 50,000 pending it chose
    that index, 3 ms; one scan a sender, as an OR of them, took 6 ms each). It runs
    only when a claim holds an urgent text.
    """
    return (select(*CLAIMED_COLUMNS)
            .where(*_due(now), InboxMessage.sender_key.in_(senders), InboxMessage.id < before)
            .with_for_update(skip_locked=True))


def _earlier_text_being_filed(now: datetime) -> Any:
    """Whether an earlier text of the same sender is leased to a worker filing it now.

    A row waiting for its retry has a last error; one being filed has none (``_claim``).
    A worker that died holding a lease holds its sender's ordinary texts until it runs
    out (``lease_seconds``); their urgent texts never wait for it.
    """
    earlier = aliased(InboxMessage)
    return (select(earlier.id)
            .where(earlier.sender_key == InboxMessage.sender_key,
                   earlier.id < InboxMessage.id, *_being_filed(now, earlier))
            .exists())


def _being_filed(now: datetime, rows: Any = InboxMessage) -> list[Any]:
    """Return the conditions that a row is leased to a worker filing it now.

    A row waiting for its retry has a last error; one being filed has none (``_claim``).
    """
    return [rows.claimed_until.is_not(None),  # leased: ix_inbox_sender_leased
            rows.claimed_until >= now, rows.status == PENDING, rows.last_error.is_(None)]


class FilingQueue:
    """Claimed rows in filing order: urgent senders in turn, then by each sender's first text.

    Each sender's texts come in arrival order. Senders with an urgent text take turns, a
    text a turn: one who has had a turn goes to the end of the round, and one who gets an
    urgent text joins it there, so a child in danger never waits behind the whole backlog
    of another number (one sending a flood). The rest follow in the order of their
    earliest text still waiting. Ranks are kept in a heap, not sorted again after every
    text: a flood's claims hold thousands of rows.
    """

    def __init__(self, rows: list | None = None) -> None:  # rows of (id, sender_key, urgent)
        self._senders: dict[object, list] = {}  # each sender's rows, latest first
        self._urgent: dict[object, int] = {}  # how many of them are urgent
        self._urgent_rows = 0
        self._turn: dict[object, int] = {}  # each urgent sender's place in the round
        self._turns = itertools.count()
        self._ranks: list[tuple[bool, int, int, object]] = []  # a heap; stale entries skipped
        self._held: set[int] = set()
        self._pushes = itertools.count()  # breaks ties, so senders are never compared
        self.add(rows or [])

    def __bool__(self) -> bool:
        return bool(self._senders)

    @property
    def has_urgent(self) -> bool:
        """Return whether an urgent text is among the rows still waiting."""
        return self._urgent_rows > 0

    def urgent_senders(self) -> KeysView:
        """Return the senders in the round: those with an urgent text still waiting."""
        return self._turn.keys()

    def in_round(self, sender_key: object) -> bool:
        """Return whether ``sender_key`` has an urgent text still waiting."""
        return sender_key in self._turn

    def add(self, rows: list) -> None:
        """Add claimed rows; a row held and not yet filed is not added twice.

        A row filed already may come again: one that failed is claimed again for its retry.
        Senders whose first urgent text this brings join the round by their earliest text.
        """
        touched = set()
        for row in rows:
            if row.id in self._held:
                continue
            self._held.add(row.id)
            sender = row.sender_key or ("alone", row.id)
            self._senders.setdefault(sender, []).append(row)
            self._urgent[sender] = self._urgent.get(sender, 0) + bool(row.urgent)
            self._urgent_rows += bool(row.urgent)
            touched.add(sender)
        for sender in touched:
            self._senders[sender].sort(key=lambda r: r.id, reverse=True)
        for sender in sorted(touched, key=lambda s: self._senders[s][-1].id):
            if self._urgent[sender] and sender not in self._turn:
                self._turn[sender] = next(self._turns)
            self._push(sender)

    def pop(self) -> Any:
        """Remove and return the row to file next."""
        while True:
            *rank, _, sender = heapq.heappop(self._ranks)
            if sender in self._senders and tuple(rank) == self._rank(sender):
                break  # else stale: the sender's rank changed after this entry was pushed
        rows = self._senders[sender]
        row = rows.pop()
        self._held.discard(row.id)
        self._urgent[sender] -= bool(row.urgent)
        self._urgent_rows -= bool(row.urgent)
        if self._urgent[sender]:
            self._turn[sender] = next(self._turns)  # to the end of the round
        else:
            self._turn.pop(sender, None)
        if rows:
            self._push(sender)
        else:
            del self._senders[sender], self._urgent[sender]
        return row

    def _rank(self, sender: object) -> tuple[bool, int]:
        turn = self._turn.get(sender)
        return (False, turn) if turn is not None else (True, self._senders[sender][-1].id)

    def _push(self, sender: object) -> None:
        heapq.heappush(self._ranks, (*self._rank(sender), next(self._pushes), sender))
