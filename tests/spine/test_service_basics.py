"""Health, start-up checks, the command line, SQLite pragmas and the development pages."""

from __future__ import annotations

import gc
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from helpline.app import SchemaNotReady, create_app
from helpline.cli import main
from helpline.cli.serve import serving_app
from helpline.db import Database, DatabaseConfigError
from helpline.outbox.providers import LoopbackProvider
from helpline.settings import Settings
from tests.conftest import POSTGRES_URL, TwilioWebhooks


async def test_health_reports_database_ok(client: TestClient) -> None:
    """Test that /healthz answers 200 with the database reachable."""
    response = await client.get("/healthz")
    assert response.status == HTTPStatus.OK
    assert await response.json() == {"status": "ok", "database": "ok",
                                     "inbox": {"pending": 0, "failed": 0}}


async def test_unmigrated_database_refuses_to_start(settings: Settings, tmp_path: Path) -> None:
    """Test that the app will not serve on a database that was never migrated."""
    from aiohttp import web

    fresh = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/empty.db"})
    runner = web.AppRunner(create_app(fresh))
    try:
        with pytest.raises(SchemaNotReady, match="helpline db upgrade"):
            await runner.setup()
    finally:
        await runner.cleanup()


def test_unsupported_database_url_is_explained() -> None:
    """Test that a URL for an unsupported database names the supported ones."""
    with pytest.raises(DatabaseConfigError, match="postgresql"):
        Database("mysql://root@localhost/test")


@pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite pragmas")
async def test_sqlite_runs_in_wal_with_foreign_keys(db: Database) -> None:
    """Test that SQLite connections use WAL and foreign keys, and never block on a lock.

    SQLite runs on the event loop's thread, so its own busy timeout must be 0: waiting for
    another process's lock happens in asynchronous retries instead.
    """
    async with db.reader() as session:
        mode = (await session.execute(text("PRAGMA journal_mode"))).scalar_one()
        fks = (await session.execute(text("PRAGMA foreign_keys"))).scalar_one()
        busy = (await session.execute(text("PRAGMA busy_timeout"))).scalar_one()
    assert (mode, fks, busy) == ("wal", 1, 0)


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that `helpline --help` lists serve and db."""
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "serve" in out
    assert "db" in out


def test_python_dash_m_works() -> None:
    """Test that `python -m helpline --help` runs the same command line."""
    result = subprocess.run([sys.executable, "-m", "helpline", "--help"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "serve" in result.stdout


async def test_simulator_page_texts_the_service(client: TestClient,
                                                loopback: LoopbackProvider) -> None:
    """Test that the development simulator sends a text and shows the masked reply."""
    response = await client.post("/dev/send", data={"from": "07700 900456", "body": "hi"})
    assert response.status == HTTPStatus.OK  # followed the redirect back to the page
    from helpline import appkeys

    await client.app[appkeys.SENDER].run_once()
    page = await (await client.get("/dev/")).text()
    assert "free and confidential" in page
    assert "900456" not in page  # the number is masked
    assert "•••456 (sms)" in page


async def test_simulator_page_is_absent_in_production(aiohttp_client: Any,
                                                      settings: Settings) -> None:
    """Test that production serves no development pages."""
    prod = settings.model_copy(update={"env": "production"})
    client = await aiohttp_client(create_app(prod, run_workers=False))
    assert (await client.get("/dev/")).status == HTTPStatus.NOT_FOUND


async def test_inbound_answers_while_twilio_hangs(aiohttp_client: Any, settings: Settings,
                                                  twilio: TwilioWebhooks) -> None:
    """Test that a provider that never answers does not hold up the webhook."""
    import asyncio

    class Hanging:
        async def send(self, **_: Any) -> str:
            await asyncio.Event().wait()
            return ""

        async def close(self) -> None:
            pass

    client = await aiohttp_client(create_app(settings, provider=Hanging()))
    hooks = TwilioWebhooks(client)
    async with asyncio.timeout(5):
        response = await hooks.sms("hello")
    assert response.status == HTTPStatus.OK


async def test_start_up_objects_are_kept_from_the_collector(aiohttp_client: Any,
                                                            settings: Settings) -> None:
    """Test that the app ``serve`` runs freezes what start-up built, once start-up is done."""
    gc.unfreeze()
    try:
        app = serving_app(settings, web_only=True)
        assert gc.get_freeze_count() == 0
        await aiohttp_client(app)  # runs the app's start-up, as web.run_app does
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the test process keeps collecting as usual
