"""Shared fixtures: a migrated database per test (SQLite or PostgreSQL), keys, the real app."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from helpline import appkeys
from helpline.app import create_app
from helpline.channels.twilio.signature import TwilioSignature
from helpline.clock import FrozenClock
from helpline.db import Database, inbox_path
from helpline.keys import generate_encryption_key, generate_pseudonym_key
from helpline.migrate import upgrade_sync
from helpline.models import Base
from helpline.outbox.providers import LoopbackProvider
from helpline.settings import SenderSettings, Settings
from helpline.triage.lexicon import RiskLexicon
from tests.fakes.twilio_api import FakeTwilioApi, start_fake_twilio

REPO = Path(__file__).resolve().parents[1]
PUBLIC_URL = "https://helpline.example.org"
AUTH_TOKEN = "test-auth-token-not-real"
TEXTER = "+447700900123"  # UK drama range
TEXTER_NATIONAL = "07700 900123"

POSTGRES_URL = os.environ.get("HELPLINE_TEST_DATABASE_URL")


class Ticks:
    """A monotonic clock (seconds, as ``time.monotonic``) that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        """Return the current tick."""
        return self.now


def pytest_report_header() -> str:
    """Say which database the suite runs on."""
    return f"helpline database: {'postgresql' if POSTGRES_URL else 'sqlite'}"


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate one database for the whole run (a SQLite file or a throw-away PG database)."""
    if POSTGRES_URL:
        name = f"helpline_test_{uuid.uuid4().hex[:12]}"
        admin = make_url(POSTGRES_URL).set(drivername="postgresql")
        _pg_admin(admin, f'CREATE DATABASE "{name}"')
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        try:
            upgrade_sync(url)
            yield url
        finally:
            _pg_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = tmp_path_factory.mktemp("template") / "helpline.db"
        upgrade_sync(f"sqlite+aiosqlite:///{path}")
        yield str(path)


def _pg_admin(url: Any, statement: str) -> None:
    import asyncio

    async def run() -> None:
        conn = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username,
            password=url.password, database=url.database or "postgres",
        )
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
async def database_url(_migrated_template: str, tmp_path: Path) -> AsyncIterator[str]:
    """Return the URL of a migrated, empty database for this test."""
    if POSTGRES_URL:
        yield _migrated_template
        db = Database(_migrated_template)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        async with db.transaction() as session:
            await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await db.dispose()
    else:
        path = tmp_path / "helpline.db"
        shutil.copyfile(_migrated_template, path)
        shutil.copyfile(inbox_path(_migrated_template), inbox_path(str(path)))
        yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def aiohttp_client(database_url: str, aiohttp_client: Any) -> Any:
    """Return pytest-aiohttp's factory, set up after the database so apps close before it.

    Otherwise a test's running workers could still hold locks while the database is
    emptied for the next test.
    """
    return aiohttp_client


@pytest.fixture(scope="session")
def lexicon() -> RiskLexicon:
    """Return the shipped risk lexicon, loaded once for the whole run."""
    return RiskLexicon.load(REPO / "config" / "lexicon")


@pytest.fixture
def clock() -> FrozenClock:
    """Return a clock that moves only when a test moves it."""
    return FrozenClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Return settings for a test: its own database, keys and var dir, no Twilio."""
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        public_url=PUBLIC_URL,
        encryption_keys=generate_encryption_key(),
        pseudonym_keys=generate_pseudonym_key(1),
        twilio_auth_token=AUTH_TOKEN,
        flows_dir=REPO / "flows",
        lexicon_dir=REPO / "config" / "lexicon",
        opening_hours_file=REPO / "config" / "opening_hours.yaml",
        rota_file=REPO / "config" / "rota.yaml",
        escalation_file=REPO / "config" / "escalation.yaml",
    )


