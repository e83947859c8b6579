"""The inbox keeps no link from a number to its texts once they are filed, and not for ever."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp.test_utils import TestClient
from alembic import command
from sqlalchemy import select

from helpline import appkeys
from helpline.inbox.models import DONE, FAILED, InboxMessage
from helpline.migrate import alembic_config, upgrade_sync
from helpline.users.models import User
from tests.privacy_service.test_erasure import erase_as
from tests.privacy_service.test_retention import run_purge
from tests.service.helpers import Texter

FAILED_SID = "SM" + "f" * 32


def pseudonym_of(client: TestClient, number: str) -> str:
    """Return the pseudonym the service gives ``number`` now."""
    return client.app[appkeys.KEYS].pseudonyms.pseudonym(number).digest


async def inbox_rows(client: TestClient) -> list[InboxMessage]:
    """Return every inbox row, oldest first."""
    async with client.app[appkeys.DB].reader() as session:
        return list((await session.execute(
            select(InboxMessage).order_by(InboxMessage.id))).scalars())


async def add_failed_row(client: TestClient, *, number: str, sid: str,
                         sender_key: str | None = None) -> None:
    """Store a text the worker gave up on, as it keeps one for a person to look at.

    ``sender_key``: the pseudonym it was stored under (by default the number's now).
    """
    app = client.app
    cipher = app[appkeys.KEYS].cipher
    async with app[appkeys.DB].transaction() as session:
        session.add(InboxMessage(
            provider_sid=sid, sender_key=sender_key or pseudonym_of(client, number),
            status=FAILED, attempts=5, address_enc=cipher.encrypt(number),
            body_enc=cipher.encrypt("help"), received_at=app[appkeys.CLOCK].now(),
            last_error="ConnectionError"))


async def test_a_filed_text_leaves_no_pseudonym_in_the_inbox(client: TestClient,
                                                             texter: Texter) -> None:
    """Test that once a text is filed its inbox row no longer carries the sender's pseudonym."""
    await texter.send("hi")
    rows = await inbox_rows(client)
    assert [(r.status, r.sender_key, r.address_enc, r.body_enc) for r in rows] == [
        (DONE, None, None, None)]
    async with client.app[appkeys.DB].reader() as session:
        linked = (await session.execute(select(InboxMessage.id).where(
            InboxMessage.sender_key == pseudonym_of(client, texter.number)))).all()
    assert linked == []


async def test_filed_rows_are_deleted_a_day_after_filing(client: TestClient,
                                                         texter: Texter) -> None:
    """Test that a purge keeps a filed text's row for a day (redeliveries), then deletes it."""
    await texter.send("hi")
    texter.clock.advance(hours=23)
    assert (await run_purge(client))["filed_inbox_rows"] == 0
    assert len(await inbox_rows(client)) == 1
    texter.clock.advance(hours=2)
    assert (await run_purge(client))["filed_inbox_rows"] == 1
    assert await inbox_rows(client) == []


async def test_failed_rows_lose_their_pseudonym_with_their_content(client: TestClient,
                                                                   texter: Texter) -> None:
    """Test that retention empties a failed text's row of content and pseudonym alike."""
    await add_failed_row(client, number=texter.number, sid=FAILED_SID)
    texter.clock.advance(days=31)
    assert (await run_purge(client))["failed_inbox_messages"] == 1
    [row] = await inbox_rows(client)
    assert (row.status, row.sender_key, row.address_enc, row.body_enc) == (FAILED, None, None, None)


async def test_erasure_empties_the_contacts_failed_texts(client: TestClient, texter: Texter,
                                                         staff: dict[str, User]) -> None:
    """Test that erasing a contact also clears their unfiled texts, and no one else's."""
    await texter.send("hi")
    await add_failed_row(client, number=texter.number, sid=FAILED_SID)
    await add_failed_row(client, number="+447700900321", sid="SM" + "e" * 32)
    # Stored under a key rotated away since: found by its number, not its pseudonym.
    await add_failed_row(client, number=texter.number, sid="SM" + "r" * 32,
                         sender_key="an-older-keys-pseudonym")
    report = await erase_as(client, texter, staff["sup-dana"].id, "young person asked")
    assert report.inbox_messages == 2
    failed = {r.provider_sid: r for r in await inbox_rows(client) if r.status == FAILED}
    for erased in (failed[FAILED_SID], failed["SM" + "r" * 32]):
        assert (erased.sender_key, erased.address_enc, erased.body_enc) == (None, None, None)
    other = failed["SM" + "e" * 32]
    assert other.sender_key is not None and other.body_enc is not None


async def test_migration_clears_the_pseudonyms_of_rows_filed_before(client: TestClient) -> None:
    """Test that 0009 clears sender_key on filed rows and leaves pending rows' alone."""
    app = client.app
    url = app[appkeys.SETTINGS].effective_database_url
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0008")
    try:
        async with app[appkeys.DB].transaction() as session:
            for sid, status in (("SM" + "d" * 32, DONE), ("SM" + "p" * 32, "pending")):
                session.add(InboxMessage(provider_sid=sid, sender_key="k" * 64, status=status,
                                         attempts=1, received_at=app[appkeys.CLOCK].now()
                                         - timedelta(minutes=1)))
    finally:
        await asyncio.to_thread(upgrade_sync, url)
    assert {(r.provider_sid[:3], r.sender_key) for r in await inbox_rows(client)} == {
        ("SMd", None), ("SMp", "k" * 64)}
