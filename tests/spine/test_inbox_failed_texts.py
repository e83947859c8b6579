"""A text the worker could not file is shown to a person, and handed back once fixed."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

import pytest
from sqlalchemy import select

from helpline import appkeys
from helpline.cli import main
from helpline.clock import FrozenClock
from helpline.conversations.models import Message
from helpline.inbox.models import InboxMessage
from helpline.privacy.retention import purge
from helpline.settings import Settings
from tests.conftest import TEXTER, TwilioWebhooks, point_cli_at

TEXT = "he took my phone and i cant leave"


async def _fail_to_file(twilio: TwilioWebhooks, clock: FrozenClock) -> Any:
    """Send ``TEXT`` while filing always fails, until the worker keeps it as failed."""
    conversations = twilio.client.app[appkeys.CONVERSATIONS]
    receive = conversations.receive

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("database went away")

    conversations.receive = broken  # type: ignore[method-assign]
    await twilio.sms(TEXT)
    for _ in range(10):
        clock.advance(600)
        await twilio.client.app[appkeys.INBOX_WORKER].run_once()
    return receive


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the command line at the test's database and keys."""
    point_cli_at(settings, monkeypatch)


async def test_health_asks_for_attention_while_a_text_is_failed(twilio: TwilioWebhooks,
                                                                clock: FrozenClock) -> None:
    """Test that /healthz still answers 200 but says a failed text waits for a person."""
    await _fail_to_file(twilio, clock)
    response = await twilio.client.get("/healthz")
    assert response.status == HTTPStatus.OK
    assert await response.json() == {"status": "attention", "database": "ok",
                                     "inbox": {"pending": 0, "failed": 1}}


async def test_a_person_sees_a_failed_text_and_hands_it_back(
        twilio: TwilioWebhooks, clock: FrozenClock, cli_env: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Test `inbox show` (no content, no number) and `inbox retry`, after which it is filed."""
    receive = await _fail_to_file(twilio, clock)
    async with twilio.client.app[appkeys.DB].reader() as session:
        inbox_id = (await session.execute(select(InboxMessage.id))).scalar_one()

    assert await asyncio.to_thread(main, ["inbox", "show"]) == 0
    shown = capsys.readouterr().out
    assert "failed, content kept: 1" in shown
    assert f"{inbox_id}  received" in shown and "URGENT" in shown
    assert "ConnectionError" in shown
    assert TEXT not in shown and TEXTER[-6:] not in shown

    assert await asyncio.to_thread(main, ["inbox", "retry", str(inbox_id + 1)]) == 1
    assert await asyncio.to_thread(main, ["inbox", "retry"]) == 1
    capsys.readouterr()
    twilio.client.app[appkeys.CONVERSATIONS].receive = receive  # the cause is fixed
    assert await asyncio.to_thread(main, ["inbox", "retry", str(inbox_id)]) == 0
    assert "handed back to the worker: 1" in capsys.readouterr().out
    await twilio.client.app[appkeys.INBOX_WORKER].run_once()

    cipher = twilio.client.app[appkeys.KEYS].cipher
    async with twilio.client.app[appkeys.DB].reader() as session:
        status = (await session.execute(select(InboxMessage.status))).scalar_one()
        bodies = (await session.execute(select(Message.body_enc).where(
            Message.direction == "in"))).scalars().all()
    assert status == "done"
    assert [cipher.decrypt(b) for b in bodies] == [TEXT]
    response = await twilio.client.get("/healthz")
    assert (await response.json())["status"] == "ok"


async def test_a_failed_text_retention_emptied_needs_no_attention(
        twilio: TwilioWebhooks, clock: FrozenClock) -> None:
    """Test that health stops asking for attention once retention deleted the content."""
    await _fail_to_file(twilio, clock)
    clock.advance(days=31)
    app = twilio.client.app
    await purge(app[appkeys.DB], policy=app[appkeys.SETTINGS].retention, now=clock.now())
    response = await twilio.client.get("/healthz")
    assert (await response.json())["status"] == "ok"
