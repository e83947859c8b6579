"""Store inbound messages in the inbox with group commit, before the webhook answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.db import Database, DriverStatement, insert_for, insert_in
from helpline.inbox.models import FAILED, KEPT_FOR_A_PERSON, PENDING, InboxMessage
from helpline.inbox.senders import RecentSenders, Sender
from helpline.privacy.addresses import parse_address
from helpline.privacy.crypto import Cipher
from helpline.privacy.pseudonym import Pseudonymizer

log = logging.getLogger(__name__)

INBOX = InboxMessage.__table__
GATHER_TURNS = 8  # see Inbox._gather


@dataclass(frozen=True)
class Arrival:
    """An inbound text as its webhook hands it over: checked parameters, nothing derived."""

    provider_sid: str
    sender: str  # ``From`` as the provider sent it (``+44...`` or ``whatsapp:+44...``)
    text: str
    received_at: datetime


class RateMeter:
    """Events a second over the last ``window`` seconds or so (two windows, the older fading)."""

    def __init__(self, window: float = 0.1) -> None:
        self._window = window
        self._started = float("-inf")  # the current window's start
        self._current = 0
        self._previous = 0  # events in the window before, if it ended at ``_started``

    def count(self, now: float, events: int = 1) -> None:
        """Count ``events`` at ``now`` (a monotonic time)."""
        self._roll(now)
        self._current += events

    def rate(self, now: float) -> float:
        """Return the events a second lately."""
        self._roll(now)
        into = (now - self._started) / self._window  # how far into the current window
        return (self._previous * (1 - into) + self._current) / self._window

    def _roll(self, now: float) -> None:
        if now - self._started < self._window:
            return
        if now - self._started < 2 * self._window:  # the next window
            self._previous, self._started = self._current, self._started + self._window
        else:  # quiet for a window or more
            self._previous, self._started = 0, now
        self._current = 0


@dataclass
class _Waiting:
    arrival: Arrival
    done: asyncio.Future[bool]
    values: dict[str, object] = field(default_factory=dict)  # the row, once prepared


async def waiting_counts(session: AsyncSession) -> dict[str, int]:
    """Return how many texts are ``pending`` (to be filed) and ``failed`` (kept for a person).

    A failed text whose content retention has deleted is not counted: nobody can act on it.
    """
    counts = dict((await session.execute(
        select(InboxMessage.status, func.count())
        .where(or_(InboxMessage.status == PENDING, KEPT_FOR_A_PERSON))
        .group_by(InboxMessage.status))).all())
    return {PENDING: counts.get(PENDING, 0), FAILED: counts.get(FAILED, 0)}


class Inbox:
    """Accept inbound messages; one writer task prepares and commits everything waiting.

    Each webhook still answers only after its own row is committed (store before
    acknowledge), but under load many webhooks share one BEGIN/INSERT/COMMIT, so the
    database's single writer is no longer the limit. The writer also does each text's
    own work (normalise the number, pseudonymise it, rate urgency, encrypt) in one pass
    over the batch, where it costs less than interleaved with the rest of each request
    (server CPU a webhook 324 -> 303 µs, ``tests/bench/bench_cpu.py``). What comes of
    the sender alone is kept for their next texts (``RecentSenders``). It also counts the
    webhooks a second, so that the worker can tell a flood (``flooding``).
    """

    def __init__(self, *, cipher: Cipher, pseudonyms: Pseudonymizer,
                 is_urgent: Callable[[str], bool], region: str = "GB",
                 flood_rate: float, max_batch: int = 500) -> None:
        self._cipher = cipher
        self._senders = RecentSenders()
        self._pseudonyms = pseudonyms
        self._is_urgent = is_urgent
        self._region = region
        self._max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._has_waiting = asyncio.Event()
        self.pending = asyncio.Event()  # wakes the inbox worker after a commit
        self._urgent_senders: set[str] = set()  # whose urgent texts came since it last looked
        self._settled = asyncio.Event()  # set while no webhook waits for its commit
        self._settled.set()
        self.last_arrival = float("-inf")  # loop time of the latest webhook's store
        self._arrivals = RateMeter()
        self._flood_rate = flood_rate
        self._sqlite_insert: DriverStatement | None = None

    def wake(self) -> None:
        """Tell the worker there is work."""
        self.pending.set()

    async def store(self, arrival: Arrival) -> bool:
        """Commit a message; return False if this MessageSid was stored before (redelivery).

        Raise ``AddressError`` if the sender is not a phone number we can reply to; then
        nothing is stored.
        """
        loop = asyncio.get_running_loop()
        waiting = _Waiting(arrival=arrival, done=loop.create_future())
        self._waiting.append(waiting)
        self.last_arrival = loop.time()
        self._settled.clear()
        self._has_waiting.set()
        # Not shielded (a shield costs two callbacks a webhook): a handler cancelled while it
        # waits cancels its own future only, and the writer still commits the text.
        return await waiting.done

    async def write_forever(self, db: Database) -> None:
        """Commit waiting messages in batches until cancelled."""
        while True:
            await self._has_waiting.wait()
            await self._gather()
            self._has_waiting.clear()
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                self._arrivals.count(self.last_arrival, len(batch))  # once a batch, not a text
                await self._commit(db, batch)
            self._senders.forget_expired()  # a hit renews nothing, so a busy line sweeps too
            self._settled.set()

    async def _gather(self) -> None:
        """Let webhooks already on their sockets join this commit, while more keep coming.

        A webhook whose bytes have arrived reaches ``store`` two turns of the loop later
        (one reads the socket, one runs its handler). Committing at once, the writer took
        about five rows a commit under a closed loop of 50 connections, and the commit's
        own cost was most of the storing. Two turns more while the batch still grows,
        at most ``GATHER_TURNS`` times: an idle moment adds two empty turns.
        """
        for _ in range(GATHER_TURNS):
            before = len(self._waiting)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            if len(self._waiting) == before or len(self._waiting) >= self._max_batch:
                return

    def urgent_arrived(self) -> bool:
        """Return whether an urgent text was stored since ``take_urgent_arrivals`` last ran."""
        return bool(self._urgent_senders)

    def take_urgent_arrivals(self) -> set[str]:
        """Return the senders of urgent texts stored since the last call, and forget them.

        Texts stored by another process's webhooks never show here: its worker finds them
        at its next claim.
        """
        senders, self._urgent_senders = self._urgent_senders, set()
        return senders

    def forget_expired_senders(self) -> None:
        """Drop the recent senders whose time is up (the app calls this every minute)."""
        self._senders.forget_expired()

    def flooding(self) -> bool:
        """Return whether webhooks are coming at ``flood_rate`` a second or more."""
        return self._arrivals.rate(asyncio.get_running_loop().time()) >= self._flood_rate

    def is_settled(self) -> bool:
        """Return whether no webhook is waiting for its commit."""
        return self._settled.is_set()

    async def settled(self, *, at_most: float, quiet: float = 0.002) -> None:
        """Wait until no webhook waits for its commit and none came for ``quiet`` seconds.

        The worker calls this before each text: the webhooks Twilio is waiting for go
        before filing, and under a flood of them (no quiet moment) filing goes on at one
        text per ``at_most`` seconds until the flood passes. An urgent arrival ends the wait
        (in a flood that keeps the loop busy, the worker's ``LoopShare`` holds it further).
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        # While webhooks are coming in, the quiet counts from now: those that arrived during
        # the last filing are still unread on their sockets, so the last store is too early.
        calm_since = now if now - self.last_arrival < at_most else self.last_arrival
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                while not self.urgent_arrived():  # a child in danger goes first
                    await self._settled.wait()
                    calm_in = max(calm_since, self.last_arrival) + quiet - loop.time()
                    if calm_in <= 0:
                        return
                    await asyncio.sleep(calm_in)

    def _prepare(self, batch: list[_Waiting]) -> list[_Waiting]:
        """Derive each row; hand a webhook whose text cannot be stored its error instead."""
        ready = []
        for waiting in batch:
            arrival = waiting.arrival
            try:
                sender = self._senders.get(arrival.sender) or self._sender(arrival.sender)
                waiting.values = {
                    "provider_sid": arrival.provider_sid, "address_enc": sender.address_enc,
                    "body_enc": self._cipher.encrypt(arrival.text),
                    "received_at": arrival.received_at, "status": PENDING, "attempts": 0,
                    # Rated now, so that a child in danger is filed and paged first.
                    "urgent": self._urgent(arrival.text),
                    "sender_key": sender.sender_key}
            except Exception as exc:  # AddressError: a 400; anything else: a 500, this one
                if not waiting.done.done():
                    waiting.done.set_exception(exc)
                continue
            ready.append(waiting)
        return ready

    def _urgent(self, text: str) -> bool:
        """Rate ``text``; a fault in the lexicon stores it as urgent rather than lose it."""
        try:
            return self._is_urgent(text)
        except Exception as exc:  # the worker's triage rates it again when filing it
            # The type only: an exception's message could quote the text.
            log.error("rating a text failed (%s); stored as urgent", type(exc).__name__)
            return True

    def _sender(self, raw_from: str) -> Sender:
        """Normalise, pseudonymise and encrypt a sender not seen lately; remember them."""
        address = parse_address(raw_from, region=self._region)
        sender = Sender(address_enc=self._cipher.encrypt(address.twilio),
                        sender_key=self._pseudonyms.pseudonym(address.e164).digest)
        self._senders.put(raw_from, sender)
        return sender

    async def _commit(self, db: Database, batch: list[_Waiting]) -> None:
        batch = self._prepare(batch)
        if not batch:
            return
        try:
            stored = await (self._insert_sqlite(db, batch) if db.is_sqlite
                            else self._insert(db, batch))
        except Exception as exc:
            log.exception("storing %d inbound messages failed", len(batch))
            for waiting in batch:
                if not waiting.done.done():
                    waiting.done.set_exception(exc)
            return
        self.wake()
        self._urgent_senders.update(w.values["sender_key"] for w in batch if w.values["urgent"])
        for waiting in batch:
            sid = waiting.values["provider_sid"]
            if not waiting.done.done():
                waiting.done.set_result(sid in stored)
            stored.discard(sid)  # a second copy in the same batch is a redelivery

    async def _insert(self, db: Database, batch: list[_Waiting]) -> set[str]:
        async with db.transaction() as session:  # PostgreSQL: row locks, no queue
            # One compiled statement, executed for many rows: SQLAlchemy's
            # "insertmanyvalues" batches them without compiling a statement per size.
            statement = insert_for(session, INBOX).on_conflict_do_nothing()
            return set((await session.scalars(statement.returning(INBOX.c.provider_sid),
                                               [w.values for w in batch])).all())

    async def _insert_sqlite(self, db: Database, batch: list[_Waiting]) -> set[str]:
        # SQLite runs on this thread: one row per statement costs a few microseconds,
        # and the statement goes to the driver without SQLAlchemy (see inbox_transaction).
        if self._sqlite_insert is None:
            self._sqlite_insert = DriverStatement(
                insert_in("sqlite", INBOX).on_conflict_do_nothing()
                .returning(INBOX.c.provider_sid),
                db.engine.dialect, columns=batch[0].values)
        statement, stored = self._sqlite_insert, set()
        async with db.inbox_transaction() as driver:
            for waiting in batch:
                rows = await driver.fetch(statement.sql, statement.parameters(waiting.values))
                stored.update(row[0] for row in rows)
        return stored
