"""After a whole conversation, no number or message text is in the database or the logs."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.engine import make_url

from helpline import appkeys
from helpline.clock import FrozenClock
from helpline.db import Database, inbox_path
from helpline.settings import Settings
from tests.conftest import POSTGRES_URL, TEXTER, TwilioWebhooks
from tests.fakes.twilio_api import FakeTwilioApi

# Every common way of writing the texter's number (UK drama range).
NUMBER_FORMS = ["+447700900123", "447700900123", "07700900123", "07700 900123",
                "07700 900 123", "+44 7700 900123", "+44 7700 900 123", "7700900123"]
TEXTS = [
    "my foster placement in Wolverhampton broke down last night",
    "i am sleeping at a friend of my cousin, he wants money",
    "please dont tell the social worker yet",
]
DISTINCT_WORDS = ["Wolverhampton", "cousin", "social worker"]


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every logger at DEBUG, the twilio SDK and aiohttp included."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


async def whole_conversation(webhooks: TwilioWebhooks, client: TestClient,
                             clock: FrozenClock) -> None:
    """Text the service several times, deliver every reply, and post status callbacks."""
    for text in TEXTS:
        assert (await webhooks.sms(text)).status == 200
        clock.advance(30)
    sender = client.app[appkeys.SENDER]
    for _ in range(3):
        await sender.run_once()
    await webhooks.post("/twilio/status", {"MessageSid": "SM" + "0" * 31 + "1",
                                           "MessageStatus": "delivered", "To": TEXTER})


def leaks(blob: str) -> list[str]:
    """Return every number form or message text found in ``blob``."""
    return [s for s in NUMBER_FORMS + TEXTS + DISTINCT_WORDS if s in blob]


async def test_database_and_logs_hold_no_number_or_text(
    twilio_client: TestClient, clock: FrozenClock, settings: Settings,
    fake_twilio: tuple[FakeTwilioApi, str], all_logs: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """Test that the raw database (file and WAL, or pg_dump) and DEBUG logs hold no secrets."""
    api, _ = fake_twilio
    webhooks = TwilioWebhooks(twilio_client)
    await whole_conversation(webhooks, twilio_client, clock)
    assert len(api.delivered) >= 2  # the replies really went out through the SDK
    assert leaks("\n".join(all_logs.messages) + all_logs.text) == []
    assert leaks(database_dump(settings, tmp_path)) == []


def database_dump(settings: Settings, tmp_path: Path) -> str:
    """Return the raw bytes of the SQLite files (main and inbox) and their WALs, or a pg_dump."""
    url = make_url(settings.effective_database_url)
    if url.drivername.startswith("sqlite"):
        files = [Path(url.database or ""), Path(inbox_path(url.database or ""))]
        assert all(p.exists() for p in files), "a database file is missing"
        blobs = [p.read_bytes() for f in files for p in (f, Path(f"{f}-wal")) if p.exists()]
        return b"".join(blobs).decode("utf-8", errors="replace")
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    dump = subprocess.run(  # noqa: S603 - fixed arguments
        ["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),  # noqa: S607
         "-U", url.username or "postgres", "--data-only", url.database or ""],
        capture_output=True, check=True, env=env,
    )
    return dump.stdout.decode("utf-8", errors="replace")


async def test_bodies_are_readable_with_the_key(twilio: TwilioWebhooks, db: Database,
                                                client: TestClient) -> None:
    """Test that the stored body is ciphertext that decrypts back to the text (not a hash)."""
    from sqlalchemy import select

    from helpline.conversations.models import Message

    await twilio.sms(TEXTS[0])
    async with db.reader() as session:
        stored = (await session.execute(
            select(Message.body_enc).where(Message.direction == "in"))).scalar_one()
    assert TEXTS[0] not in stored
    assert client.app[appkeys.KEYS].cipher.decrypt(stored) == TEXTS[0]


@pytest.mark.skipif(not POSTGRES_URL, reason="checks the PostgreSQL dump; SQLite checked above")
def test_postgres_dump_tool_is_available() -> None:
    """Test that pg_dump exists where the PostgreSQL suite runs, so the dump check is real."""
    assert subprocess.run(["pg_dump", "--version"], capture_output=True,  # noqa: S607
                          check=False).returncode == 0
