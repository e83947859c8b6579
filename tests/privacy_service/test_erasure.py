"""Erasure of one contact's content, on request, by a supervisor; audited without content."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from helpline import appkeys
from helpline.audit.models import AuditEvent
from helpline.cli import main
from helpline.conversations.models import Contact, Message
from helpline.privacy.erasure import ErasureError, erase_contact
from helpline.settings import Settings
from helpline.users.models import User
from tests.conftest import point_cli_at
from tests.service.helpers import Texter


async def erase_as(client: TestClient, texter: Texter, user_id: int, reason: str) -> object:
    """Erase the texter's content as a user."""
    app = client.app
    async with app[appkeys.DB].transaction() as session:
        user = await session.get_one(User, user_id)
        return await erase_contact(session, contact_id=(await texter.contact()).id, by=user,
                                   reason=reason, now=texter.clock.now(),
                                   keys=app[appkeys.KEYS])


async def test_supervisor_erases_every_body_and_the_link(client: TestClient, texter: Texter,
                                                         staff: dict[str, User]) -> None:
    """Test that erasure removes bodies, answers, address and cuts the pseudonym link."""
    await texter.send("hi")
    await texter.send("my name is on the letter from the home office")
    report = await erase_as(client, texter, staff["sup-dana"].id, "young person asked")
    assert report.message_bodies >= 3
    async with client.app[appkeys.DB].reader() as session:
        assert set((await session.execute(select(Message.body_enc))).scalars()) == {None}
        contact = (await session.execute(select(Contact))).scalar_one()
        event = (await session.execute(select(AuditEvent).where(
            AuditEvent.action == "contact.erased"))).scalar_one()
    assert contact.address_enc is None and contact.pseudonym.startswith("cut:")
    assert event.actor == f"user:{staff['sup-dana'].id}"
    assert "home office" not in str(event.details)


async def test_volunteer_may_not_erase(client: TestClient, texter: Texter,
                                       staff: dict[str, User]) -> None:
    """Test that a volunteer's erasure is refused and nothing changes."""
    await texter.send("hi")
    with pytest.raises(ErasureError, match="supervisor or admin"):
        await erase_as(client, texter, staff["vol-amira"].id, "asked")
    async with client.app[appkeys.DB].reader() as session:
        assert None not in set((await session.execute(select(Message.body_enc))).scalars())


async def test_erase_from_the_command_line(client: TestClient, texter: Texter,
                                           staff: dict[str, User], routing_settings: Settings,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Test that `helpline erase --conversation ID --by LOGIN --reason` erases and says so."""
    await texter.send("hi")
    conversation = await texter.conversation()
    point_cli_at(routing_settings, monkeypatch)
    code = await asyncio.to_thread(main, ["erase", "--conversation", str(conversation.id),
                                          "--by", "sup-dana", "--reason", "request by phone"])
    assert code == 0, capsys.readouterr().err
    assert f"erased contact {conversation.contact_id}" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["erase", "--number", "07700 900999", "--by",
                                          "sup-dana", "--reason", "x"]) == 1