def point_cli_at(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ``helpline`` commands run in a test at ``settings``' database and keys."""
    monkeypatch.setenv("HELPLINE_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("HELPLINE_ENCRYPTION_KEYS", settings.encryption_keys.get_secret_value())
    monkeypatch.setenv("HELPLINE_PSEUDONYM_KEYS", settings.pseudonym_keys.get_secret_value())
    monkeypatch.setenv("HELPLINE_VAR_DIR", str(settings.var_dir))


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """Return a Database on the test's database, for inspecting what the app stored."""
    database = Database(settings.effective_database_url)
    yield database
    await database.dispose()


@pytest.fixture
def loopback(clock: FrozenClock) -> LoopbackProvider:
    """Return the loopback provider the app sends through."""
    return LoopbackProvider(clock=clock)


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, clock: FrozenClock,
                 loopback: LoopbackProvider, lexicon: RiskLexicon) -> TestClient:
    """Return a test client for the real app, its sender driven by the test."""
    app = create_app(settings, clock=clock, provider=loopback, lexicon=lexicon,
                     run_workers=False)
    return await aiohttp_client(app)


class TwilioWebhooks:
    """Sign and post webhooks the way Twilio does."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.signature = TwilioSignature(auth_token=AUTH_TOKEN, public_url=PUBLIC_URL,
                                         trust_proxy_headers=False)

    def next_sid(self) -> str:
        """Return a fresh MessageSid, unique across helpers."""
        return f"SM{uuid.uuid4().hex}"

    async def post(self, path: str, params: dict[str, str], *, signature: str | None = None,
                   headers: dict[str, str] | None = None) -> Any:
        """Post a signed form to ``path`` and return the response."""
        sig = signature if signature is not None else self.signature.sign(PUBLIC_URL + path, params)
        return await self.client.post(
            path, data=params, headers={"X-Twilio-Signature": sig, **(headers or {})}
        )

    async def sms(self, body: str, *, sender: str = TEXTER, sid: str | None = None,
                  process: bool = True, **extra: str) -> Any:
        """Post an inbound SMS, let the inbox worker process it, and return the response."""
        params = {"MessageSid": sid or self.next_sid(), "AccountSid": "AC" + "0" * 32,
                  "From": sender, "To": "+447700900999", "Body": body, "NumMedia": "0", **extra}
        response = await self.post("/twilio/sms", params)
        if process:
            await self.client.app[appkeys.INBOX_WORKER].run_once()
        return response


@pytest.fixture
def twilio(client: TestClient) -> TwilioWebhooks:
    """Return a helper that posts signed Twilio webhooks to the app."""
    return TwilioWebhooks(client)


ACCOUNT = "ACfakeaccountfortests"


@pytest.fixture
async def fake_twilio(settings: Settings) -> AsyncIterator[tuple[FakeTwilioApi, str]]:
    """Run the fake Twilio API on loopback and yield it with its base URL."""
    api = FakeTwilioApi(account_sid=ACCOUNT, auth_token=settings.auth_token)
    server = await start_fake_twilio(api)
    yield api, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def twilio_client(aiohttp_client: Any, settings: Settings, clock: FrozenClock,
                        fake_twilio: tuple[FakeTwilioApi, str],
                        lexicon: RiskLexicon) -> TestClient:
    """Return the real app configured with Twilio credentials and the fake's URL."""
    _, url = fake_twilio
    configured = settings.model_copy(update={
        "twilio_account_sid": ACCOUNT,
        "twilio_from": "+447700900999",
        "twilio_api_url": url,
        "sender": SenderSettings(max_attempts=4, backoff_base_seconds=1, backoff_max_seconds=10),
    })
    app = create_app(configured, clock=clock, lexicon=lexicon, run_workers=False)
    return await aiohttp_client(app)


@pytest.fixture
def webhooks(twilio_client: TestClient) -> TwilioWebhooks:
    """Return a webhook poster for the Twilio-configured app."""
    return TwilioWebhooks(twilio_client)
