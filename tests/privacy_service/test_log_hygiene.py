"""With every logger at DEBUG, no number and no message text reaches the logs."""

from __future__ import annotations

import logging

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from helpline import appkeys
from helpline.conversations.models import Conversation
from helpline.privacy.retention import close_inactive, purge
from helpline.routing.models import Alert
from helpline.routing.replies import reply_as_volunteer
from helpline.users.models import User
from tests.routing_service.conftest import PHONES
from tests.service.helpers import Texter

CHILD = "+447700900123"
CHILD_FORMS = ["+447700900123", "447700900123", "07700900123", "07700 900123",
               "07700 900 123", "+44 7700 900123", "7700900123"]
TEXTS = ["they took my passport and say i owe them", "no", "pls dont call my foster carer",
         "Are you somewhere you can talk safely right now?"]


def volunteer_forms() -> list[str]:
    """Return the volunteers' page phones in the same formats."""
    forms = []
    for e164 in PHONES.values():
        national = "0" + e164[3:]
        forms += [e164, e164[1:], national, f"{national[:5]} {national[5:]}"]
    return forms


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every logger at DEBUG: our own, the twilio SDK, aiohttp, SQLAlchemy."""
    caplog.set_level(logging.DEBUG)
    for name in [*logging.root.manager.loggerDict, "twilio", "aiohttp.access",
                 "sqlalchemy.engine", "aiosqlite", "asyncio"]:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


async def test_whole_service_logs_no_number_and_no_text(
    client: TestClient, texter: Texter, staff: dict[str, User],
    every_logger_at_debug: pytest.LogCaptureFixture,
) -> None:
    """Test a conversation, a page, an ACK, a volunteer reply and a purge log nothing secret."""
    app = client.app
    await texter.send("hi")
    for text in TEXTS[:3]:
        await texter.send(text)
    async with app[appkeys.DB].reader() as session:
        alert = (await session.execute(select(Alert))).scalar_one()  # the page went out
    await texter.webhooks.sms(f"ACK {alert.id}", sender=PHONES["vol-amira"])
    async with app[appkeys.DB].transaction() as session:
        conversation = await session.get_one(Conversation, (await texter.conversation()).id)
        user = await session.get_one(User, staff["vol-amira"].id)
        await reply_as_volunteer(session, service=app[appkeys.CONVERSATIONS],
                                 alerts=app[appkeys.ALERTS], conversation=conversation,
                                 user=user, text=TEXTS[3], now=texter.clock.now())
    await texter.received()
    texter.clock.advance(days=400)
    await close_inactive(app[appkeys.DB], policy=app[appkeys.SETTINGS].retention,
                         now=texter.clock.now())
    await purge(app[appkeys.DB], policy=app[appkeys.SETTINGS].retention, now=texter.clock.now())
    logged = every_logger_at_debug.text + "\n".join(every_logger_at_debug.messages)
    assert len(logged) > 10_000  # DEBUG really was on everywhere
    texts = [t for t in TEXTS if len(t) > 2]  # "no" is inside too many words to search for
    secrets = CHILD_FORMS + volunteer_forms() + texts + ["passport", "foster carer"]
    assert [s for s in secrets if s in logged] == []
