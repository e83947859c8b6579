"""The inbox remembers a recent sender's derived values briefly, and never their number."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import select

from helpline import app as app_module
from helpline import appkeys
from helpline.db import Database
from helpline.inbox.models import InboxMessage
from helpline.inbox.senders import RecentSenders, Sender
from tests.conftest import TEXTER, Ticks, TwilioWebhooks

SENDER = Sender(address_enc="gAAAA-token", sender_key="k" * 64)


def test_a_sender_is_remembered_for_its_window_only() -> None:
    """Test that an entry is found within ``seconds`` and forgotten after, however used."""
    ticks = Ticks()
    senders = RecentSenders(seconds=600, clock=ticks)
    senders.put(TEXTER, SENDER)
    ticks.now = 599
    assert senders.get(TEXTER) == SENDER
    ticks.now = 601  # a hit does not extend the entry's life
    assert senders.get(TEXTER) is None
    assert len(senders) == 0


def test_the_oldest_go_first_beyond_the_size() -> None:
    """Test that the cache keeps ``size`` entries, dropping the one made first."""
    senders = RecentSenders(size=2)
    for number in ("+447700900001", "+447700900002"):
        senders.put(number, SENDER)
    assert senders.get("+447700900001") == SENDER  # a hit does not make it younger
    senders.put("+447700900003", SENDER)
    assert senders.get("+447700900001") is None
    assert senders.get("+447700900002") == senders.get("+447700900003") == SENDER


def test_an_entry_leaves_in_time_without_being_asked_for() -> None:
    """Test that expired entries go at the next put, or the sweep, with no lookup of them."""
    ticks = Ticks()
    senders = RecentSenders(seconds=600, clock=ticks)
    senders.put("+447700900001", SENDER)
    ticks.now = 300
    senders.put("+447700900002", SENDER)
    ticks.now = 601
    senders.put("+447700900003", SENDER)
    assert len(senders) == 2  # the first, made 601 s ago, is gone
    ticks.now = 1202
    senders.forget_expired()
    assert len(senders) == 0


@pytest.fixture
def forgetting_often(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the app's minute of forgetting 10 ms (before the app starts)."""
    monkeypatch.setattr(app_module, "FORGET_SECONDS", 0.01)


async def test_a_quiet_line_sweeps_the_recent_senders(forgetting_often: None,
                                                      twilio: TwilioWebhooks) -> None:
    """Test that the app drops expired senders while no text arrives."""
    inbox = twilio.client.app[appkeys.INBOX]
    ticks = Ticks()
    inbox._senders = RecentSenders(seconds=600, clock=ticks)
    await twilio.sms("hello", process=False)
    await asyncio.sleep(0.05)
    assert len(inbox._senders) == 1
    ticks.now = 601
    await asyncio.sleep(0.1)
    assert len(inbox._senders) == 0


def test_no_number_is_held_in_memory() -> None:
    """Test that entries are found by a digest under this instance's own key, not the number.

    An unkeyed hash of a UK mobile number can be reversed by trying every number.
    """
    first, second = RecentSenders(), RecentSenders()
    for senders in (first, second):
        senders.put(TEXTER, SENDER)
    keys = list(first._entries) + list(second._entries)
    unkeyed = {hashlib.blake2b(TEXTER.encode(), digest_size=32).digest(),
               hashlib.sha256(TEXTER.encode()).digest()}
    assert all(len(key) == 32 for key in keys) and keys[0] != keys[1]
    assert not unkeyed & set(keys)
    assert all(TEXTER.encode() not in key and TEXTER[3:].encode() not in key for key in keys)


async def test_a_texters_next_text_reuses_their_address_token(twilio: TwilioWebhooks,
                                                              db: Database) -> None:
    """Test that two texts of one sender share one reply-address token; another's differs."""
    await twilio.sms("hello", process=False)
    await twilio.sms("are you there", process=False)
    await twilio.sms("hi", sender="+447700900321", process=False)
    async with db.reader() as session:
        rows = (await session.execute(select(InboxMessage.address_enc, InboxMessage.sender_key)
                                      .order_by(InboxMessage.id))).all()
    assert rows[0] == rows[1]
    assert rows[2].address_enc != rows[0].address_enc
    assert rows[2].sender_key != rows[0].sender_key


async def test_a_busy_writer_sweeps_the_recent_senders_too(twilio: TwilioWebhooks) -> None:
    """Test that texts from a sender still remembered let another's expired entry go."""
    inbox = twilio.client.app[appkeys.INBOX]
    ticks = Ticks()
    inbox._senders = RecentSenders(seconds=600, clock=ticks)
    await twilio.sms("hello", sender="+447700900001", process=False)
    ticks.now = 300
    await twilio.sms("hi", sender="+447700900002", process=False)
    ticks.now = 601
    await twilio.sms("still there?", sender="+447700900002", process=False)  # a hit
    assert len(inbox._senders) == 1
