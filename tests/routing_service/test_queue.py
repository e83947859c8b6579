"""The queue: priority then waiting time, atomic takes, capacity, availability, targets."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from helpline import appkeys
from helpline.conversations.models import Conversation
from helpline.db import Database
from helpline.routing.queue import QueueError
from helpline.users.models import User
from tests.service.helpers import Texter


async def queued(client: TestClient, texter: Texter, number: str, *texts: str) -> None:
    """Have a young person on ``number`` text until their conversation is queued."""
    person = Texter(client, texter.loopback, texter.clock, number=number)
    for text in texts:
        await person.send(text)
        texter.clock.advance(10)


async def take(client: TestClient, user_id: int) -> Conversation | None:
    """Take the next case as a user, in its own transaction."""
    app = client.app
    async with app[appkeys.DB].transaction() as session:
        user = await session.get_one(User, user_id)
        return await app[appkeys.QUEUE].take_next(session, user=user,
                                                  now=app[appkeys.CLOCK].now())


async def test_most_urgent_then_longest_waiting_first(client: TestClient, texter: Texter,
                                                      staff: dict[str, User]) -> None:
    """Test that takes follow priority first, then who has waited longest."""
    await queued(client, texter, "+447700900301", "hi", "talk to someone")   # standard
    await queued(client, texter, "+447700900302", "hi", "talk to someone")   # standard, later
    await queued(client, texter, "+447700900303", "hi", "no")                # urgent, last
    order = [(await take(client, staff[login].id)) for login in ("vol-amira", "vol-ben",
                                                                  "vol-chen")]
    assert [c.priority for c in order] == ["urgent", "standard", "standard"]
    assert order[1].queued_at < order[2].queued_at


async def test_two_volunteers_never_get_the_same_case(client: TestClient, texter: Texter,
                                                      staff: dict[str, User]) -> None:
    """Test that two takes at once hand out one case, not the same one twice."""
    await queued(client, texter, "+447700900301", "hi", "talk to someone")
    first, second = await asyncio.gather(take(client, staff["vol-amira"].id),
                                         take(client, staff["vol-ben"].id))
    assert [c is None for c in (first, second)].count(True) == 1


async def test_capacity_is_respected(client: TestClient, texter: Texter,
                                     staff: dict[str, User], db: Database) -> None:
    """Test that a volunteer at capacity cannot take another case."""
    async with db.transaction() as session:
        (await session.get_one(User, staff["vol-amira"].id)).capacity = 1
    await queued(client, texter, "+447700900301", "hi", "talk to someone")
    await queued(client, texter, "+447700900302", "hi", "talk to someone")
    assert await take(client, staff["vol-amira"].id) is not None
    with pytest.raises(QueueError, match="capacity"):
        await take(client, staff["vol-amira"].id)


async def test_away_volunteer_cannot_take_and_returns_cases(client: TestClient, texter: Texter,
                                                             staff: dict[str, User]) -> None:
    """Test that going away returns held cases to the queue, keeping their place."""
    await queued(client, texter, "+447700900301", "hi", "talk to someone")
    taken = await take(client, staff["vol-amira"].id)
    app = client.app
    async with app[appkeys.DB].transaction() as session:
        user = await session.get_one(User, staff["vol-amira"].id)
        returned = await app[appkeys.QUEUE].set_availability(
            session, user=user, availability="away", now=app[appkeys.CLOCK].now())
    assert returned == 1
    with pytest.raises(QueueError, match="available"):
        await take(client, staff["vol-amira"].id)
    again = await take(client, staff["vol-ben"].id)
    assert again.id == taken.id and again.queued_at == taken.queued_at


async def test_missed_target_pages_the_supervisor(client: TestClient, texter: Texter,
                                                  staff: dict[str, User], db: Database) -> None:
    """Test that a high case unanswered for 10 minutes is recorded and the supervisor paged."""
    await queued(client, texter, "+447700900301", "hi", "yes", "2", "yes", "yes")
    texter.clock.advance(601)
    await client.app[appkeys.JOBS].run_once()
    await client.app[appkeys.JOBS].long_work_done()  # a purge runs in a task of its own
    await client.app[appkeys.SENDER].run_once()
    async with db.reader() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
    assert conversation.priority == "high"
    assert conversation.target_breached_at is not None
    pages = [t.body for t in texter.loopback.sent if t.to_masked.endswith("204")]
    assert pages == [f"Contact #{conversation.id} (high) has waited over 10 min for a "
                     "first reply."]
