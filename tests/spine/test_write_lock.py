"""SQLite's in-process write lock: the webhook's commit goes ahead of background work."""

from __future__ import annotations

import asyncio

from helpline import appkeys
from helpline.db import Database, _WriteLock
from tests.conftest import TwilioWebhooks


async def test_first_holder_goes_ahead_of_waiting_background_work() -> None:
    """Test that a 'first' waiter gets the lock before background waiters queued earlier."""
    lock, order = _WriteLock(), []
    release = asyncio.Event()

    async def hold(name: str, *, first: bool, wait: asyncio.Event | None = None) -> None:
        async with lock.hold(first=first):
            order.append(name)
            if wait is not None:
                await wait.wait()

    holder = asyncio.create_task(hold("holder", first=False, wait=release))
    await asyncio.sleep(0)
    background = asyncio.create_task(hold("background", first=False))
    await asyncio.sleep(0)
    webhook = asyncio.create_task(hold("webhook", first=True))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(holder, background, webhook)
    assert order == ["holder", "webhook", "background"]


async def test_lock_is_exclusive() -> None:
    """Test that two holders never hold the lock at the same time."""
    lock, inside, most = _WriteLock(), 0, 0

    async def hold(first: bool) -> None:
        nonlocal inside, most
        async with lock.hold(first=first):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(hold(i % 3 == 0) for i in range(30)))
    assert most == 1


async def test_many_webhooks_at_once_are_all_stored(twilio: TwilioWebhooks, db: Database) -> None:
    """Test that fifty simultaneous webhooks, committed together, are each stored once."""
    from sqlalchemy import func, select

    from helpline.inbox.models import InboxMessage

    responses = await asyncio.gather(*(
        twilio.sms(f"message {i}", sender=f"+4477009004{i:02d}", process=False)
        for i in range(50)))
    assert {r.status for r in responses} == {200}
    async with db.reader() as session:
        assert (await session.execute(select(func.count()).select_from(InboxMessage))
                ).scalar_one() == 50


async def test_webhooks_arriving_turn_after_turn_share_one_commit(
        twilio: TwilioWebhooks) -> None:
    """Test that the inbox's writer waits while webhooks keep arriving, then commits once."""
    from helpline.clock import SystemClock
    from helpline.inbox.service import Arrival

    inbox, db = twilio.client.app[appkeys.INBOX], twilio.client.app[appkeys.DB]
    commits = 0
    transaction = db.inbox_transaction if db.is_sqlite else db.transaction

    def counted(*args: object, **kwargs: object) -> object:
        nonlocal commits
        commits += 1
        return transaction(*args, **kwargs)

    setattr(db, "inbox_transaction" if db.is_sqlite else "transaction", counted)

    async def arrive(turn: int) -> bool:
        for _ in range(turn):  # one webhook reaches the inbox on each turn of the loop
            await asyncio.sleep(0)
        return await inbox.store(Arrival(provider_sid=twilio.next_sid(),
                                         sender=f"+4477009004{turn:02d}", text="hello",
                                         received_at=SystemClock().now()))

    assert all(await asyncio.gather(*(arrive(turn) for turn in range(10))))
    assert commits == 1
