"""A message whose processing fails is retried, then kept for a person; never dropped."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from helpline import appkeys
from helpline.app import create_app
from helpline.clock import FrozenClock
from helpline.inbox.models import InboxMessage
from helpline.settings import Settings
from helpline.triage.lexicon import RiskLexicon
from tests.conftest import TwilioWebhooks


async def test_failing_processing_is_retried_then_kept(aiohttp_client: Any, settings: Settings,
                                                      clock: FrozenClock,
                                                      lexicon: RiskLexicon) -> None:
    """Test that a database fault while filing a text retries with backoff and keeps the text."""
    app = create_app(settings, clock=clock, lexicon=lexicon, run_workers=False)
    client = await aiohttp_client(app)
    calls = 0
    receive = app[appkeys.CONVERSATIONS].receive

    async def broken(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("database went away")
        return await receive(*args, **kwargs)

    app[appkeys.CONVERSATIONS].receive = broken  # type: ignore[method-assign]
    webhooks = TwilioWebhooks(client)
    assert (await webhooks.sms("hello")).status == 200
    worker = app[appkeys.INBOX_WORKER]
    async with app[appkeys.DB].reader() as session:
        row = (await session.execute(select(InboxMessage))).scalar_one()
    assert (row.status, row.last_error) == ("pending", "ConnectionError")
    await worker.run_once()
    assert calls == 1  # waits for its backoff
    for _ in range(3):
        clock.advance(60)
        await worker.run_once()
    async with app[appkeys.DB].reader() as session:
        row = (await session.execute(select(InboxMessage))).scalar_one()
    assert (calls, row.status) == (3, "done")


async def test_message_that_never_processes_is_kept(aiohttp_client: Any, settings: Settings,
                                                    clock: FrozenClock,
                                                    lexicon: RiskLexicon) -> None:
    """Test that after the attempt bound the text stays stored, encrypted, marked failed."""
    app = create_app(settings, clock=clock, lexicon=lexicon, run_workers=False)
    client = await aiohttp_client(app)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("database went away")

    app[appkeys.CONVERSATIONS].receive = broken  # type: ignore[method-assign]
    await TwilioWebhooks(client).sms("hello")
    for _ in range(10):
        clock.advance(600)
        await app[appkeys.INBOX_WORKER].run_once()
    async with app[appkeys.DB].reader() as session:
        row = (await session.execute(select(InboxMessage))).scalar_one()
    assert row.status == "failed"
    assert app[appkeys.KEYS].cipher.decrypt(row.body_enc or "") == "hello"


async def test_a_fault_in_the_lexicon_stores_the_text_as_urgent(
        twilio: TwilioWebhooks, caplog: pytest.LogCaptureFixture) -> None:
    """Test that a text the lexicon fails on is stored, to be filed first, and not lost."""
    app = twilio.client.app

    def broken(text: str) -> bool:
        raise KeyError(text)  # an exception whose message quotes the text

    app[appkeys.INBOX]._is_urgent = broken
    response = await twilio.sms("they took my phone", process=False)
    assert response.status == 200
    async with app[appkeys.DB].reader() as session:
        row = (await session.execute(select(InboxMessage))).scalar_one()
    assert (row.status, row.urgent) == ("pending", True)
    assert "rating a text failed (KeyError)" in caplog.text
    assert "took my phone" not in caplog.text
