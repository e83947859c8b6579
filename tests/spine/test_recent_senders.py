"""The inbox remembers a recent sender's derived values briefly, and never their number."""

from __future__ import annotations

from sqlalchemy import select

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


def test_the_least_recently_used_go_first_beyond_the_size() -> None:
    """Test that the cache keeps ``size`` entries, dropping the one unused longest."""
    senders = RecentSenders(size=2)
    for number in ("+447700900001", "+447700900002"):
        senders.put(number, SENDER)
    assert senders.get("+447700900001") == SENDER
    senders.put("+447700900003", SENDER)
    assert senders.get("+447700900002") is None
    assert senders.get("+447700900001") == senders.get("+447700900003") == SENDER


def test_no_number_is_held_in_memory() -> None:
    """Test that entries are found by a digest under this instance's own key, not the number."""
    first, second = RecentSenders(), RecentSenders()
    for senders in (first, second):
        senders.put(TEXTER, SENDER)
    keys = list(first._entries) + list(second._entries)
    held = b"".join(keys) + repr(list(first._entries.values())).encode()
    assert all(len(key) == 32 for key in keys) and keys[0] != keys[1]
    assert TEXTER.encode() not in held and TEXTER[3:].encode() not in held


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
